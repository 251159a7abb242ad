"""An in-memory :class:`~kasagi.store.interface.RoomStore`: for tests, and for a node that
wants no durability. It behaves like the durable stores (Deferreds, fencing, copies,
retention), and passes the same contract suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed

from kasagi.core import Batch, copy_value
from kasagi.core.results import drop_instance, record_result
from kasagi.store.codec import dumps
from kasagi.store.interface import (
    Event,
    NowMs,
    RoomExists,
    SeqConflict,
    StaleEpoch,
    StoredRoom,
    StoreError,
    StoreLimits,
    wall_ms,
)

__all__ = ["MemoryRoomStore"]


@dataclass
class RoomRecord:
    type: str
    options: dict[str, Any]
    epoch: int
    seq: int
    snapshot_seq: int
    snapshot: dict[str, Any]
    #: (event, stored at ms), contiguous by seq.
    events: list[tuple[Event, int]] = field(default_factory=list)
    #: seq -> bytes of the event's compact JSON, as the durable stores measure it.
    sizes: dict[int, int] = field(default_factory=dict)
    results: dict[str, dict[int, int]] = field(default_factory=dict)
    floors: dict[str, int] = field(default_factory=dict)


class MemoryRoomStore:
    """Rooms in a dict. ``history_events`` / ``results_per_member`` are shortcuts for the
    matching :class:`StoreLimits` fields."""

    def __init__(
        self,
        history_events: int | None = None,
        results_per_member: int | None = None,
        *,
        limits: StoreLimits | None = None,
        now_ms: NowMs = wall_ms,
    ) -> None:
        limits = limits or StoreLimits()
        if history_events is not None or results_per_member is not None:
            limits = StoreLimits(
                history_events=limits.history_events if history_events is None else history_events,
                history_seconds=limits.history_seconds,
                hard_cap=limits.hard_cap,
                results_per_member=limits.results_per_member if results_per_member is None else results_per_member,
                history_bytes=limits.history_bytes,
            )
        self.limits = limits
        self._now_ms = now_ms
        self._rooms: dict[str, RoomRecord] = {}

    @property
    def history_events(self) -> int:
        return self.limits.history_events

    @property
    def results_per_member(self) -> int:
        return self.limits.results_per_member

    def record(self, room: str) -> RoomRecord:
        """What the store holds for ``room``, live (tests damage it to play a broken store)."""
        return self._rooms[room]

    def load(self, room: str) -> Deferred[StoredRoom | None]:
        rec = self._rooms.get(room)
        if rec is None:
            return succeed(None)
        first = rec.events[0][0]["seq"] if rec.events else rec.snapshot_seq + 1
        tail = [copy_value(e) for e, _ in rec.events[max(0, rec.snapshot_seq + 1 - first) :]]
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
                floors=dict(rec.floors),
            )
        )

    def create(
        self, room: str, type_name: str, options: dict[str, Any], epoch: int, state: dict[str, Any]
    ) -> Deferred[None]:
        if room in self._rooms:
            return fail(RoomExists(room))
        self._rooms[room] = RoomRecord(type_name, copy_value(options), epoch, 0, 0, copy_value(state))
        return succeed(None)

    def append(self, batch: Batch) -> Deferred[None]:
        rec = self._rooms.get(batch.room)
        if rec is None:
            return fail(StoreError(f"room {batch.room} is not stored"))
        if rec.epoch != batch.epoch:
            return fail(StaleEpoch(f"room {batch.room}: stored epoch {rec.epoch}, writer {batch.epoch}"))
        if rec.seq != batch.seq - 1:
            return fail(SeqConflict(f"room {batch.room}: stored seq {rec.seq}, batch {batch.seq}"))
        rec.events.append((copy_value(batch.event), self._now_ms()))
        rec.sizes[batch.seq] = len(dumps(batch.event).encode("utf-8"))
        rec.seq = batch.seq
        for member, instance in batch.dropped:
            drop_instance(rec.results, rec.floors, member, instance)
        keep = self.limits.results_per_member
        for producer, cseq in batch.acks:
            record_result(rec.results, rec.floors, producer, cseq, batch.seq, keep)
        return succeed(None)

    def save_snapshot(self, room: str, epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        rec = self._rooms.get(room)
        if rec is None or rec.epoch != epoch:
            return fail(StaleEpoch(room))
        if seq > rec.seq:
            return fail(SeqConflict(f"room {room}: snapshot at {seq} beyond the head {rec.seq}"))
        if seq > rec.snapshot_seq:
            rec.snapshot_seq, rec.snapshot = seq, copy_value(state)
        now, drop = self._now_ms(), 0
        kept = sum(rec.sizes.get(e["seq"], 0) for e, _ in rec.events)
        for event, t in rec.events:
            if not self.limits.deletable(
                event["seq"], t, head_seq=rec.seq, snapshot_seq=rec.snapshot_seq, now_ms=now, kept_bytes=kept
            ):
                break
            drop += 1
            kept -= rec.sizes.pop(event["seq"], 0)
        del rec.events[:drop]
        return succeed(None)

    def events_since(self, room: str, epoch: int, seq: int) -> Deferred[list[Event] | None]:
        rec = self._rooms.get(room)
        if rec is None or rec.epoch != epoch or seq > rec.seq or seq < 0:
            return succeed(None)
        if seq == rec.seq:
            return succeed([])
        if not rec.events or rec.events[0][0]["seq"] > seq + 1:
            return succeed(None)
        return succeed([copy_value(e) for e, _ in rec.events if e["seq"] > seq])

    def set_epoch(self, room: str, old_epoch: int, new_epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        rec = self._rooms.get(room)
        if rec is None or rec.epoch != old_epoch:
            return fail(StaleEpoch(room))
        rec.epoch, rec.seq, rec.snapshot_seq, rec.snapshot, rec.events = new_epoch, seq, seq, copy_value(state), []
        rec.sizes = {}
        kept = {m: {c: s for c, s in r.items() if s <= seq} for m, r in rec.results.items()}
        rec.results = {m: r for m, r in kept.items() if r}
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)
