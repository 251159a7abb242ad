"""Waiting on conditions with a deadline (never a sleep), for tests on a real reactor."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer, reactor


def until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> defer.Deferred[None]:
    """Fire when ``predicate()`` is true; fail after ``timeout`` seconds."""
    d: defer.Deferred[None] = defer.Deferred()
    deadline = reactor.seconds() + timeout  # type: ignore[attr-defined]

    def check() -> None:
        try:
            ok = predicate()
        except Exception as exc:  # noqa: BLE001 -- a failing probe fails the wait
            d.errback(exc)
            return
        if ok:
            d.callback(None)
        elif reactor.seconds() > deadline:  # type: ignore[attr-defined]
            d.errback(AssertionError(f"condition not met within {timeout} s"))
        else:
            reactor.callLater(interval, check)  # type: ignore[attr-defined]

    check()
    return d
