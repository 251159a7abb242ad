"""The lobby on a real node (router + room service, the embedded SQLite store) with the Python
client: 100 concurrent matchers fill exactly 25 rooms of four, listings follow live, and bad
input is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.lobby_types.matching import PATIENT, match_many
from tests.waiting import until

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def lobby_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node with the quad room type and the default embedded store."""
    from tests.conftest import start_node

    proc = start_node(tmp_path_factory.mktemp("lobby"), room_types=("tests.lobby_types:Quad",))
    yield proc
    proc.stop()


@pytest_twisted.inlineCallbacks
def test_100_concurrent_matchers_fill_exactly_25_rooms(lobby_node: NodeProcess):
    """100 members matching at once end in 25 rooms of exactly 4, listed full with no reservation left."""
    run = yield match_many([lobby_node.url], 100)
    print(
        f"single node: {len(run.rooms)} rooms, matched in {run.match_seconds:.2f} s, all in {run.total_seconds:.2f} s"
    )
    assert sorted(len(m) for m in run.rooms.values()) == [4] * 25
    assert sorted(r["room"] for r in run.listing) == sorted(run.rooms)
    assert all(r["members"] == r["max_members"] == 4 for r in run.listing), run.listing


@pytest_twisted.inlineCallbacks
def test_a_watcher_sees_a_room_listed_and_filled_live(lobby_node: NodeProcess):
    """A client watching the quad lobby sees a new room appear and its member count grow without polling."""
    watcher = yield KasagiClient.connect(lobby_node.url, "watcher", options=PATIENT)
    player = yield KasagiClient.connect(lobby_node.url, "player1", options=PATIENT)
    try:
        seen: list[dict[str, Any]] = []
        watch = yield watcher.watch("quad", seen.append)
        handle = yield player.play("quad", {"mode": "solo"})
        yield until(
            lambda: any(c["room"] == handle.room and c["members"] == 1 and c["meta"].get("count") == 1 for c in seen)
        )
        assert all(set(c) <= {"room", "type", "meta", "members", "max_members", "gone"} for c in seen)
        yield watch.stop()
    finally:
        yield watcher.close()
        yield player.close()


@pytest_twisted.inlineCallbacks
def test_bad_lobby_calls_are_refused_with_details(lobby_node: NodeProcess):
    """An unknown type, a filter on an unpublished key, a tampered cursor and private criteria are invalid_argument."""
    client = yield KasagiClient.connect(lobby_node.url, "prober", options=PATIENT)
    try:
        cases = [
            (client.list("nosuchtype"), "type"),
            (client.list("quad", {"hidden": "x"}), "filter.hidden"),
            (client.list("quad", {}, "bm90IGEgY3Vyc29y.AAAA"), "cursor"),
            (client.match("quad", {"members": ["prober"]}), "criteria.members"),
        ]
        for d, field in cases:
            with pytest.raises(ApplicationError) as info:
                yield d
            assert info.value.error == "kasagi.error.invalid_argument"
            assert info.value.kwargs["field"] == field and "expected" in info.value.kwargs
    finally:
        yield client.close()
