"""A room saves a snapshot by bytes as well as by count, so the events its store holds after
the snapshot (never trimmed) stay bounded whatever the size of its events."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.service.settings import ServiceSettings
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import make_room, make_runner


def _acting(settings: ServiceSettings, count: int, size: int) -> tuple[Any, MemoryRoomStore]:
    room = make_room(type_name="doc")
    store = MemoryRoomStore()
    store.create(room.room_id, "doc", {}, room.epoch, room.committed)
    runner, clock, _ = make_runner(room, store=store, settings=settings)
    runner.join("alice", "s1", JoinCommand(None))
    clock.advance(0)
    for cseq in range(1, count + 1):
        runner.act("alice", ActCommand("set", {"path": ["big"], "value": "v" * size}, cseq))
        clock.advance(1)
    return runner, store


class SnapshotByBytesTests(SynchronousTestCase):
    def test_large_events_make_a_snapshot_before_the_count_does(self) -> None:
        """Ten events of about 10 KB with a 25 KB snapshot threshold leave at most two events
        after the stored snapshot, though the count threshold (500) is far off."""
        settings = ServiceSettings(tick=0, snapshot_every=500, snapshot_bytes=25_000)
        runner, store = _acting(settings, 10, 10_000)
        record = store.record(runner.room.room_id)
        self.assertEqual(record.seq, runner.room.seq)
        self.assertGreaterEqual(record.snapshot_seq, record.seq - 2)
        self.assertGreater(record.snapshot_seq, 0)

    def test_without_a_byte_threshold_only_the_count_makes_snapshots(self) -> None:
        """With snapshot_bytes 0, the same events make no snapshot before the count."""
        settings = ServiceSettings(tick=0, snapshot_every=500, snapshot_bytes=0)
        runner, store = _acting(settings, 10, 10_000)
        self.assertEqual(store.record(runner.room.room_id).snapshot_seq, 0)
