"""Rooms through a restart, over every store: the registry rebuilds them exactly, snapshots
bound the reload, and a damaged room is refused without touching its data."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.errors import RoomDamaged
from kasagi.core.ops import apply_ops
from kasagi.core.restore import rebuild
from kasagi.core.room import StreamPosition
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.service.registry import RoomRegistry
from kasagi.service.settings import ServiceSettings
from kasagi.testing import RecordingPublisher
from tests.contract.conftest import StoreUnderTest

pytestmark = pytest.mark.redis

SETTINGS = ServiceSettings(tick=0, snapshot_every=7, store_deadline=5)


def registry_on(store: Any) -> RoomRegistry:
    return RoomRegistry(
        clock=reactor, store=store, publish=RecordingPublisher(), expose=lambda room: None, settings=SETTINGS
    )


@defer.inlineCallbacks
def write_some(registry: RoomRegistry, room: str, n: int):  # type: ignore[no-untyped-def]
    yield registry.open(OpenCommand(room, "doc", {}))
    runner = registry.runner(room)
    runner.join("alice", "s1", JoinCommand(None))
    acks = []
    for cseq in range(1, n + 1):
        ack = yield runner.act("alice", ActCommand("set", {"path": ["doc", f"k{cseq % 5}"], "value": cseq}, cseq))
        acks.append(ack)
    return runner, acks


@pytest_twisted.inlineCallbacks
def test_a_restarted_service_rebuilds_rooms_exactly(stores: StoreUnderTest):
    """After a restart (a new store instance and registry) a room's state, epoch, seq and
    cseq results are what they were; seq continues from there, and a retried cseq returns
    its first seq."""
    store = yield stores.open()
    first = registry_on(store)
    runner, acks = yield write_some(first, "r1", 30)
    before = (runner.room.epoch, runner.room.seq, runner.room.committed, dict(runner.room.results["alice"]))
    first.stop()
    store = yield stores.reopen()
    stored = yield store.load("r1")
    assert stored.snapshot_seq >= before[1] - 7, "periodic snapshots bound the tail to replay"
    rebuilt = rebuild(stored, config=SETTINGS.room_config(), now_ms=0, types=BUILTIN_TYPES)
    assert (rebuilt.lost, rebuilt.room.epoch, rebuilt.room.seq) == (None, before[0], before[1])
    assert rebuilt.room.committed == before[2]
    assert rebuilt.room.results["alice"] == before[3]
    second = registry_on(store)
    info = yield second.open(OpenCommand("r1", "doc", {}))
    assert (info["epoch"], info["seq"]) == (before[0], before[1])
    again = second.runner("r1")
    again.join("alice", "s2", JoinCommand(StreamPosition(before[0], before[1])))
    retry = yield again.act("alice", ActCommand("set", {"path": ["doc", "k0"], "value": -1}, 17))
    assert retry["seq"] == acks[16]["seq"]
    fresh = yield again.act("alice", ActCommand("set", {"path": ["doc", "k0"], "value": -1}, 31))
    assert fresh["seq"] > before[1]
    second.stop()


@pytest_twisted.inlineCallbacks
def test_catch_up_after_a_restart_comes_from_the_stores_history(stores: StoreUnderTest):
    """A client that saw seq 3 before a restart catches up with events (not a snapshot) from
    the store's history, though the restarted room's memory holds only the tail."""
    store = yield stores.open()
    first = registry_on(store)
    runner, _ = yield write_some(first, "r1", 20)
    epoch = runner.room.epoch
    first.stop()
    store = yield stores.reopen()
    second = registry_on(store)
    yield second.open(OpenCommand("r1", "doc", {}))
    again = second.runner("r1")
    assert again.room.history.first_seq is None or again.room.history.first_seq > 4
    reply = yield again.join("bob", "s9", JoinCommand(StreamPosition(epoch, 3)))
    assert "events" in reply
    assert [e["seq"] for e in reply["events"]] == list(range(4, reply["seq"] + 1))
    state = yield store.events_since("r1", epoch, 0)
    replayed: dict[str, Any] = {"members": {}}
    for event in state:
        apply_ops(replayed, event["ops"])
    assert replayed == reply_state(again)
    second.stop()


def reply_state(runner: Any) -> dict[str, Any]:
    return runner.room.snapshot().state  # type: ignore[no-any-return]


@pytest_twisted.inlineCallbacks
def test_a_room_with_an_event_that_does_not_apply_is_refused_untouched(durable_stores: StoreUnderTest):
    """A stored event that is well formed but does not apply makes opening that room fail
    with kasagi.error.unavailable (not retryable) naming the room and the event; other rooms
    open, and the stored bytes are not changed."""
    stores = durable_stores
    store = yield stores.open()
    first = registry_on(store)
    yield write_some(first, "bad", 6)
    yield write_some(first, "good", 3)
    first.stop()
    stored = yield store.load("bad")
    seq = stored.tail[-2]["seq"]
    stores.corrupt_event(
        "bad", seq, {"epoch": stored.epoch, "seq": seq, "ops": [["del", ["doc", "no", "such", "path"]]]}
    )
    snapshot_before = yield _raw(stores, "bad")
    second = registry_on(store)
    with pytest.raises(RoomDamaged) as info:
        yield second.open(OpenCommand("bad", "doc", {}))
    assert "room bad" in info.value.message and f"event {seq} does not apply" in info.value.message
    assert info.value.details()["retryable"] is False
    assert (yield second.open(OpenCommand("good", "doc", {})))["seq"] >= 3
    with pytest.raises(RoomDamaged):
        yield second.open(OpenCommand("bad", "doc", {}))
    assert (yield _raw(stores, "bad")) == snapshot_before
    second.stop()


def _raw(stores: StoreUnderTest, room: str) -> Any:
    """Everything stored for ``room``, as the backend holds it."""
    if stores.kind == "sqlite":
        rows = (
            stores.sql("SELECT * FROM rooms WHERE room = ?", room),
            stores.sql("SELECT * FROM events WHERE room = ? ORDER BY seq", room),
            stores.sql("SELECT * FROM results WHERE room = ? ORDER BY rowid", room),
        )
    else:
        rows = tuple(
            stores.redis_cli(*cmd)
            for cmd in (
                ("HGETALL", stores.key(room, "head")),
                ("XRANGE", stores.key(room, "events"), "-", "+"),
                ("HGETALL", stores.key(room, "results")),
            )
        )
    return defer.succeed(rows)
