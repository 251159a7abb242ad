"""Deadlines that do not depend on the operation honouring cancellation.

Autobahn's calls that are in flight when a transport drops never complete, and cancelling
them does nothing useful; a store command queued by txredisapi while Redis is down waits
forever. :func:`within` races a Deferred against a timer *without* cancelling it: the
caller gets an answer by the deadline, and a late result is dropped (logged if a failure).
"""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["DeadlineExceeded", "within"]

T = TypeVar("T")
_log = Logger()


class DeadlineExceeded(Exception):
    """The operation did not finish by its deadline; it may still happen later."""


def within(d: Deferred[T], seconds: float, clock: IReactorTime, what: str = "operation") -> Deferred[T]:
    """A Deferred that fires with ``d``'s result, or fails with :class:`DeadlineExceeded`
    after ``seconds`` -- whichever comes first. ``d`` itself is left alone."""
    result: Deferred[T] = Deferred()

    def expire() -> None:
        if not result.called:
            result.errback(Failure(DeadlineExceeded(f"{what} took longer than {seconds:g} s")))

    timer = clock.callLater(seconds, expire)

    def finish(outcome: Any) -> None:
        if timer.active():
            timer.cancel()
        if not result.called:
            result.callback(outcome) if not isinstance(outcome, Failure) else result.errback(outcome)
        elif isinstance(outcome, Failure):
            _log.debug("late failure of {what} after its deadline: {f}", what=what, f=outcome.getErrorMessage())
        return None

    d.addBoth(finish)
    return result
