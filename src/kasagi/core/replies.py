"""The answers to ``join``: a snapshot of the state, or the events a client is missing.

Both are at a position of the room's stream (``epoch``, ``seq``); :meth:`to_wire` gives the
form ``docs/protocol.md`` defines (``"state"`` in a snapshot, ``"events"`` in a catch-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CatchUp", "JoinReply", "Snapshot", "wire_reply"]


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


def wire_reply(reply: JoinReply) -> dict[str, Any]:
    """``reply.to_wire()``, as a callback for a Deferred of a reply."""
    return reply.to_wire()
