"""Admission under overload: how long a busy process's commit tick is, and which actions it
refuses (pure; the measurements and time are arguments).

A room service is overloaded when its reactor runs late (every message it reads waits that
long before anyone looks at it) or when more actions wait for their commit than it commits
in a tick plus ``overload_delay`` (a store write queue that grows: a queue the reactor's lag
does not show). :class:`AdmissionControl` hears the reactor's lag sample by sample (a smoothed value,
``lag``, which stretches the tick; and the smallest of the last ``LAG_WINDOW`` samples, the
*standing* lag, which decides refusals: one long reactor turn, such as a burst of expensive
actions, delays one sample and is over, while a process that is behind delays every sample)
and counts the actions acknowledged over the last ``RATE_WINDOW`` samples (their
rate, ``ack_rate``: long enough that group commits, which acknowledge in bursts, even out).
It also hears how long each acknowledged action waited from its arrival (the *standing delay*
is the fastest of the last ``DELAY_WINDOW`` samples that had acks): a store whose writes back
up delays every acknowledgement while the reactor itself is on time.
By Little's law the actions waiting divided by the rate at which they are acknowledged is
how long each waits: so at most ``ack_rate x (tick + overload_delay)`` actions (and never
fewer than ``MIN_WAITING``) may wait at once, and an admitted action waits about one commit
tick (the batching the process chose) plus ``overload_delay``, however fast or slow the
machine. It answers two questions:

- **How long is a commit tick now?** :meth:`AdmissionControl.tick` stretches the configured
  tick linearly with the lag, from ``tick`` at no lag to ``max_tick`` at ``overload_lag``:
  fewer, bigger events and store writes for the same actions, before anything is refused.
- **Is this action admitted?** Not while ``ack_rate x (tick + overload_delay)`` actions wait
  for their commit and the standing lag is half of ``overload_lag`` or more, or the standing
  delay half of ``overload_delay`` or more (reason ``delay``; a quiet reactor whose actions
  are acknowledged fast, with a queue, is a burst being served, not overload). And once
  the tick is at its bound and the standing lag at or above ``overload_lag``, the process sheds
  a fraction of what arrives: it grows by ``SHED_UP`` per such sample (at most
  ``MAX_SHED``), holds while the standing lag is between half of ``overload_lag`` and
  ``overload_lag``, and falls by ``SHED_DOWN`` per sample below that.
  Since a refused client waits ``retry_after`` (seconds) before it sends again, a small shed
  fraction silences many clients: at 2x the capacity, with clients sending 6 moves/s and
  waiting 2 s, refusing about 1 move in 12 halves what arrives.
  Refusals are spread evenly over the arriving actions (error diffusion, no randomness).
  A process whose standing lag is ``BACKLOG_FACTOR`` x ``overload_lag`` or more is
  *backlogged*: what it reads now waited that long already, and every action is refused
  (reason ``backlog``) until the lag falls below that -- a cheap answer to each drains the
  backlog, where serving some of them would keep it (the router refuses such calls before it
  routes them, ``router/early_refusal.py``). Two hard bounds refuse regardless of the lag:
  more than ``max_in_flight`` actions of the process waiting for their commit, or more than
  ``max_room_pending`` in one room.

A refusal carries ``retry_after``: ``retry_after`` seconds spread over 0.5x-1.5x (a
low-discrepancy sequence), so that the refused clients do not all come back at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = [
    "BACKLOG_FACTOR",
    "MAX_SHED",
    "MIN_WAITING",
    "SHED_DOWN",
    "SHED_UP",
    "AdmissionControl",
    "AdmissionLimits",
    "Refusal",
]

#: How much the shed fraction grows per lag sample at or above ``overload_lag`` ...
SHED_UP = 0.02
#: ... and falls per sample below half of it (slower: a refused client is silent a while).
SHED_DOWN = 0.005
#: At most this fraction of arriving actions is shed by lag (the rest keeps the rooms moving).
MAX_SHED = 0.95
#: A standing lag of this many times ``overload_lag`` is a backlog: every action is refused.
BACKLOG_FACTOR = 4.0
#: How much of each new lag sample the smoothed lag takes.
LAG_WEIGHT = 0.25
#: Samples over which the smallest lag is the standing lag (5 x 20 ms when on time).
LAG_WINDOW = 5
#: Samples (each with acks) over which the smallest ack delay is the standing delay.
DELAY_WINDOW = 5
#: Samples over which the ack rate is counted (25 x 20 ms: half a second).
RATE_WINDOW = 25
#: However slow the acks, this many actions may always wait for their commit (a process
#: whose load has just risen has not acknowledged much yet).
MIN_WAITING = 50
#: The golden ratio's fraction: successive multiples are evenly spread over [0, 1).
_SPREAD = 0.6180339887498949


@dataclass(frozen=True)
class AdmissionLimits:
    """The bounds of admission (``docs/protocol.md``, Overload)."""

    #: The commit tick of a room at no load, seconds.
    tick: float = 0.02
    #: The longest a busy process stretches it to, seconds.
    max_tick: float = 0.05
    #: Reactor lag (seconds) at which the tick reaches ``max_tick`` and shedding begins.
    overload_lag: float = 0.04
    #: Seconds of commits that may wait beyond a tick: at most ack rate x (tick + this) actions
    #: wait for their commit (0: no such bound).
    overload_delay: float = 0.03
    #: Most actions of the process waiting for their commit (0: no bound).
    max_in_flight: int = 5000
    #: Most actions waiting in one room's next batch (0: no bound).
    max_room_pending: int = 1000
    #: The middle of the ``retry_after`` a refusal carries, seconds.
    retry_after: float = 2.0

    def __post_init__(self) -> None:
        if self.tick < 0 or self.max_tick < self.tick:
            raise ValueError("admission: need 0 <= tick <= max_tick")
        if self.overload_lag <= 0 or self.retry_after <= 0:
            raise ValueError("admission: overload_lag and retry_after must be > 0")
        if self.overload_delay < 0:
            raise ValueError("admission: overload_delay must be >= 0")
        if self.max_in_flight < 0 or self.max_room_pending < 0:
            raise ValueError("admission: max_in_flight and max_room_pending must be >= 0")


@dataclass(frozen=True)
class Refusal:
    """Why an action was not admitted, and when its sender may try again."""

    reason: str
    retry_after: float


class AdmissionControl:
    """The admission state of one process (see the module docstring)."""

    def __init__(self, limits: AdmissionLimits | None = None) -> None:
        self.limits = limits or AdmissionLimits()
        #: The smoothed reactor lag, seconds (it stretches the tick) ...
        self.lag = 0.0
        #: ... and the smallest of the last LAG_WINDOW samples (it decides refusals).
        self.standing_lag = 0.0
        self._lags: deque[float] = deque(maxlen=LAG_WINDOW)
        #: The standing delay: of the last DELAY_WINDOW samples with acks, the smallest delay
        #: (received -> acknowledged, seconds) of an action acknowledged in it.
        self.standing_delay = 0.0
        self._delays: deque[float] = deque(maxlen=DELAY_WINDOW)
        self._least_delay: float | None = None
        #: The rate of acknowledged actions over the last RATE_WINDOW samples, per second.
        self.ack_rate = 0.0
        self._acks = 0
        self._window: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW + 1)
        #: The fraction of arriving actions refused because of the lag.
        self.shed = 0.0
        #: Actions accepted and waiting for their commit, process-wide.
        self.in_flight = 0
        self._debt = 0.0
        self._refusals = 0
        #: Counters: actions admitted and refused (by reason).
        self.admitted = 0
        self.refused: dict[str, int] = {"backlog": 0, "lag": 0, "delay": 0, "in_flight": 0, "room_pending": 0}

    @property
    def stretch(self) -> float:
        """How far the tick is stretched: 0 (not at all) to 1 (at ``max_tick``)."""
        return min(1.0, self.lag / self.limits.overload_lag)

    @property
    def max_waiting(self) -> int:
        """How many actions may wait for their commit now (0: no bound)."""
        if not self.limits.overload_delay:
            return 0
        return max(MIN_WAITING, round(self.ack_rate * (self.tick() + self.limits.overload_delay)))

    def tick(self) -> float:
        """The commit tick of a busy room now, seconds."""
        limits = self.limits
        return limits.tick + (limits.max_tick - limits.tick) * self.stretch

    def acked(self, n: int = 1, delay: float | None = None) -> None:
        """Hear that ``n`` actions were acknowledged, ``delay`` seconds after they were received
        (None: not measured)."""
        self._acks += n
        if delay is not None and (self._least_delay is None or delay < self._least_delay):
            self._least_delay = delay

    @property
    def pressed(self) -> bool:
        """Whether the process sheds: its reactor runs late by ``overload_lag`` or more (a
        slow acknowledgement alone only opens the waiting bound, which is proportional; shedding
        on it made goodput swing)."""
        return self.standing_lag >= self.limits.overload_lag

    @property
    def relaxed(self) -> bool:
        """Whether both the lag and the delay are under half their bounds."""
        limits = self.limits
        return self.standing_lag < limits.overload_lag / 2 and (
            not limits.overload_delay or self.standing_delay < limits.overload_delay / 2
        )

    def sample(self, lag: float, now: float | None = None) -> None:
        """Hear one reactor lag sample (seconds late) taken at ``now`` (seconds; None: the
        ack rate is not updated)."""
        self.lag += (max(0.0, lag) - self.lag) * LAG_WEIGHT
        self._lags.append(max(0.0, lag))
        self.standing_lag = min(self._lags)
        if self._least_delay is not None:
            self._delays.append(self._least_delay)
            self._least_delay = None
        elif self.in_flight == 0:
            self._delays.append(0.0)  # nothing waits: no delay
        self.standing_delay = min(self._delays) if self._delays else 0.0
        if now is not None:
            window = self._window
            window.append((now, self._acks))
            self._acks = 0
            span = now - window[0][0]
            if span > 0:
                self.ack_rate = sum(n for _, n in list(window)[1:]) / span
        if self.pressed:
            self.shed = min(MAX_SHED, self.shed + SHED_UP)
        elif self.relaxed:
            self.shed = max(0.0, self.shed - SHED_DOWN)
            if self.shed == 0.0:
                self._debt = 0.0

    @property
    def backlogged(self) -> bool:
        """Whether the process is so far behind that every action is refused."""
        return self.standing_lag >= BACKLOG_FACTOR * self.limits.overload_lag

    def refuse_backlogged(self) -> Refusal | None:
        """The refusal of an action while the process is backlogged (None: it is not); for
        callers that decide before :meth:`admit` is reached (the router)."""
        return self._refusal("backlog") if self.backlogged else None

    def admit(self, room_pending: int) -> Refusal | None:
        """Decide on one arriving action of a room with ``room_pending`` actions in its next
        batch: None (admitted) or the refusal."""
        limits = self.limits
        reason = None
        if self.backlogged:
            reason = "backlog"
        elif limits.max_in_flight and self.in_flight >= limits.max_in_flight:
            reason = "in_flight"
        elif limits.overload_delay and not self.relaxed and self.in_flight >= self.max_waiting:
            reason = "delay"
        elif limits.max_room_pending and room_pending >= limits.max_room_pending:
            reason = "room_pending"
        elif self.shed > 0.0:
            self._debt += self.shed
            if self._debt >= 1.0:
                self._debt -= 1.0
                reason = "lag"
        if reason is None:
            self.admitted += 1
            return None
        return self._refusal(reason)

    def _refusal(self, reason: str) -> Refusal:
        self.refused[reason] += 1
        self._refusals += 1
        spread = (self._refusals * _SPREAD) % 1.0
        return Refusal(reason, round(self.limits.retry_after * (0.5 + spread), 3))
