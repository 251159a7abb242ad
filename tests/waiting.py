"""Waiting on conditions with a deadline (never a sleep), for tests on a real reactor: the one
:func:`until` every test that waits uses."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer, reactor
from twisted.python.failure import Failure


def until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01, what: str = "condition"
) -> defer.Deferred[float]:
    """Fire with the seconds it took when ``predicate()`` is true; fail after ``timeout``
    seconds. ``predicate`` may return a Deferred (a condition that needs a call, such as a
    store read): its result is the answer, and the next poll waits for it."""
    d: defer.Deferred[float] = defer.Deferred()
    start = reactor.seconds()  # type: ignore[attr-defined]

    def decide(ok: object) -> None:
        if ok:
            d.callback(reactor.seconds() - start)  # type: ignore[attr-defined]
        elif reactor.seconds() - start > timeout:  # type: ignore[attr-defined]
            d.errback(AssertionError(f"{what} not met within {timeout} s"))
        else:
            reactor.callLater(interval, poll)  # type: ignore[attr-defined]

    def poll() -> None:
        try:
            answer = predicate()
        except Exception:  # noqa: BLE001 -- a predicate that fails is reported as the failure
            d.errback(Failure())
            return
        if isinstance(answer, defer.Deferred):
            answer.addCallbacks(decide, d.errback)
        else:
            decide(answer)

    poll()
    return d
