"""One contract for every implementation of room ownership (memory, SQLite, Redis): who may
claim a room, what a handover records, and how a dead worker's rooms are found."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import Clock

from kasagi.cluster.leases import MemoryLeases
from kasagi.cluster.redis_leases import RedisLeases
from kasagi.cluster.sqlite_leases import SqliteLeases

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "sqlite", "redis"])
def leases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryLeases(Clock(), ttl=1.2)
        return
    if request.param == "sqlite":
        on_disk = pytest_twisted.blockon(SqliteLeases.open(tmp_path / "leases.sqlite3", reactor, ttl=30.0))
        yield on_disk
        pytest_twisted.blockon(on_disk.close())
        return
    request.applymarker(pytest.mark.redis)
    prefix = f"kasagi_test_{secrets.token_hex(4)}:"
    store = RedisLeases.connect(REDIS_URL, reactor, ttl=30.0, prefix=prefix)
    yield store
    cleanup = store._redis.eval(
        "for _, k in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do redis.call('DEL', k) end return 1", [], [prefix]
    )
    pytest_twisted.blockon(cleanup.addCallback(lambda _: store.close()))


@pytest_twisted.inlineCallbacks
def test_a_room_belongs_to_its_first_live_claimant(leases):
    """The first live worker to claim a room gets it; another live worker is told who owns it."""
    yield leases.heartbeat("w1", {"rooms": 0})
    yield leases.heartbeat("w2", {"rooms": 0})
    first = yield leases.claim("r1", "w1")
    second = yield leases.claim("r1", "w2")
    again = yield leases.claim("r1", "w1")
    assert first.won and first.previous is None
    assert not second.won and second.owner == "w1"
    assert again.won and again.previous.worker == "w1"


@pytest_twisted.inlineCallbacks
def test_a_worker_without_a_lease_can_not_claim(leases):
    """A worker whose lease is gone (never created or expired) claims nothing."""
    claim = yield leases.claim("r1", "ghost")
    assert not claim.won and not claim.lease_ok
    records = yield leases.owners(["r1"])
    assert records == {"r1": None}


@pytest_twisted.inlineCallbacks
def test_the_rooms_of_an_expired_worker_can_be_claimed_and_reaped_once(leases):
    """When a worker's lease expires, one reaper gets its rooms and any live worker may claim them."""
    yield leases.heartbeat("w1", {"rooms": 2})
    yield leases.heartbeat("w2", {"rooms": 0})
    yield leases.claim("r1", "w1")
    yield leases.claim("r2", "w1")
    yield leases.confirm("r1", "w1", 7, "arena")
    assert (yield leases.reap("w1", "w2")) is None, "a live worker is not reaped"
    yield leases.expire("w1")
    beat = yield leases.heartbeat("w2", {"rooms": 0})
    assert not beat.workers["w1"].alive and beat.workers["w2"].alive
    assert (yield leases.reap("w1", "w2")) == ["r1", "r2"]
    assert (yield leases.reap("w1", "w3")) is None, "a second reaper waits"
    claim = yield leases.claim("r1", "w2")
    assert claim.won and claim.previous == claim.previous.__class__("w1", 7, "owned", "arena")
    assert (yield leases.forget("w1"))
    beat = yield leases.heartbeat("w2", {"rooms": 1})
    assert set(beat.workers) == {"w2"}


@pytest_twisted.inlineCallbacks
def test_handover_records_the_epoch_and_frees_the_room(leases):
    """A released room keeps its epoch and whether history is intact, and anyone may claim it."""
    yield leases.heartbeat("w1", {})
    yield leases.heartbeat("w2", {})
    yield leases.claim("r1", "w1")
    assert not (yield leases.release("r1", "w2", 5, True)), "only the owner releases"
    assert (yield leases.release("r1", "w1", 5, True))
    claim = yield leases.claim("r1", "w2")
    assert claim.won and (claim.previous.state, claim.previous.epoch) == ("handover", 5)
    assert not (yield leases.confirm("r1", "w1", 6, "arena")), "the old owner can not confirm"
    assert (yield leases.confirm("r1", "w2", 6, "arena"))
    records = yield leases.owners(["r1", "r9"])
    assert records["r1"].worker == "w2" and records["r1"].epoch == 6 and records["r9"] is None


@pytest_twisted.inlineCallbacks
def test_heartbeat_reports_lapses_and_loads(leases):
    """A heartbeat says whether the lease had lapsed, and lists every worker's load."""
    first = yield leases.heartbeat("w1", {"rooms": 3, "sessions": 10})
    renewed = yield leases.heartbeat("w1", {"rooms": 4, "sessions": 10})
    yield leases.expire("w1")
    lapsed = yield leases.heartbeat("w1", {"rooms": 4, "sessions": 10})
    assert first.lapsed and not renewed.lapsed and lapsed.lapsed
    assert renewed.workers["w1"].weight == 14
    yield leases.leave("w1")
    beat = yield leases.heartbeat("w2", {})
    assert set(beat.workers) == {"w2"}


@pytest_twisted.inlineCallbacks
def test_two_handles_on_one_sqlite_file_share_ownership(tmp_path):
    """Workers of one machine, each with its own handle on the leases file, see each other's claims and leases."""
    path = tmp_path / "leases.sqlite3"
    first = yield SqliteLeases.open(path, reactor, ttl=30.0)
    second = yield SqliteLeases.open(path, reactor, ttl=30.0)
    try:
        yield first.heartbeat("w1", {"rooms": 1})
        beat = yield second.heartbeat("w2", {"rooms": 0})
        won = yield first.claim("r1", "w1")
        lost = yield second.claim("r1", "w2")
        assert set(beat.workers) == {"w1", "w2"} and beat.workers["w1"].alive
        assert won.won and not lost.won and lost.owner == "w1"
        yield first.expire("w1")
        assert (yield second.reap("w1", "w2")) == ["r1"]
        taken = yield second.claim("r1", "w2")
        assert taken.won and taken.previous.worker == "w1"
    finally:
        yield first.close()
        yield second.close()
