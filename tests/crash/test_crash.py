"""Crash runs with real processes: 4 writers act at ~20/s in one room while a part of the
system is killed with SIGKILL and restarted; afterwards invariants I1-I6 are checked from the
recorded history (see :mod:`kasagi.testing.history`)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task, threads

from kasagi.core.restore import rebuild
from kasagi.core.room import RoomConfig
from kasagi.deadline import within
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.store.factory import open_store
from kasagi.testing.history import History, check, counts
from kasagi.testing.node import NodeProcess
from kasagi.testing.redis_server import RedisServer
from tests.conftest import start_node
from tests.crash.conftest import worker_pid
from tests.crash.workload import Writer, slot_effects
from tests.waiting import until

pytestmark = [pytest.mark.node, pytest.mark.redis]

WRITERS = 4
#: Acks each writer collects before the fault, and again after recovery.
ACKS = 30
SERVICE = {
    "tick": 0.02,
    "snapshot_every": 50,
    "history_events": 1_000_000,
    "store_history_bytes": 0,
    "grace": 600.0,
    "store_deadline": 2.0,
}


class Run:
    """One crash run: a node, its store, four writers and their history."""

    def __init__(self, tmp: Path, store: str, room: str) -> None:
        self.tmp = tmp
        self.store_spec = store
        self.room = room
        self.history = History()
        self.writers = [Writer(f"w{i}", self.history) for i in range(WRITERS)]
        self.node: NodeProcess | None = None

    @defer.inlineCallbacks
    def start(self):  # type: ignore[no-untyped-def]
        self.node = yield threads.deferToThread(
            start_node, self.tmp, service={**SERVICE, "store": self.store_spec}, component="process"
        )
        for w in self.writers:
            yield w.connect(self.node.url, self.room)
        for w in self.writers:
            w.start()

    def acked(self) -> list[int]:
        return [w.acked for w in self.writers]

    def each_acked(self, more: int) -> Callable[[], bool]:
        marks = self.acked()
        return lambda: all(w.acked >= m + more for w, m in zip(self.writers, marks, strict=True))

    @defer.inlineCallbacks
    def restart_node_after_it_exits(self):  # type: ignore[no-untyped-def]
        """A worker died: the node shuts itself down (Crossbar's shutdown_on_worker_exit);
        a supervisor would start it again -- here, on the same port and data directory."""
        node = self.node
        assert node is not None and node.proc is not None
        yield until(lambda: node.proc is not None and node.proc.poll() is not None, 60)
        node.kill()  # anything left of the group
        self.node = yield threads.deferToThread(NodeProcess(node.options).start, 120.0)

    @defer.inlineCallbacks
    def finish_and_check(self, store_url: str):  # type: ignore[no-untyped-def]
        for w in self.writers:
            yield within(w.stop(), 90, reactor, "writer drain")
        assert self.history.by_outcome("pending") == [], "every call ended (acked, refused or timed out)"
        store = yield open_store(store_url, reactor, data_dir=self.node.options.data_dir.resolve())  # type: ignore[union-attr]
        try:
            stored = yield self._quiet_store(store)
            events = yield store.events_since(self.room, stored.epoch, 0)
            assert events is not None, "the whole history is held (nothing trimmed in this run)"
            state = rebuild(
                stored, config=RoomConfig(history_events=10**6), now_ms=0, types=BUILTIN_TYPES
            ).room.committed
            report = check(
                self.history,
                room=self.room,
                events=events,
                store_state=state,
                initial_state={"members": {}},
                final_states={w.member: w.handle.state for w in self.writers},
                effects=slot_effects,
            )
        finally:
            yield store.close()
            for w in self.writers:
                yield w.close()
        report.assert_ok()
        outcomes = counts(self.history)
        refusals = Counter(c.error for c in self.history.by_outcome("fail"))
        assert outcomes["fail"] == 0, f"valid actions were refused: {outcomes}, {refusals}"
        return dict(outcomes)

    @defer.inlineCallbacks
    def _quiet_store(self, store: Any):  # type: ignore[no-untyped-def]
        """The stored room once every client has caught up with it and it stopped moving."""
        quiet: list[Any] = []

        @defer.inlineCallbacks
        def caught_up():  # type: ignore[no-untyped-def]
            stored = yield store.load(self.room)
            if all(w.handle.seq == stored.seq and w.handle.epoch == stored.epoch for w in self.writers):
                again = yield store.load(self.room)
                if again.seq == stored.seq:
                    quiet.append(again)
                    return True
            return False

        try:
            yield until(caught_up, timeout=30.0, interval=0.1, what="every client at the store's seq")
        except AssertionError:
            raise AssertionError(
                f"clients {[w.handle.seq for w in self.writers]} never reached the store's seq"
            ) from None
        return quiet[0]

    def stop(self) -> None:
        if self.node is not None:
            self.node.kill()


def _store_spec(kind: str, redis: RedisServer) -> str:
    return "sqlite" if kind == "sqlite" else redis.url


@pytest.mark.parametrize(
    ("kind", "fault"),
    [("sqlite", "component"), ("sqlite", "router"), ("redis", "component"), ("redis", "router"), ("redis", "redis")],
)
@pytest_twisted.inlineCallbacks
def test_kill_9_loses_no_acknowledged_action(
    kind: str, fault: str, tmp_path: Path, crash_redis: RedisServer, record_property: Any
):
    """With 4 writers acting at ~20/s, kill -9 of the room service, the router or Redis, then
    a restart: every acknowledged action is stored at its seq, none applies twice, clients
    apply events in order and end in the stored state."""
    run = Run(tmp_path, _store_spec(kind, crash_redis), f"crash_{kind}_{fault}")
    try:
        yield run.start()
        yield until(run.each_acked(ACKS), 90)
        yield until(lambda: sum(w.inflight for w in run.writers) >= 2, 30)
        before = sum(run.acked())
        fault_at = time.monotonic()
        if fault == "component":
            os.kill(worker_pid(run.node, "rooms1"), signal.SIGKILL)  # type: ignore[arg-type]
            yield run.restart_node_after_it_exits()
        elif fault == "router":
            os.kill(worker_pid(run.node, "router1"), signal.SIGKILL)  # type: ignore[arg-type]
            yield run.restart_node_after_it_exits()
        else:
            crash_redis.kill()
            # The outage's length is part of the fault (not a wait for a result).
            yield task.deferLater(reactor, 1.5, lambda: None)
            yield threads.deferToThread(crash_redis.start)
        restarted = reactor.seconds()
        yield until(run.each_acked(1), 90)
        record_property("recovered_s", round(reactor.seconds() - restarted, 2))
        yield until(run.each_acked(ACKS), 90)
        outcomes = yield run.finish_and_check(_store_spec(kind, crash_redis))
        spanning = [c for c in run.history.calls if c.start <= fault_at and c.end is not None and c.end > fault_at]
        record_property("calls", outcomes)
        record_property("in_flight_at_fault", len(spanning))
        assert spanning, "the fault hit with actions in flight"
        assert sum(run.acked()) > before
    finally:
        run.stop()


@pytest_twisted.inlineCallbacks
def test_a_torn_aof_tail_loads_and_loses_nothing_acknowledged(tmp_path: Path, crash_redis: RedisServer):
    """Redis killed while writing its last record (a batch no caller was answered for) leaves
    a torn AOF tail: Redis loads it (dropping that whole batch), and nothing acknowledged is
    lost -- the room goes on and the checks pass."""
    run = Run(tmp_path, crash_redis.url, "crash_torn")
    try:
        yield run.start()
        yield until(run.each_acked(ACKS), 90)
        for w in run.writers:
            yield within(w.stop(), 90, reactor, "writer drain")
        # The last record: a batch for another room whose writer dies with Redis.
        from kasagi.core.room import Batch
        from kasagi.store.redis import RedisRoomStore

        side = yield RedisRoomStore.open(crash_redis.url, reactor)
        yield side.create("torn_victim", "doc", {}, 1, {"members": {}})
        yield side.append(Batch("torn_victim", 1, 1, [["set", ["a"], 1]], None, (("x", 1),)))
        yield side.append(Batch("torn_victim", 1, 2, [["set", ["a"], "x" * 200]], None, (("x", 2),)))
        yield side.close()
        crash_redis.kill()
        aof = max((p for p in crash_redis.aof_files() if p.name.endswith(".incr.aof")), key=lambda p: p.stat().st_size)
        size = aof.stat().st_size
        os.truncate(aof, size - 25)  # cut into the last record (its EXEC and part of a value)
        yield threads.deferToThread(crash_redis.start)
        log = (crash_redis.directory / "redis.log").read_text(errors="replace")
        assert "aof-load-truncated" in log or "truncated" in log.lower(), "Redis did see a torn tail"
        side = yield RedisRoomStore.open(crash_redis.url, reactor)
        victim = yield side.load("torn_victim")
        yield side.close()
        assert (victim.seq, [e["seq"] for e in victim.tail], victim.results) == (1, [1], {"x": {1: 1}}), (
            "all or nothing"
        )
        for w in run.writers:
            w.start()
        yield until(run.each_acked(ACKS), 90)
        yield run.finish_and_check(crash_redis.url)
    finally:
        run.stop()
