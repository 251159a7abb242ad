"""The ListingStore contract, run against every implementation (memory, SQLite, Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from kasagi.lobby.interface import ListedRoom
from kasagi.lobby.memory import MemoryListingStore
from kasagi.lobby.redis import RedisListingStore
from kasagi.lobby.sqlite import SqliteListingStore
from kasagi.testing.redis_server import RedisServer

pytestmark = pytest.mark.redis

NOW = 1_700_000_000_000
TTL = 10_000
EPOCH = 1_700_000_000_000


class ListingsUnderTest:
    """Opens stores of one kind over the same data (two processes sharing it, or a restart)."""

    def __init__(self, kind: str, tmp: Path, redis: RedisServer | None) -> None:
        self.kind = kind
        self.tmp = tmp
        self.redis = redis
        self.prefix = "t" + uuid.uuid4().hex[:12]
        self._memory: MemoryListingStore | None = None
        self.opened: list[Any] = []

    def open(self) -> defer.Deferred[Any]:
        if self.kind == "memory":
            self._memory = self._memory or MemoryListingStore()
            d: defer.Deferred[Any] = defer.succeed(self._memory)
        elif self.kind == "sqlite":
            d = SqliteListingStore.open(self.tmp / "lobby.sqlite3", reactor)
        else:
            assert self.redis is not None
            d = RedisListingStore.open(self.redis.url, reactor, prefix=self.prefix)
        return d.addCallback(self._keep)

    def _keep(self, store: Any) -> Any:
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            pytest_twisted.blockon(store.close())


@pytest.fixture(params=["memory", "sqlite", "redis"])
def listings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ListingsUnderTest]:
    """Each listing store kind in turn."""
    redis = request.getfixturevalue("redis_server") if request.param == "redis" else None
    harness = ListingsUnderTest(request.param, tmp_path, redis)
    yield harness
    harness.close()


def listed(room: str, *, epoch: int = EPOCH, members: int = 0, seats: int = 4, **meta: Any) -> ListedRoom:
    return ListedRoom(room, "quad", epoch, meta or {"mode": "casual"}, members, seats)


def reserve(store: Any, member: str, criteria: dict[str, Any] | None = None, *, now: int = NOW, new: str = "") -> Any:
    new_room = new or f"new_{member}"
    return store.reserve("quad", criteria or {}, member, seats=4, now_ms=now, ttl_ms=TTL, new_room=new_room)


@pytest_twisted.inlineCallbacks
def test_a_put_listing_pages_back_in_room_order_with_its_type_only(listings: ListingsUnderTest):
    """Listed rooms come back in room-id order, per type, after the given room, as written."""
    store = yield listings.open()
    for room in ("r3", "r1", "r2"):
        yield store.put(listed(room, members=1, mode="ranked", level=3), [], NOW)
    yield store.put(ListedRoom("o1", "other", EPOCH, {}, 0, 2), [], NOW)
    page = yield store.page("quad", "", 10, NOW)
    assert [r.room for r in page] == ["r1", "r2", "r3"]
    assert page[0] == ListedRoom("r1", "quad", EPOCH, {"mode": "ranked", "level": 3}, 1, 4, 0)
    rest = yield store.page("quad", "r1", 1, NOW)
    assert [r.room for r in rest] == ["r2"]


@pytest_twisted.inlineCallbacks
def test_a_stale_owners_write_is_ignored(listings: ListingsUnderTest):
    """A put or remove at an epoch below the stored one changes nothing and says so."""
    store = yield listings.open()
    yield store.put(listed("r1", epoch=EPOCH + 5, mode="new"), [], NOW)
    assert (yield store.put(listed("r1", epoch=EPOCH, mode="old"), [], NOW)) is None
    assert (yield store.remove("r1", "quad", EPOCH)) is False
    page = yield store.page("quad", "", 10, NOW)
    assert [(r.epoch, dict(r.meta)) for r in page] == [(EPOCH + 5, {"mode": "new"})]
    assert (yield store.put(listed("r1", epoch=EPOCH + 5, mode="same"), [], NOW)) is not None
    assert (yield store.remove("r1", "quad", EPOCH + 6)) is True
    assert (yield store.page("quad", "", 10, NOW)) == []


@pytest_twisted.inlineCallbacks
def test_reservations_fill_a_fitting_room_then_make_a_placeholder(listings: ListingsUnderTest):
    """Seats go to the first fitting room with a free seat (members plus reservations), then to a new placeholder."""
    store = yield listings.open()
    yield store.put(listed("r1", members=2, mode="ranked"), [], NOW)
    yield store.put(listed("r2", members=0, mode="casual"), [], NOW)
    a = yield reserve(store, "a", {"mode": "ranked"})
    b = yield reserve(store, "b", {"mode": "ranked"})
    c = yield reserve(store, "c", {"mode": "ranked"})
    assert (a.room, a.created, b.room, b.created) == ("r1", False, "r1", False)
    assert (c.room, c.created) == ("new_c", True)
    assert c.listed == ListedRoom("new_c", "quad", 0, {"mode": "ranked"}, 0, 4, 1)
    assert b.listed.taken == 4
    assert (yield store.reservations("r1", NOW)) == {"a": NOW + TTL, "b": NOW + TTL}


@pytest_twisted.inlineCallbacks
def test_matching_again_returns_the_members_live_reservation(listings: ListingsUnderTest):
    """A member who already holds a live seat in a fitting room gets that seat again, not a second one."""
    store = yield listings.open()
    first = yield reserve(store, "a")
    again = yield reserve(store, "a", new="other")
    assert (again.room, again.created) == (first.room, False)
    assert (yield store.reservations(first.room, NOW)) == {"a": NOW + TTL}


@pytest_twisted.inlineCallbacks
def test_criteria_use_typed_equality(listings: ListingsUnderTest):
    """A criterion true never matches 1, 1 matches 1.0, null matches null, and a missing key matches nothing."""
    store = yield listings.open()
    yield store.put(listed("r1", flag=1, level=2.0, note=None), [], NOW)
    assert (yield reserve(store, "a", {"flag": True})).room == "new_a"
    assert (yield reserve(store, "b", {"level": 2})).room == "r1"
    assert (yield reserve(store, "c", {"note": None})).room == "r1"
    assert (yield reserve(store, "d", {"absent": 1})).room == "new_d"


@pytest_twisted.inlineCallbacks
def test_a_join_ends_the_reservation_and_counts_as_a_member(listings: ListingsUnderTest):
    """The owner's put with the joined members ends their reservations: the seat is counted once."""
    store = yield listings.open()
    seat = yield reserve(store, "a")
    stored = yield store.put(listed(seat.room, members=1), ["a"], NOW + 1)
    assert (stored.members, stored.reserved, stored.taken) == (1, 0, 1)
    assert (yield store.reservations(seat.room, NOW + 1)) == {}


@pytest_twisted.inlineCallbacks
def test_expired_reservations_free_their_seats_and_drop_unclaimed_placeholders(listings: ListingsUnderTest):
    """After the TTL a seat is free again, and a placeholder nobody claimed is gone."""
    store = yield listings.open()
    yield store.put(listed("r1", members=3), [], NOW)
    yield reserve(store, "a")
    assert (yield reserve(store, "b")).room == "new_b"
    later = NOW + TTL + 1
    c = yield reserve(store, "c", now=later)
    assert c.room == "r1" and c.listed.taken == 4
    rooms = [r.room for r in (yield store.page("quad", "", 10, later))]
    assert rooms == ["r1"]


@pytest_twisted.inlineCallbacks
def test_a_released_seat_is_free_and_its_empty_placeholder_gone(listings: ListingsUnderTest):
    """Releasing a reservation frees the seat; a placeholder left with none is dropped."""
    store = yield listings.open()
    seat = yield reserve(store, "a")
    yield store.release(seat.room, "quad", "a", NOW)
    assert (yield store.page("quad", "", 10, NOW)) == []


@pytest_twisted.inlineCallbacks
def test_an_owners_listing_replaces_the_placeholder_and_keeps_its_reservations(listings: ListingsUnderTest):
    """The room's first listing (its owner's epoch) replaces the placeholder's metadata; reserved seats stay taken."""
    store = yield listings.open()
    seat = yield reserve(store, "a", {"mode": "ranked"})
    yield reserve(store, "b", {"mode": "ranked"})
    stored = yield store.put(listed(seat.room, members=1, mode="ranked", level=1), ["a"], NOW)
    assert (stored.epoch, stored.members, stored.reserved) == (EPOCH, 1, 1)


@pytest_twisted.inlineCallbacks
def test_concurrent_reservations_fill_rooms_exactly(listings: ListingsUnderTest):
    """100 reservations sent at once, from two store instances, end in exactly 25 rooms of 4 seats."""
    one = yield listings.open()
    two = yield listings.open()
    seats = yield defer.gatherResults(
        [reserve(one if i % 2 else two, f"m{i:03}", new=f"room_{i:03}") for i in range(100)]
    )
    rooms: dict[str, int] = {}
    for seat in seats:
        rooms[seat.room] = rooms.get(seat.room, 0) + 1
    assert sorted(rooms.values()) == [4] * 25
    page = yield one.page("quad", "", 100, NOW)
    assert len(page) == 25 and all(r.taken == 4 for r in page)


@pytest_twisted.inlineCallbacks
def test_every_instance_reads_the_same_secret(listings: ListingsUnderTest):
    """Two instances over the same data sign with the same non-trivial secret."""
    one = yield listings.open()
    two = yield listings.open()
    a, b = yield defer.gatherResults([one.secret(), two.secret()])
    assert a == b and len(a) >= 16
