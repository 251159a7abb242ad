"""The answers to ``join``: a snapshot of the state, or the events a client is missing.

Both are at a position of the room's stream (``epoch``, ``seq``); :meth:`to_wire` gives the
form ``docs/protocol.md`` defines (``"state"`` in a snapshot, ``"events"`` in a catch-up).

A join is an action: its effects (the member's presence, what the room type's ``on_join``
adds) are committed like any other, and the reply waits for them. Until the event that
carries them is committed the join is a :class:`JoinPending`, answered at that event's seq.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kasagi.core.room import StreamPosition

__all__ = ["CatchUp", "JoinPending", "JoinReply", "Snapshot", "wire_reply"]


@dataclass(frozen=True)
class Snapshot:
    """The whole state at ``seq`` (the client replaces its own)."""

    room: str
    epoch: int
    seq: int
    member: str | None
    state: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        reply: dict[str, Any] = {"room": self.room, "epoch": self.epoch, "seq": self.seq}
        if self.member is not None:
            reply["member"] = self.member
        reply["state"] = self.state
        return reply


@dataclass(frozen=True)
class CatchUp:
    """Every event after the client's ``since`` up to ``seq``, in order (none: up to date)."""

    room: str
    epoch: int
    seq: int
    member: str
    events: Sequence[dict[str, Any]]

    def to_wire(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "epoch": self.epoch,
            "seq": self.seq,
            "member": self.member,
            "events": list(self.events),
        }


JoinReply = Snapshot | CatchUp


@dataclass(frozen=True)
class JoinPending:
    """A join whose effects are not committed yet: answer it once ``seq`` is."""

    member: str
    #: The client's position (None: it asked for a snapshot).
    since: StreamPosition | None
    #: The seq of the event that carries the join's effects.
    seq: int


def wire_reply(reply: JoinReply) -> dict[str, Any]:
    """``reply.to_wire()``, as a callback for a Deferred of a reply."""
    return reply.to_wire()
