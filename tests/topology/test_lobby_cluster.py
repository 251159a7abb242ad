"""Matchmaking across a cluster: 2 routers and 2 workers sharing one Redis. 100 members, half on
each router, match at once into 4-seat rooms: the reservations are atomic across the workers,
so they end in exactly 25 full rooms, each listed the same on both routers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_twisted

from kasagi.client import KasagiClient
from kasagi.testing.topology import Topology
from tests.lobby_types.matching import PATIENT, match_many

pytestmark = [pytest.mark.node, pytest.mark.redis]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """2 routers + 2 workers (serving the quad type) + a private Redis."""
    topo = Topology(
        tmp_path_factory.mktemp("lobby_cluster"), routers=2, workers=2, service={"room_type": "tests.lobby_types:Quad"}
    )
    topo.start()
    yield topo
    topo.stop()


@pytest_twisted.inlineCallbacks
def test_100_matchers_on_2_workers_fill_exactly_25_rooms(cluster: Topology):
    """100 concurrent matchers spread over 2 routers end in 25 rooms of exactly 4, with no reservation left."""
    run = yield match_many(cluster.urls, 100)
    print(f"2 workers: {len(run.rooms)} rooms, matched in {run.match_seconds:.2f} s, all in {run.total_seconds:.2f} s")
    assert sorted(len(m) for m in run.rooms.values()) == [4] * 25
    assert sorted(r["room"] for r in run.listing) == sorted(run.rooms)
    assert all(r["members"] == r["max_members"] == 4 for r in run.listing), run.listing


@pytest_twisted.inlineCallbacks
def test_both_routers_list_the_same_rooms_and_accept_each_others_cursors(cluster: Topology):
    """A page read on one router continues on the other with its cursor: one listing, one secret."""
    a = yield KasagiClient.connect(cluster.urls[0], "reader_a", options=PATIENT)
    b = yield KasagiClient.connect(cluster.urls[1], "reader_b", options=PATIENT)
    try:
        whole_a = yield a.list("quad")
        whole_b = yield b.list("quad")
        assert whole_a == whole_b
        rooms = []
        cursor = None
        for i in range(100):
            page = yield (a if i % 2 else b).list("quad", {}, cursor)
            rooms += [r["room"] for r in page["rooms"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert rooms == sorted(rooms) and len(rooms) == len(set(rooms))
    finally:
        yield a.close()
        yield b.close()
