"""A client's copy of a room, rebuilt from a snapshot plus events (pure; used by the Python
client, mirrored by the JS SDK and checked against the same test vectors).

Feed it join replies (:meth:`RoomReplica.load`) and events (:meth:`RoomReplica.offer`); it
applies events strictly in seq order, buffers events that arrive ahead, drops old ones, and
answers :data:`Verdict.RESYNC` when the caller must call ``join(since=replica.position)``
(a gap, a new epoch) or ``join(None)`` (a hash mismatch or a malformed event).

Two observer hooks (tracing, test histories) see what the replica takes, in order:
:attr:`RoomReplica.on_snapshot` each snapshot it loads, :attr:`RoomReplica.on_applied` each
event it applies. They observe only: the replica behaves the same with or without them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from kasagi.core.canonical import state_hash
from kasagi.core.ops import OpError, apply_ops
from kasagi.core.room import StreamPosition
from kasagi.core.values import copy_value

__all__ = ["RoomReplica", "Verdict"]


class Verdict(enum.Enum):
    APPLIED = "applied"  # the event (and maybe buffered successors) was applied
    DROPPED = "dropped"  # an old or duplicate event, ignored
    BUFFERED = "buffered"  # ahead of order, or before the first join reply: kept for later
    RESYNC = "resync"  # a gap, a new epoch, a bad hash or a malformed event: join again


def _is_event(event: Any) -> bool:
    return (
        isinstance(event, Mapping)
        and isinstance(event.get("epoch"), int)
        and isinstance(event.get("seq"), int)
        and isinstance(event.get("ops"), list)
        and ("hash" not in event or isinstance(event["hash"], str))
    )


class RoomReplica:
    """The client-side state of one room."""

    def __init__(self, room: str, max_buffer: int = 10_000) -> None:
        self.room = room
        self.epoch: int | None = None
        self.seq = 0
        self.state: dict[str, Any] = {}
        self.member: str | None = None
        self.hash_checked = 0
        self.needs_snapshot = False
        self._buffer: dict[int, Mapping[str, Any]] = {}
        self._max_buffer = max_buffer
        self._applied: list[Mapping[str, Any]] = []
        #: Called with the position of each snapshot taken from a join reply, once its state
        #: is in place (before any buffered event that follows it is applied).
        self.on_snapshot: Callable[[StreamPosition], None] | None = None
        #: Called with each event applied, in seq order, once its ops are applied and its
        #: hash (if it has one) matches; an event that fails either is not reported.
        self.on_applied: Callable[[Mapping[str, Any]], None] | None = None

    @property
    def synced(self) -> bool:
        return self.epoch is not None

    @property
    def position(self) -> StreamPosition | None:
        """Where to resume from (``None``: ask for a snapshot)."""
        if self.epoch is None or self.needs_snapshot:
            return None
        return StreamPosition(self.epoch, self.seq)

    def pop_applied(self) -> list[Mapping[str, Any]]:
        """The events applied since the last call, in order (an event offered may also apply
        buffered successors; an event offered twice is applied once)."""
        applied, self._applied = self._applied, []
        return applied

    def load(self, reply: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Apply a join reply (snapshot or catch-up); return the events applied from it and
        from the buffer, each once. Raises ``ValueError`` for a reply of the wrong shape."""
        epoch, seq = reply.get("epoch"), reply.get("seq")
        if not isinstance(epoch, int) or not isinstance(seq, int):
            raise ValueError("join reply without a position")
        self.member = reply.get("member", self.member)
        self._applied = []
        if "state" in reply:
            self._load_snapshot(reply["state"], epoch, seq)
        elif "events" in reply:
            if not self._load_events(reply["events"], epoch, seq):
                return self.pop_applied()
        else:
            raise ValueError("join reply with neither state nor events")
        self._drain()
        return self.pop_applied()

    def _load_snapshot(self, state: Any, epoch: int, seq: int) -> None:
        if not isinstance(state, dict):
            raise ValueError("join reply with a malformed state")
        self.state = copy_value(state)
        self.epoch, self.seq = epoch, seq
        self.needs_snapshot = False
        if self.on_snapshot is not None:
            self.on_snapshot(StreamPosition(epoch, seq))

    def _load_events(self, events: Any, epoch: int, seq: int) -> bool:
        """Apply a catch-up's events; False when one of them failed to apply (the replica
        then needs a snapshot)."""
        if epoch != self.epoch or not isinstance(events, list):
            raise ValueError("catch-up reply for another epoch")
        for event in events:
            if not _is_event(event) or event["epoch"] != self.epoch:
                raise ValueError("catch-up reply with a malformed event")
            if event["seq"] <= self.seq:
                continue
            if event["seq"] != self.seq + 1:
                raise ValueError("catch-up reply with a gap")
            if not self._apply(event):
                return False
        if self.seq < seq:
            raise ValueError("catch-up reply did not reach its own seq")
        return True

    def offer(self, event: Any) -> Verdict:
        """Take one event from the topic."""
        if not _is_event(event):
            self.needs_snapshot = True
            return Verdict.RESYNC
        if self.epoch is None:
            return self._keep(event)
        if event["epoch"] < self.epoch:
            return Verdict.DROPPED  # epochs only grow: a stale owner's event
        if event["epoch"] != self.epoch:
            # A new epoch: everything buffered from the old one is useless.
            self._buffer.clear()
            self._keep(event)
            return Verdict.RESYNC
        seq = event["seq"]
        if seq <= self.seq:
            return Verdict.DROPPED
        if seq > self.seq + 1:
            self._keep(event)
            return Verdict.RESYNC
        if not self._apply(event):
            return Verdict.RESYNC
        self._drain()
        return Verdict.APPLIED

    def _keep(self, event: Mapping[str, Any]) -> Verdict:
        if len(self._buffer) < self._max_buffer:
            self._buffer[event["seq"]] = event
        return Verdict.BUFFERED

    def _apply(self, event: Mapping[str, Any]) -> bool:
        try:
            apply_ops(self.state, event["ops"])
        except (OpError, TypeError, KeyError, IndexError):
            self.needs_snapshot = True
            return False
        self.seq = event["seq"]
        self._applied.append(event)
        digest = event.get("hash")
        if digest is not None:
            self.hash_checked += 1
            if state_hash(self.state) != digest:
                self.needs_snapshot = True
                return False
        if self.on_applied is not None:
            self.on_applied(event)
        return True

    def _drain(self) -> list[Mapping[str, Any]]:
        applied = []
        for seq in sorted(s for s in self._buffer if s <= self.seq):
            self._buffer.pop(seq)
        while (nxt := self._buffer.pop(self.seq + 1, None)) is not None:
            if nxt.get("epoch") != self.epoch or not self._apply(nxt):
                break
            applied.append(nxt)
        for seq in [s for s, e in self._buffer.items() if e.get("epoch") != self.epoch]:
            # Events of another epoch than the one just loaded stay only if newer epochs.
            if self.epoch is not None and self._buffer[seq].get("epoch", 0) < self.epoch:
                self._buffer.pop(seq)
        return applied
