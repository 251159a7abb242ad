"""A real node on a real Redis that goes away (killed) or stops answering (paused): actions
fail fast with kasagi.error.unavailable, joins keep working, and the room recovers alone."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, threads

from kasagi import wire
from kasagi.client import KasagiClient
from kasagi.testing.redis_server import RedisServer
from tests.conftest import start_node
from tests.waiting import until

pytestmark = [pytest.mark.node, pytest.mark.redis]

DEADLINE = 2.0


@defer.inlineCallbacks
def act(client: KasagiClient, room: str, cseq: int):  # type: ignore[no-untyped-def]
    """One raw act call (no client retries): its reply or its error URI, and how long it took."""
    started = time.monotonic()
    try:
        reply = yield client.call(wire.room_procedure(room, "act"), "move", {"dx": 1, "dy": 0}, cseq, timeout=10)
    except ApplicationError as exc:
        return exc.error, time.monotonic() - started
    return reply, time.monotonic() - started


@defer.inlineCallbacks
def acts_again(client: KasagiClient, room: str, first_cseq: int, timeout: float):  # type: ignore[no-untyped-def]
    """Act until one is acknowledged (the store is back); the ack."""
    deadline = time.monotonic() + timeout
    cseq = first_cseq
    while time.monotonic() < deadline:
        outcome, _ = yield act(client, room, cseq)
        if isinstance(outcome, dict):
            return outcome
        assert outcome == wire.ErrorURI.UNAVAILABLE, outcome
        yield until(lambda: True, 1)  # next reactor turn
        cseq += 1
    raise AssertionError(f"no act acknowledged within {timeout} s")


@pytest.mark.parametrize("outage", ["killed", "paused"])
@pytest_twisted.inlineCallbacks
def test_store_outage_fails_acts_fast_keeps_joins_and_recovers(outage: str, tmp_path: Path, crash_redis: RedisServer):
    """While Redis is down (killed) or hangs (paused), an act is answered
    kasagi.error.unavailable within the store deadline, a new member still joins the loaded
    room, and once Redis is back acts are acknowledged again without any restart."""
    node = yield threads.deferToThread(
        start_node, tmp_path, service={"store": crash_redis.url, "tick": 0.01, "store_deadline": DEADLINE}
    )
    room = f"outage_{outage}"
    clients: list[Any] = []
    try:
        alice = yield KasagiClient.connect(node.url, "alice")
        clients.append(alice)
        handle = yield alice.join(room)
        ack = yield handle.act("move", {"dx": 1, "dy": 1})
        assert crash_redis.proc is not None
        if outage == "killed":
            crash_redis.kill()
        else:
            os.killpg(crash_redis.proc.pid, signal.SIGSTOP)
        outcome, took = yield act(alice, room, 10**12)
        assert outcome == wire.ErrorURI.UNAVAILABLE
        assert took < DEADLINE + 1.5, f"answered in {took:.2f} s"
        outcome, took = yield act(alice, room, 10**12 + 1)
        assert outcome == wire.ErrorURI.UNAVAILABLE and took < DEADLINE + 1.5
        bob = yield KasagiClient.connect(node.url, "bob")
        clients.append(bob)
        reply = yield bob.call(wire.room_procedure(room, "join"), None)
        assert reply["seq"] >= ack["seq"] and "alice" in reply["state"]["players"]
        if outage == "killed":
            yield threads.deferToThread(crash_redis.start)
        else:
            os.killpg(crash_redis.proc.pid, signal.SIGCONT)
        back = yield acts_again(alice, room, 10**12 + 2, 30)
        assert back["seq"] > ack["seq"]
        yield until(lambda: handle.seq >= back["seq"], 15)
    finally:
        if crash_redis.proc is not None:
            os.killpg(crash_redis.proc.pid, signal.SIGCONT)
        if not crash_redis.ping():
            crash_redis.kill()
            yield threads.deferToThread(crash_redis.start)
        for c in clients:
            yield c.close()
        node.kill()
