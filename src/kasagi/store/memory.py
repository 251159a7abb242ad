"""An in-memory :class:`~kasagi.store.interface.RoomStore`: for tests, and for a node that
wants no durability. It behaves like the durable stores (Deferreds, fencing, copies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed

from kasagi.core.ops import apply_ops
from kasagi.core.room import Batch
from kasagi.core.values import copy_value
from kasagi.store.interface import RoomExists, SeqConflict, StaleEpoch, StoredRoom, StoreError

__all__ = ["MemoryRoomStore"]

Event = dict[str, Any]


@dataclass
class _Record:
    type: str
    options: dict[str, Any]
    epoch: int
    seq: int
    snapshot_seq: int
    snapshot: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    results: dict[str, dict[int, int]] = field(default_factory=dict)


class MemoryRoomStore:
    """Rooms in a dict; ``history_events`` bounds the events kept before the snapshot."""

    def __init__(self, history_events: int = 1000, results_per_member: int = 64) -> None:
        self.history_events = history_events
        self.results_per_member = results_per_member
        self._rooms: dict[str, _Record] = {}

    def load(self, room: str) -> Deferred[StoredRoom | None]:
        rec = self._rooms.get(room)
        if rec is None:
            return succeed(None)
        tail = [copy_value(e) for e in rec.events if e["seq"] > rec.snapshot_seq]
        return succeed(
            StoredRoom(
                room=room,
                type=rec.type,
                options=copy_value(rec.options),
                epoch=rec.epoch,
                seq=rec.seq,
                snapshot_seq=rec.snapshot_seq,
                snapshot=copy_value(rec.snapshot),
                tail=tail,
                results={m: dict(r) for m, r in rec.results.items()},
            )
        )

    def create(self, room: str, type_name: str, options: dict[str, Any], epoch: int, state: dict[str, Any]) -> Deferred[None]:
        if room in self._rooms:
            return fail(RoomExists(room))
        self._rooms[room] = _Record(type_name, copy_value(options), epoch, 0, 0, copy_value(state))
        return succeed(None)

    def append(self, batch: Batch) -> Deferred[None]:
        rec = self._rooms.get(batch.room)
        if rec is None:
            return fail(StoreError(f"room {batch.room} is not stored"))
        if rec.epoch != batch.epoch:
            return fail(StaleEpoch(f"room {batch.room}: stored epoch {rec.epoch}, writer {batch.epoch}"))
        if rec.seq != batch.seq - 1:
            return fail(SeqConflict(f"room {batch.room}: stored seq {rec.seq}, batch {batch.seq}"))
        rec.events.append(copy_value(batch.event))
        rec.seq = batch.seq
        for member, cseq in batch.acks:
            results = rec.results.setdefault(member, {})
            results[cseq] = batch.seq
            while len(results) > self.results_per_member:
                del results[next(iter(results))]
        return succeed(None)

    def save_snapshot(self, room: str, epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        rec = self._rooms.get(room)
        if rec is None or rec.epoch != epoch:
            return fail(StaleEpoch(room))
        if seq > rec.snapshot_seq:
            rec.snapshot_seq, rec.snapshot = seq, copy_value(state)
        keep_from = min(rec.snapshot_seq, rec.seq - self.history_events)
        rec.events = [e for e in rec.events if e["seq"] > keep_from]
        return succeed(None)

    def events_since(self, room: str, epoch: int, seq: int) -> Deferred[list[Event] | None]:
        rec = self._rooms.get(room)
        if rec is None or rec.epoch != epoch or seq > rec.seq:
            return succeed(None)
        if seq == rec.seq:
            return succeed([])
        if not rec.events or rec.events[0]["seq"] > seq + 1:
            return succeed(None)
        return succeed([copy_value(e) for e in rec.events if e["seq"] > seq])

    def set_epoch(self, room: str, old_epoch: int, new_epoch: int) -> Deferred[None]:
        rec = self._rooms.get(room)
        if rec is None or rec.epoch != old_epoch:
            return fail(StaleEpoch(room))
        state = copy_value(rec.snapshot)
        apply_ops(state, [op for e in rec.events if e["seq"] > rec.snapshot_seq for op in e["ops"]])
        rec.epoch, rec.snapshot_seq, rec.snapshot, rec.events = new_epoch, rec.seq, state, []
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)
