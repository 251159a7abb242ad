"""The stores under contract: memory, embedded (SQLite) and Redis (a private redis-server).

``store_under_test`` is a factory: ``open(limits)`` gives a fresh, empty store of the
parametrized kind, ``reopen()`` a new instance over the same data (a restart), and the
``corrupt_*`` helpers damage stored data the way a bad disk, an operator or another program
would -- written through each backend's own tools, never through the store.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed

from kasagi.store.interface import StoreLimits
from kasagi.store.memory import MemoryRoomStore
from kasagi.store.redis import RedisRoomStore
from kasagi.store.sqlite import SqliteRoomStore
from kasagi.testing import free_port
from kasagi.testing.redis_server import RedisServer

KINDS = ["memory", "sqlite", "redis"]
DURABLE = ["sqlite", "redis"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server for the session (AOF, appendfsync always)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), free_port()).start()
    yield server
    server.kill()


class FakeNow:
    """A settable millisecond clock for retention."""

    def __init__(self, ms: int = 1_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


class StoreUnderTest:
    def __init__(self, kind: str, tmp: Path, redis: RedisServer | None) -> None:
        self.kind = kind
        self.tmp = tmp
        self.redis = redis
        self.now = FakeNow()
        self.limits = StoreLimits()
        self.prefix = "t" + uuid.uuid4().hex[:12]
        self.path = tmp / "rooms.sqlite3"
        self.store: Any = None
        self._opened: list[Any] = []

    def open(self, limits: StoreLimits | None = None) -> Deferred[Any]:
        """A fresh, empty store (yield it)."""
        self.limits = limits or StoreLimits()
        return self._new()

    def _new(self) -> Deferred[Any]:
        if self.kind == "memory":
            d: Deferred[Any] = succeed(MemoryRoomStore(limits=self.limits, now_ms=self.now))
        elif self.kind == "sqlite":
            d = SqliteRoomStore.open(self.path, reactor, limits=self.limits, now_ms=self.now)
        else:
            assert self.redis is not None
            d = RedisRoomStore.open(self.redis.url, reactor, limits=self.limits, now_ms=self.now, prefix=self.prefix)

        def keep(store: Any) -> Any:
            self.store = store
            self._opened.append(store)
            return store

        return d.addCallback(keep)

    def reopen(self) -> Deferred[Any]:
        """A restart: a new store over the same data (the memory store is its own data)."""
        if self.kind == "memory":
            return succeed(self.store)
        return self.store.close().addCallback(lambda _: self._new())

    def close(self) -> None:
        """Close every store opened here that is still open (each once, however often this runs)."""
        opened, self._opened = self._opened, []
        for store in opened:
            if not getattr(store, "closed", False):
                pytest_twisted.blockon(store.close())

    # -- damage done from outside ----------------------------------------------------------------
    def redis_cli(self, *args: str) -> str:
        assert self.redis is not None
        out = subprocess.run(
            ["redis-cli", "-p", str(self.redis.port), *args], capture_output=True, check=True, timeout=10
        )
        return out.stdout.decode()

    def key(self, room: str, part: str) -> str:
        return f"{self.prefix}:{{{room}}}:{part}"

    def sql(self, statement: str, *params: Any) -> list[Any]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(statement, params).fetchall()

    def corrupt_snapshot(self, room: str, raw: str) -> None:
        if self.kind == "sqlite":
            self.sql("UPDATE rooms SET snapshot = ? WHERE room = ?", raw, room)
        else:
            self.redis_cli("HSET", self.key(room, "head"), "snap", raw)

    def corrupt_event(self, room: str, seq: int, event: Any) -> None:
        """Replace stored event ``seq`` by ``event`` (JSON-encoded unless a str)."""
        raw = event if isinstance(event, str) else json.dumps(event)
        if self.kind == "sqlite":
            self.sql("UPDATE events SET event = ? WHERE room = ? AND seq = ?", raw, room, seq)
        else:
            # Streams only grow at the top: rebuild it with the one entry replaced.
            script = (
                "local all = redis.call('XRANGE', KEYS[1], '-', '+') "
                "redis.call('DEL', KEYS[1]) "
                "for _, e in ipairs(all) do "
                "  if e[1] == ARGV[1] .. '-0' then redis.call('XADD', KEYS[1], e[1], 'e', ARGV[2], 't', '0') "
                "  else redis.call('XADD', KEYS[1], e[1], unpack(e[2])) end end "
                "return 1"
            )
            self.redis_cli("EVAL", script, "1", self.key(room, "events"), str(seq), raw)


def _harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    redis = request.getfixturevalue("redis_server") if request.param == "redis" else None
    harness = StoreUnderTest(request.param, tmp_path, redis)
    yield harness
    harness.close()


@pytest.fixture(params=KINDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    """Each store kind in turn."""
    yield from _harness(request, tmp_path)


@pytest.fixture(params=DURABLE)
def durable_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    """The stores that keep bytes on disk (the ones whose bytes can be damaged)."""
    yield from _harness(request, tmp_path)
