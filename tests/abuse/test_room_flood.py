"""One member opening room after room can't fill the room service: its live rooms are capped,
other members keep opening rooms, and idle rooms are unloaded so the member's quota and the
process's room count come back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor, task

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.security.nodes import start

pytestmark = pytest.mark.node

#: Seconds an empty room stays loaded on this node.
IDLE = 2.0


@pytest.fixture(scope="module")
def flood_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    service = {
        "store": "memory",
        "tick": 0.005,
        "room_idle": IDLE,
        "max_rooms": 150,
        "open_rate": 10_000.0,
        "open_burst": 10_000.0,
    }
    proc = start(tmp_path_factory.mktemp("flood"), secret=None, loglevel="info", service=service)
    yield proc
    proc.stop()


@defer.inlineCallbacks
def opens(client: KasagiClient, rooms: list[str]):  # type: ignore[no-untyped-def]
    """The reply or the ApplicationError of opening each room, in order."""
    results = yield defer.DeferredList([client.open(room) for room in rooms], consumeErrors=True)
    return [r if ok else r.value for ok, r in results]


@pytest_twisted.inlineCallbacks
def test_one_member_opening_many_rooms_fills_neither_the_process_nor_its_quota_for_long(flood_node: NodeProcess):
    """Of 300 rooms opened by one member 100 open and the rest get kasagi.error.full naming rooms_per_member;
    another member still opens a room; once the idle rooms unloaded, the flooder opens 100 fresh rooms again."""
    flooder = yield KasagiClient.connect(flood_node.url, "flooder")
    other = yield KasagiClient.connect(flood_node.url, "other")
    try:
        first = yield opens(flooder, [f"flood{i}" for i in range(300)])
        refused = [r for r in first if isinstance(r, ApplicationError)]
        assert len(first) - len(refused) == 100
        assert {(e.error, e.kwargs.get("field")) for e in refused} == {("kasagi.error.full", "rooms_per_member")}
        yield other.open("innocent")
        # The idle sweep runs every room_idle / 4: the rooms are gone within about 1.25 room_idle.
        deadline = reactor.seconds() + IDLE * 10
        todo = [f"fresh{i}" for i in range(100)]
        while todo:
            results = yield opens(flooder, todo)
            # While the old rooms unload, an open waits for the member's quota or, for a room whose
            # unloading has begun but not ended, for the process's room slots.
            fields = {r.kwargs.get("field") for r in results if isinstance(r, ApplicationError)}
            assert fields <= {"rooms_per_member", "rooms"}, fields
            todo = [room for room, r in zip(todo, results, strict=True) if isinstance(r, ApplicationError)]
            assert reactor.seconds() < deadline, f"{len(todo)} of the flooder's rooms were never unloaded"
            yield task.deferLater(reactor, 0.25, lambda: None)
        reopened = yield other.open("flood0")
        assert reopened["seq"] >= 0  # loaded again from the store
    finally:
        yield flooder.close()
        yield other.close()
