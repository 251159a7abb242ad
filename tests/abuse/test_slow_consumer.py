"""A client that stops reading in a busy room is dropped once the router holds more than its
outgoing buffer limit for it; the router's memory stays bounded and other clients carry on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.abuse.rawclient import closed_by_peer, stalled_subscriber
from tests.security.nodes import start

pytestmark = pytest.mark.node

#: Each event carries about this many bytes (a 15 KB string set in a doc room).
BLOB = "x" * 15_000
#: Seconds the busy room is driven; the heartbeat alone would drop the stalled client after ~20 s.
DRIVE = 12.0


@pytest.fixture(scope="module")
def busy_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    service = {"store": "memory", "tick": 0.005, "action_rate": 1000.0, "action_burst": 1000.0}
    proc = start(tmp_path_factory.mktemp("slow"), secret=None, loglevel="info", service=service)
    yield proc
    proc.stop()


def _log(node: NodeProcess) -> str:
    return "".join(p.read_text(errors="replace") for p in Path(node.options.data_dir).rglob("*.log"))


@pytest_twisted.inlineCallbacks
def test_a_client_that_stops_reading_is_dropped_and_the_router_stays_bounded(busy_node: NodeProcess):
    """In a room publishing ~3 MB/s, a subscriber that never reads is disconnected within seconds (before the
    heartbeat would), the node grows by less than 64 MiB, and a watcher keeps up with every event."""
    busy = yield KasagiClient.connect(busy_node.url, "busy")
    watcher = yield KasagiClient.connect(busy_node.url, "watcher")
    stalled = None
    try:
        room = yield busy.join("slowroom", "doc")
        seen = yield watcher.join("slowroom", "doc")
        stalled = stalled_subscriber(busy_node.options.port, "stalled", "kasagi.room.slowroom")
        rss_before = busy_node.rss()
        peak = rss_before
        deadline = reactor.seconds() + DRIVE
        cseq = 0
        while reactor.seconds() < deadline:
            cseq += 1
            acks = [room.act("set", {"path": [f"k{i}"], "value": BLOB + str(cseq)}) for i in range(10)]
            yield defer.gatherResults(acks)
            peak = max(peak, busy_node.rss())
            yield task.deferLater(reactor, 0.02, lambda: None)
        last = room.seq
        yield _until(lambda: seen.seq >= last, 10)
        assert seen.state == room.state, "the watcher is in sync"
        assert closed_by_peer(stalled, timeout=1), "the stalled client was disconnected"
        growth = (peak - rss_before) / 2**20
        assert growth < 64, f"the node grew by {growth:.0f} MiB while the client stalled"
    finally:
        if stalled is not None:
            stalled.close()
        yield busy.close()
        yield watcher.close()


@defer.inlineCallbacks
def _until(predicate, timeout: float):  # type: ignore[no-untyped-def]
    end = reactor.seconds() + timeout
    while not predicate():
        assert reactor.seconds() < end, "condition not met in time"
        yield task.deferLater(reactor, 0.05, lambda: None)
