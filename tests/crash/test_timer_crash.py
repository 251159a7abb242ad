"""Durable timers through kill -9: a real node serving the ``auction`` example on the embedded
(sqlite) store is killed before the auction's deadline and restarted on the same data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, threads

from kasagi.client import ClientOptions, KasagiClient
from kasagi.service.registry import wall_ms
from kasagi.store.factory import open_store
from kasagi.testing.node import NodeProcess
from tests.conftest import start_node
from tests.waiting import until

pytestmark = [pytest.mark.node]

AUCTION = "examples.auction.rooms:Auction"
ROOM = "crash_timer_auction"
#: The deadline: long enough to see the timer and kill the node before it is due.
SECONDS = 4


def sold_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events that set ``sold`` (the effect of the deadline timer)."""
    return [e for e in events if any(op[1] == ["sold"] for op in e["ops"])]


class Nodes:
    """The node under test, killed and restarted on its data dir; killed at the end."""

    def __init__(self) -> None:
        self.node: NodeProcess | None = None

    def kill(self) -> None:
        if self.node is not None:
            self.node.kill()


@pytest.fixture
def nodes() -> Iterator[Nodes]:
    held = Nodes()
    yield held
    held.kill()


@defer.inlineCallbacks
def join_auction(node: NodeProcess, member: str):  # type: ignore[no-untyped-def]
    client = yield KasagiClient.connect(node.url, member, options=ClientOptions(reconnect=False))
    room = yield client.join(ROOM, "auction", {"seconds": SECONDS})
    return client, room


@pytest_twisted.inlineCallbacks
def test_a_timer_survives_kill_9_and_fires_exactly_once_after_the_restart(tmp_path: Path, nodes: Nodes):
    """The deadline set by the first join is stored with the room: after kill -9 before it is
    due and a restart, it fires once at or after its time (one event, the winning bid sold),
    and another kill -9 and restart fire nothing more."""
    nodes.node = yield threads.deferToThread(start_node, tmp_path, service={"store": "sqlite"}, room_types=(AUCTION,))
    client, room = yield join_auction(nodes.node, "alice")
    ack = yield room.act("bid", {"amount": 5})
    yield until(lambda: room.seq >= ack["seq"] and "deadline" in room.state.get("timers", {}), 10)
    due = room.state["timers"]["deadline"]["at"]
    yield client.close()
    nodes.node.kill()
    killed_at = wall_ms()
    assert killed_at < due, f"the node was killed {killed_at - due} ms after the deadline, not before"
    assert room.state["sold"] is None

    nodes.node = yield threads.deferToThread(NodeProcess(nodes.node.options).start, 120.0)
    client, room = yield join_auction(nodes.node, "bob")
    yield until(lambda: room.state["sold"] is not None, 30)
    seen_at = wall_ms()
    sold = room.state["sold"]
    assert sold["to"] == "alice" and sold["price"] == 5
    assert due <= sold["at"] <= seen_at, (due, sold, seen_at)
    assert room.state.get("timers", {}) == {}
    yield client.close()

    nodes.node.kill()
    nodes.node = yield threads.deferToThread(NodeProcess(nodes.node.options).start, 120.0)
    client, room = yield join_auction(nodes.node, "carol")
    ack = yield room.act("bid", {"amount": 9}).addErrback(lambda f: f.value.error)
    assert ack == "kasagi.error.rejected", "the auction stays over"
    assert room.state["sold"] == sold
    yield client.close()
    nodes.node.stop()

    store = yield open_store("sqlite", reactor, data_dir=nodes.node.options.data_dir.resolve())
    try:
        stored = yield store.load(ROOM)
        events = yield store.events_since(ROOM, stored.epoch, 0)
    finally:
        yield store.close()
    assert events is not None, "the room's whole history is held"
    assert len(sold_events(events)) == 1, "the timer fired exactly once"
