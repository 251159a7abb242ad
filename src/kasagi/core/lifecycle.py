"""The life of a room's owner, as a state machine: live, degraded, suspended, draining, stopped.

Pure: the runner (:class:`kasagi.service.runner.RoomRunner`) tells it what happened
(:class:`Signal`) and asks it what to do; every rule about which phase follows which lives in
:data:`TRANSITIONS`, and a signal the table does not list for a phase is refused
(:class:`RefusedTransition`) -- the caller has a bug.

The phases::

    LIVE        serving calls, committing each tick
    DEGRADED    the last commit failed: acts are refused until a backoff lets a commit
                probe the store again; a successful commit makes the room live again
    SUSPENDED   a write is undetermined (or another owner wrote): no more writes, joins and
                leaves served from the committed state until the room is reloaded
    DRAINING    closing: no new calls, what was accepted is still committed
    STOPPED     nothing is served or written any more

Alongside the phase: how many commits failed in a row (the backoff's measure, kept while
draining, reset by any successful commit), and whether the history this owner wrote is
intact (false once a drain met an undetermined or failed write: a successor must not
trust it).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["TRANSITIONS", "Phase", "RefusedTransition", "RoomLifecycle", "Signal"]


class Phase(enum.Enum):
    LIVE = "live"
    DEGRADED = "degraded"
    SUSPENDED = "suspended"
    DRAINING = "draining"
    STOPPED = "stopped"


class Signal(enum.Enum):
    COMMIT_SUCCEEDED = "commit_succeeded"
    #: A commit failed and the store may come back (not a fence or an undetermined write).
    COMMIT_FAILED = "commit_failed"
    #: A write is undetermined or fenced out: only a reload from the store can tell.
    SUSPEND = "suspend"
    DRAIN = "drain"
    STOP = "stop"


_L, _G, _S, _D, _X = Phase.LIVE, Phase.DEGRADED, Phase.SUSPENDED, Phase.DRAINING, Phase.STOPPED

#: phase -> signal -> next phase. Absent: refused.
TRANSITIONS: Mapping[Phase, Mapping[Signal, Phase]] = {
    _L: {
        Signal.COMMIT_SUCCEEDED: _L,
        Signal.COMMIT_FAILED: _G,
        Signal.SUSPEND: _S,
        Signal.DRAIN: _D,
        Signal.STOP: _X,
    },
    _G: {
        Signal.COMMIT_SUCCEEDED: _L,
        Signal.COMMIT_FAILED: _G,
        Signal.SUSPEND: _S,
        Signal.DRAIN: _D,
        Signal.STOP: _X,
    },
    _S: {
        # A commit that was in flight when the room was suspended lands (or not) later.
        Signal.COMMIT_SUCCEEDED: _S,
        Signal.COMMIT_FAILED: _S,
        # Nothing left to commit here, and a write is undetermined: stop, not intact.
        Signal.DRAIN: _X,
        Signal.STOP: _X,
    },
    _D: {
        Signal.COMMIT_SUCCEEDED: _D,
        # Whatever the store holds now is for the next owner to find: stop, not intact.
        Signal.COMMIT_FAILED: _X,
        Signal.SUSPEND: _X,
        Signal.DRAIN: _D,
        Signal.STOP: _X,
    },
    _X: {
        # A commit that was in flight when the room stopped lands (or not) later.
        Signal.COMMIT_SUCCEEDED: _X,
        Signal.COMMIT_FAILED: _X,
    },
}

#: Transitions after which the history this owner wrote can't be trusted by a successor.
_NOT_INTACT = {(_S, Signal.DRAIN), (_D, Signal.COMMIT_FAILED), (_D, Signal.SUSPEND)}


class RefusedTransition(Exception):
    """A signal the current phase does not take (a bug of the caller)."""

    def __init__(self, phase: Phase, signal: Signal) -> None:
        super().__init__(f"a room that is {phase.value} can't take {signal.value}")
        self.phase = phase
        self.signal = signal


class RoomLifecycle:
    """The phase of one room's owner, and what follows from it."""

    def __init__(self) -> None:
        self.phase = Phase.LIVE
        #: Commits failed in a row (reset by a successful one).
        self.failures = 0
        #: False once a drain met an undetermined or failed write.
        self.intact = True

    def handle(self, signal: Signal) -> Phase:
        """Move to the phase ``signal`` leads to; :class:`RefusedTransition` if none."""
        following = TRANSITIONS[self.phase].get(signal)
        if following is None:
            raise RefusedTransition(self.phase, signal)
        if (self.phase, signal) in _NOT_INTACT:
            self.intact = False
        if signal is Signal.COMMIT_SUCCEEDED:
            self.failures = 0
        elif signal is Signal.COMMIT_FAILED and following is Phase.DEGRADED:
            self.failures += 1
        self.phase = following
        return following

    def takes(self, signal: Signal) -> bool:
        """Whether the current phase takes ``signal``."""
        return signal in TRANSITIONS[self.phase]

    @property
    def serves_calls(self) -> bool:
        """Joins, leaves and acts reach the room (acts may still be refused as unavailable)."""
        return self.phase in (Phase.LIVE, Phase.DEGRADED, Phase.SUSPENDED)

    @property
    def writes(self) -> bool:
        """Commits and presence expiry run."""
        return self.phase in (Phase.LIVE, Phase.DEGRADED, Phase.DRAINING)

    @property
    def stopped(self) -> bool:
        return self.phase is Phase.STOPPED

    @property
    def suspended(self) -> bool:
        return self.phase is Phase.SUSPENDED

    @property
    def draining(self) -> bool:
        return self.phase is Phase.DRAINING
