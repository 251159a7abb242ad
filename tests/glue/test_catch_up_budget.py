"""A join from an old position costs what its reply may cost: the store is read only when
the catch-up can still fit the limit, and a reply from the store over it is a snapshot."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.core.room import RoomConfig, StreamPosition
from kasagi.service.settings import ServiceSettings
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import make_room, make_runner


class CountingStore(MemoryRoomStore):
    """A memory store that counts history reads."""

    reads = 0

    def events_since(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return super().events_since(*args, **kwargs)


def _runner(config: RoomConfig) -> tuple[Any, Any, CountingStore]:
    room = make_room(type_name="doc", config=config)
    store = CountingStore(history_events=100)
    store.create(room.room_id, "doc", {}, room.epoch, room.committed)
    runner, clock, _ = make_runner(room, store=store, settings=ServiceSettings(tick=0))
    runner.join("alice", "s1", JoinCommand(None))
    clock.advance(0)
    for cseq in range(1, 8):
        runner.act("alice", ActCommand("set", {"path": [f"k{cseq}"], "value": "v" * 1000}, cseq))
        clock.advance(1)
    return runner, clock, store


class CatchUpBudgetTests(SynchronousTestCase):
    def test_a_join_before_events_dropped_for_bytes_gets_a_snapshot_without_a_store_read(self) -> None:
        """Memory dropped events for its byte limit: a join from before them is answered
        with a snapshot and the store's history is not read."""
        runner, _, store = _runner(RoomConfig(history_max_bytes=2500, max_catchup_bytes=2500))
        reply = self.successResultOf(runner.join("alice", "s1", JoinCommand(StreamPosition(runner.room.epoch, 1))))
        self.assertIn("state", reply)
        self.assertEqual(store.reads, 0)

    def test_events_read_from_the_store_over_the_limit_make_a_snapshot(self) -> None:
        """Memory dropped events by count: the store is read, but the events it holds are
        over the catch-up limit, so the join gets a snapshot."""
        runner, _, store = _runner(RoomConfig(history_events=1, history_min_age_ms=0, max_catchup_bytes=2500))
        reply = self.successResultOf(runner.join("alice", "s1", JoinCommand(StreamPosition(runner.room.epoch, 1))))
        self.assertIn("state", reply)
        self.assertEqual(store.reads, 1)

    def test_a_small_catch_up_is_still_served_from_the_store(self) -> None:
        """A join from a few events back, older than memory holds but within the limit, is
        answered with the store's events."""
        runner, _, store = _runner(RoomConfig(history_events=1, history_min_age_ms=0, max_catchup_bytes=100_000))
        seq = runner.room.seq
        since = StreamPosition(runner.room.epoch, seq - 3)
        reply = self.successResultOf(runner.join("alice", "s1", JoinCommand(since)))
        self.assertEqual([e["seq"] for e in reply["events"]], [seq - 2, seq - 1, seq])
        self.assertEqual(store.reads, 1)
