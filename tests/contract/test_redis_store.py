"""What only the Redis store has: data other programs wrote, outages, and late writes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from kasagi.core.room import Batch
from kasagi.deadline import DeadlineExceeded, within
from kasagi.store.interface import CorruptRoom, RoomExists, SeqConflict, StoreUnavailable
from kasagi.store.redis import RedisRoomStore
from kasagi.testing import free_port
from kasagi.testing.redis_server import RedisServer
from tests.contract.conftest import StoreUnderTest
from tests.waiting import until

pytestmark = pytest.mark.redis

EPOCH = 1_700_000_000_000


def batch(room: str, seq: int, acks: tuple[tuple[str, int], ...] = ()) -> Batch:
    return Batch(room, EPOCH, seq, [["set", ["doc", "n"], seq]], None, acks)


@pytest.fixture()
def redis_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    harness = StoreUnderTest("redis", tmp_path, request.getfixturevalue("redis_server"))
    yield harness
    harness.close()


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, to stop and start."""
    server = RedisServer(tmp_path / "redis", free_port()).start()
    yield server
    if server.proc is not None:
        os.killpg(server.proc.pid, signal.SIGCONT)
    server.kill()


@pytest_twisted.inlineCallbacks
def test_a_head_key_of_the_wrong_type_is_reported_and_left_alone(redis_store: StoreUnderTest):
    """A room whose head key holds a string (another program's data) fails to load with
    CorruptRoom naming the key; the key is not overwritten and other rooms work."""
    store = yield redis_store.open()
    head = redis_store.key("bad", "head")
    redis_store.redis_cli("SET", head, "hello")
    yield store.create("good", "doc", {}, EPOCH, {"members": {}})
    with pytest.raises(CorruptRoom) as info:
        yield store.load("bad")
    assert (
        info.value.room == "bad" and "holds a string, not a hash" in info.value.problem and head in info.value.problem
    )
    with pytest.raises(RoomExists):
        yield store.create("bad", "doc", {}, EPOCH, {"members": {}})
    assert redis_store.redis_cli("GET", head).strip() == "hello"
    yield store.append(batch("good", 1))
    assert (yield store.load("good")).seq == 1


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("fmt", "2", "format 2, expected 1"),
        ("seq", "ten", "seq is ten, not a number"),
        ("snap", "{", "snapshot is not valid JSON"),
    ],
)
@pytest_twisted.inlineCallbacks
def test_a_head_with_foreign_fields_is_reported(redis_store: StoreUnderTest, field: str, value: str, problem: str):
    """A head written by something else (another format, a seq that is not a number, a broken
    snapshot) fails to load and to append, naming the problem; nothing is changed."""
    store = yield redis_store.open()
    yield store.create("r1", "doc", {}, EPOCH, {"members": {}})
    redis_store.redis_cli("HSET", redis_store.key("r1", "head"), field, value)
    with pytest.raises(CorruptRoom) as info:
        yield store.load("r1")
    assert problem in info.value.problem
    if field != "snap":
        with pytest.raises(CorruptRoom):
            yield store.append(batch("r1", 1))
        assert redis_store.redis_cli("EXISTS", redis_store.key("r1", "events")).strip() == "0"


@pytest_twisted.inlineCallbacks
def test_a_results_key_of_the_wrong_type_fails_the_append_before_any_write(redis_store: StoreUnderTest):
    """When the results key holds the wrong type, the append fails and neither the stream nor
    the head seq changed: the script checks everything before it writes."""
    store = yield redis_store.open()
    yield store.create("r1", "doc", {}, EPOCH, {"members": {}})
    redis_store.redis_cli("RPUSH", redis_store.key("r1", "results"), "x")
    with pytest.raises(CorruptRoom) as info:
        yield store.append(batch("r1", 1, (("alice", 1),)))
    assert "holds a list, not a hash" in info.value.problem
    assert redis_store.redis_cli("HGET", redis_store.key("r1", "head"), "seq").strip() == "0"
    assert redis_store.redis_cli("EXISTS", redis_store.key("r1", "events")).strip() == "0"


@pytest_twisted.inlineCallbacks
def test_calls_fail_fast_while_redis_is_down_and_recover_when_it_returns(own_redis: RedisServer):
    """With Redis killed, store calls fail at once with StoreUnavailable (nothing is queued);
    once Redis is back on the same directory the store reconnects by itself and the room,
    persisted in the AOF, is intact."""
    store = yield RedisRoomStore.open(own_redis.url, reactor)
    try:
        yield store.create("r1", "doc", {}, EPOCH, {"members": {}})
        yield store.append(batch("r1", 1, (("alice", 1),)))
        own_redis.kill()
        yield until(lambda: not store.connected, 10)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            yield store.append(batch("r1", 2))
        with pytest.raises(StoreUnavailable):
            yield store.load("r1")
        assert time.monotonic() - started < 0.5
        own_redis.start()
        yield until(lambda: store.connected, 15)
        stored = yield store.load("r1")
        assert (stored.seq, stored.results) == (1, {"alice": {1: 1}})
        yield store.append(batch("r1", 2))
    finally:
        yield store.close()


@pytest_twisted.inlineCallbacks
def test_a_late_write_applies_once_and_its_retry_is_refused(own_redis: RedisServer):
    """A write that outlives its deadline (Redis paused) lands once Redis resumes -- and the
    same batch sent again, or a rival batch for that seq, is refused by the seq fence."""
    store = yield RedisRoomStore.open(own_redis.url, reactor)
    try:
        yield store.create("r1", "doc", {}, EPOCH, {"members": {}})
        assert own_redis.proc is not None
        os.killpg(own_redis.proc.pid, signal.SIGSTOP)
        late = store.append(batch("r1", 1, (("alice", 1),)))
        with pytest.raises(DeadlineExceeded):
            yield within(late, 0.3, reactor, "append")
        os.killpg(own_redis.proc.pid, signal.SIGCONT)
        yield late  # it was sent before the deadline: Redis applies it now
        with pytest.raises(SeqConflict):
            yield store.append(batch("r1", 1, (("alice", 1),)))
        with pytest.raises(SeqConflict):
            yield store.append(batch("r1", 1, (("bob", 7),)))
        stored = yield store.load("r1")
        assert stored.seq == 1 and len(stored.tail) == 1 and stored.results == {"alice": {1: 1}}
    finally:
        yield store.close()
