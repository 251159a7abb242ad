"""Admission of one room-service process under overload: the reactor's lag, measured on the
injected clock, fed to the pure :class:`~kasagi.core.admission.AdmissionControl`.

:class:`Admission` samples the lag every ``SAMPLE_EVERY`` seconds (how late a timer set for
that moment fires: the time every message read in that turn waited), stretches the rooms'
commit tick with it and, past the bound, refuses actions with ``kasagi.error.rate_limited``
and a ``retry_after`` to their sender only -- before the action is parsed or applied. The
runner tells it of every action acknowledged (:meth:`Admission.acked`). The
rules are the core's; this module only measures and raises.
"""

from __future__ import annotations

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from kasagi.core.admission import AdmissionControl, AdmissionLimits, Refusal
from kasagi.core.errors import RateLimited

__all__ = ["SAMPLE_EVERY", "Admission", "running"]

#: Seconds between two reactor lag samples.
SAMPLE_EVERY = 0.02

#: The admissions started in this process (the router's early refusal asks the first one).
_RUNNING: list[Admission] = []


def running() -> Admission | None:
    """The admission of this process's room service, if one runs here (a single node runs
    its room service inside the router worker)."""
    return _RUNNING[0] if _RUNNING else None


_WHY = {
    "backlog": "the room service is far behind; retry later",
    "lag": "the room service is overloaded; retry later",
    "delay": "the room service's actions wait too long for their commit; retry later",
    "in_flight": "the room service has too many actions waiting for their commit; retry later",
    "room_pending": "the room has too many actions waiting for its next commit; retry later",
}


class Admission:
    """Process-wide admission: start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, clock: IReactorTime, limits: AdmissionLimits | None = None) -> None:
        self._clock = clock
        self.control = AdmissionControl(limits)
        self._timer: IDelayedCall | None = None
        self._due = 0.0
        #: The largest lag sample seen (seconds), for metrics and the bench.
        self.max_lag = 0.0

    @property
    def limits(self) -> AdmissionLimits:
        return self.control.limits

    def start(self) -> None:
        if self._timer is None:
            self._schedule()
        if self not in _RUNNING:
            _RUNNING.append(self)

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self in _RUNNING:
            _RUNNING.remove(self)

    def _schedule(self) -> None:
        self._due = self._clock.seconds() + SAMPLE_EVERY
        self._timer = self._clock.callLater(SAMPLE_EVERY, self._sample)

    def _sample(self) -> None:
        lag = self._clock.seconds() - self._due
        self.max_lag = max(self.max_lag, lag)
        self.control.sample(lag, self._clock.seconds())
        self._schedule()

    def tick(self) -> float:
        """The commit tick of a busy room now, seconds."""
        return self.control.tick()

    def check(self, room: str, room_pending: int) -> None:
        """Raise ``RateLimited`` (with ``retry_after``) when an action of ``room`` is not
        admitted now."""
        refusal = self.control.admit(room_pending)
        if refusal is not None:
            raise self._error(refusal)

    def refuse_backlogged(self) -> RateLimited | None:
        """The refusal of an action now if the process is backlogged (decided before the
        call is routed), else None."""
        refusal = self.control.refuse_backlogged()
        return self._error(refusal) if refusal is not None else None

    def _error(self, refusal: Refusal) -> RateLimited:
        return RateLimited(
            _WHY[refusal.reason],
            field="room" if refusal.reason == "room_pending" else "service",
            expected="spare capacity",
            got=f"{refusal.reason} (standing reactor lag {self.control.standing_lag * 1000:.0f} ms, "
            f"standing delay {self.control.standing_delay * 1000:.0f} ms, "
            f"{self.control.in_flight} actions waiting, {self.control.ack_rate:.0f} acks/s)"
            if refusal.reason in ("backlog", "lag", "delay")
            else refusal.reason,
            retry_after=refusal.retry_after,
        )

    def acked(self, n: int = 1, delay: float | None = None) -> None:
        """``n`` actions were acknowledged (durable), ``delay`` seconds after they were received."""
        self.control.acked(n, delay)

    def entered(self, n: int = 1) -> None:
        """``n`` actions began waiting for their commit."""
        self.control.in_flight += n

    def left(self, n: int = 1) -> None:
        """``n`` actions were answered (committed or failed)."""
        self.control.in_flight = max(0, self.control.in_flight - n)
