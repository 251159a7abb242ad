"""The RoomStore contract, run against every implementation (memory, SQLite, Redis)."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer

from kasagi.core.ops import apply_ops
from kasagi.core.room import Batch
from kasagi.core.values import MAX_SAFE_INTEGER
from kasagi.store.codec import dumps
from kasagi.store.interface import CorruptRoom, RoomExists, SeqConflict, StaleEpoch, StoreLimits
from tests.contract.conftest import StoreUnderTest

pytestmark = pytest.mark.redis

EPOCH = 1_700_000_000_000
INITIAL = {"members": {}, "doc": {}}


def batch(
    room: str, seq: int, *, epoch: int = EPOCH, acks: tuple[tuple[str, int], ...] = (), value: Any = None
) -> Batch:
    """Event ``seq``: sets doc.k<seq> (and doc.last) so every event changes the state."""
    ops = [["set", ["doc", f"k{seq}"], seq if value is None else value], ["set", ["doc", "last"], seq]]
    return Batch(room, epoch, seq, ops, f"h{seq}" if seq % 4 == 0 else None, acks)


@defer.inlineCallbacks
def fill(store: Any, room: str, upto: int, start: int = 1, epoch: int = EPOCH):  # type: ignore[no-untyped-def]
    for seq in range(start, upto + 1):
        yield store.append(batch(room, seq, epoch=epoch, acks=(("alice", 1000 + seq),)))


def replay(snapshot: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    state = snapshot
    for event in events:
        apply_ops(state, event["ops"])
    return state


@pytest_twisted.inlineCallbacks
def test_created_room_loads_as_created(stores: StoreUnderTest):
    """A created room loads back with its type, options, epoch, seq 0 and state, and nothing else."""
    store = yield stores.open()
    assert (yield store.load("r1")) is None
    yield store.create("r1", "doc", {"schema": {"type": "object"}}, EPOCH, INITIAL)
    stored = yield store.load("r1")
    assert (stored.room, stored.type, stored.options) == ("r1", "doc", {"schema": {"type": "object"}})
    assert (stored.epoch, stored.seq, stored.snapshot_seq) == (EPOCH, 0, 0)
    assert stored.snapshot == INITIAL and stored.tail == [] and stored.results == {}


@pytest_twisted.inlineCallbacks
def test_create_of_a_stored_room_is_refused_and_changes_nothing(stores: StoreUnderTest):
    """Creating a room that exists fails with RoomExists and leaves the stored room as it was."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield store.append(batch("r1", 1))
    with pytest.raises(RoomExists):
        yield store.create("r1", "arena", {}, EPOCH + 1, {"players": {}})
    stored = yield store.load("r1")
    assert (stored.type, stored.epoch, stored.seq) == ("doc", EPOCH, 1)


@pytest_twisted.inlineCallbacks
def test_append_stores_event_head_and_results_together(stores: StoreUnderTest):
    """After an append the event, the new seq and the batch's cseq results are all stored."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    b = batch("r1", 1, acks=(("alice", 5), ("bob", 7), ("alice", 6)))
    yield store.append(b)
    stored = yield store.load("r1")
    assert stored.seq == 1
    assert stored.tail == [b.event]
    assert stored.results == {"alice": {5: 1, 6: 1}, "bob": {7: 1}}


@pytest_twisted.inlineCallbacks
def test_events_with_fast_path_acks_load_back_with_them(stores: StoreUnderTest):
    """An event that acknowledges fast-path inputs (``acks``) is stored, reloaded after a
    restart and served for catch-up with its ``acks`` (a reload must not find it damaged)."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    b = Batch("r1", EPOCH, 1, [["set", ["doc", "k"], 1]], None, (("alice", 5), ("bob", 7)), {"alice": [5], "bob": [7]})
    yield store.append(b)
    store = yield stores.reopen()
    stored = yield store.load("r1")
    assert stored.tail == [b.event] and stored.tail[0]["acks"] == {"alice": [5], "bob": [7]}
    assert (yield store.events_since("r1", EPOCH, 0)) == [b.event]


@pytest_twisted.inlineCallbacks
def test_events_with_private_ops_and_view_hashes_load_back_with_them(stores: StoreUnderTest):
    """An event of a room with private state (private ops, and the hash of each member's view
    in ``hashes``) is stored, reloaded after a restart and served for catch-up whole: a reload,
    or another worker taking the room over, must not find it damaged."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    ops = [["set", ["private", "alice", "secret"], 7], ["set", ["doc", "k"], 1]]
    b = Batch("r1", EPOCH, 1, ops, "public", (("alice", 5),), hashes={"alice": "alices-view"})
    yield store.append(b)
    store = yield stores.reopen()
    stored = yield store.load("r1")
    assert stored.tail == [b.event] and stored.tail[0]["hashes"] == {"alice": "alices-view"}
    assert (yield store.events_since("r1", EPOCH, 0)) == [b.event]


@pytest_twisted.inlineCallbacks
def test_epoch_fence_refuses_a_stale_owner(stores: StoreUnderTest):
    """An append from another epoch fails with StaleEpoch and stores nothing."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield store.append(batch("r1", 1))
    with pytest.raises(StaleEpoch):
        yield store.append(batch("r1", 2, epoch=EPOCH - 1, acks=(("mallory", 1),)))
    stored = yield store.load("r1")
    assert stored.seq == 1 and len(stored.tail) == 1 and "mallory" not in stored.results


@pytest_twisted.inlineCallbacks
def test_seq_fence_refuses_late_duplicates_and_gaps(stores: StoreUnderTest):
    """A late duplicate of an applied batch, or a batch that skips a seq, is refused (SeqConflict)
    and changes nothing: a write that arrives after its caller gave up can't apply twice."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    first = batch("r1", 1, acks=(("alice", 1),))
    yield store.append(first)
    with pytest.raises(SeqConflict):
        yield store.append(first)  # the same write, delivered again
    with pytest.raises(SeqConflict):
        yield store.append(batch("r1", 1, acks=(("bob", 9),), value="other"))  # a rival seq 1
    with pytest.raises(SeqConflict):
        yield store.append(batch("r1", 3))  # a gap
    stored = yield store.load("r1")
    assert stored.seq == 1 and stored.tail == [first.event]
    assert stored.results == {"alice": {1: 1}}


@pytest_twisted.inlineCallbacks
def test_results_keep_the_last_n_per_member_oldest_first(stores: StoreUnderTest):
    """Each member keeps its last N results, oldest first; ids and cseqs come back exactly
    (a member called "007" stays "007", cseqs up to 2**53 - 1 stay exact)."""
    store = yield stores.open(StoreLimits(results_per_member=3))
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    big = MAX_SAFE_INTEGER
    yield store.append(batch("r1", 1, acks=(("007", 1), ("007", 2))))
    yield store.append(batch("r1", 2, acks=(("007", big - 2), ("1e3", 5))))
    yield store.append(batch("r1", 3, acks=(("007", big - 1), ("007", big))))
    stored = yield store.load("r1")
    assert list(stored.results) == ["007", "1e3"] or set(stored.results) == {"007", "1e3"}
    assert list(stored.results["007"].items()) == [(big - 2, 2), (big - 1, 3), (big, 3)]
    assert stored.results["1e3"] == {5: 2}


@pytest_twisted.inlineCallbacks
def test_snapshot_plus_tail_reloads_exactly_after_a_restart(stores: StoreUnderTest):
    """After a restart the room loads as the latest snapshot plus exactly the events after it,
    and replaying them gives the state at the head."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield fill(store, "r1", 12)
    events = yield store.events_since("r1", EPOCH, 0)
    at7 = replay({"members": {}, "doc": {}}, events[:7])
    yield store.save_snapshot("r1", EPOCH, 7, at7)
    store = yield stores.reopen()
    stored = yield store.load("r1")
    assert (stored.epoch, stored.seq, stored.snapshot_seq) == (EPOCH, 12, 7)
    assert stored.snapshot == at7
    assert [e["seq"] for e in stored.tail] == list(range(8, 13))
    assert stored.tail == events[7:]
    assert replay(stored.snapshot, stored.tail) == replay({"members": {}, "doc": {}}, events)
    assert stored.results["alice"][1000 + 12] == 12
    yield store.append(batch("r1", 13))  # seq continues after the restart


@pytest_twisted.inlineCallbacks
def test_an_older_snapshot_never_replaces_a_newer_one(stores: StoreUnderTest):
    """Saving a snapshot older than the stored one (a late write) keeps the newer one."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield fill(store, "r1", 6)
    yield store.save_snapshot("r1", EPOCH, 5, {"at": 5})
    yield store.save_snapshot("r1", EPOCH, 3, {"at": 3})
    stored = yield store.load("r1")
    assert (stored.snapshot_seq, stored.snapshot) == (5, {"at": 5})
    with pytest.raises(StaleEpoch):
        yield store.save_snapshot("r1", EPOCH + 1, 6, {"at": 6})


@pytest_twisted.inlineCallbacks
def test_history_is_trimmed_to_the_window_never_past_the_snapshot(stores: StoreUnderTest):
    """Snapshots trim events older than both the count and the age window, oldest first,
    never an event the snapshot does not cover; events_since then says what it no longer holds."""
    store = yield stores.open(StoreLimits(history_events=5, history_seconds=10.0, hard_cap=1000))
    now = stores.now
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield fill(store, "r1", 10)  # stored at t0
    now.ms += 20_000  # 20 s later
    yield fill(store, "r1", 20, start=11)
    # Snapshot at 8: only events <= 8 may go, and only those outside the count window (<= 15).
    yield store.save_snapshot("r1", EPOCH, 8, {"at": 8})
    assert (yield store.events_since("r1", EPOCH, 7)) is None
    held = yield store.events_since("r1", EPOCH, 8)
    assert [e["seq"] for e in held] == list(range(9, 21))
    # Snapshot at 18: the old events (t0) up to 15 go; 11..15 are young, so they stay.
    yield store.save_snapshot("r1", EPOCH, 18, {"at": 18})
    assert (yield store.events_since("r1", EPOCH, 9)) is None
    held = yield store.events_since("r1", EPOCH, 10)
    assert [e["seq"] for e in held] == list(range(11, 21))
    # Once those are old too, the count window (last 5) is what remains.
    now.ms += 20_000
    yield store.save_snapshot("r1", EPOCH, 18, {"at": 18})
    assert (yield store.events_since("r1", EPOCH, 14)) is None
    assert [e["seq"] for e in (yield store.events_since("r1", EPOCH, 15))] == [16, 17, 18, 19, 20]
    store = yield stores.reopen()
    stored = yield store.load("r1")
    assert (stored.snapshot_seq, [e["seq"] for e in stored.tail]) == (18, [19, 20])


@pytest_twisted.inlineCallbacks
def test_hard_cap_bounds_history_whatever_its_age(stores: StoreUnderTest):
    """However young, no more than the hard cap of events before the snapshot is kept."""
    store = yield stores.open(StoreLimits(history_events=2, history_seconds=3600.0, hard_cap=4))
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield fill(store, "r1", 10)
    yield store.save_snapshot("r1", EPOCH, 10, {"at": 10})
    assert (yield store.events_since("r1", EPOCH, 5)) is None
    assert [e["seq"] for e in (yield store.events_since("r1", EPOCH, 6))] == [7, 8, 9, 10]


@pytest_twisted.inlineCallbacks
def test_history_is_trimmed_to_the_byte_budget_never_past_the_snapshot(stores: StoreUnderTest):
    """However young and few, the oldest events whose bytes put the history over its byte
    budget are trimmed at a snapshot -- never one the snapshot does not cover -- and the room
    still reloads as its snapshot plus every event after it."""
    sizes = {seq: len(dumps(batch("r1", seq, value="x" * 1000).event).encode("utf-8")) for seq in range(1, 21)}
    budget = sum(sizes[seq] for seq in range(13, 21)) + 10  # events 13..20 fit, 12..20 do not
    limits = StoreLimits(history_events=1000, history_seconds=3600.0, hard_cap=1000, history_bytes=budget)
    store = yield stores.open(limits)
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    for seq in range(1, 21):
        yield store.append(batch("r1", seq, value="x" * 1000))
    # Snapshot at 10: the budget would keep 13..20, but 11..20 are not covered.
    yield store.save_snapshot("r1", EPOCH, 10, {"at": 10})
    assert (yield store.events_since("r1", EPOCH, 9)) is None
    assert [e["seq"] for e in (yield store.events_since("r1", EPOCH, 10))] == list(range(11, 21))
    stored = yield stores.reopen().addCallback(lambda s: s.load("r1"))
    assert (stored.snapshot_seq, [e["seq"] for e in stored.tail]) == (10, list(range(11, 21)))
    # Snapshot at 20: the budget is what remains.
    yield stores.store.save_snapshot("r1", EPOCH, 20, {"at": 20})
    assert (yield stores.store.events_since("r1", EPOCH, 11)) is None
    assert [e["seq"] for e in (yield stores.store.events_since("r1", EPOCH, 12))] == list(range(13, 21))
    stored = yield stores.reopen().addCallback(lambda s: s.load("r1"))
    assert (stored.seq, stored.snapshot_seq, stored.snapshot, stored.tail) == (20, 20, {"at": 20}, [])


@pytest_twisted.inlineCallbacks
def test_an_event_larger_than_the_byte_budget_goes_once_a_snapshot_covers_it(stores: StoreUnderTest):
    """An event bigger than the whole byte budget is kept until a snapshot covers it, then
    trimmed with everything before it."""
    store = yield stores.open(StoreLimits(history_events=1000, history_seconds=3600.0, history_bytes=500))
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield fill(store, "r1", 3)
    yield store.append(batch("r1", 4, value="y" * 2000))
    yield store.save_snapshot("r1", EPOCH, 3, {"at": 3})
    assert [e["seq"] for e in (yield store.events_since("r1", EPOCH, 3))] == [4]
    yield store.save_snapshot("r1", EPOCH, 4, {"at": 4})
    assert (yield store.events_since("r1", EPOCH, 3)) is None
    assert (yield store.events_since("r1", EPOCH, 4)) == []
    stored = yield store.load("r1")
    assert (stored.snapshot_seq, stored.tail) == (4, [])


@pytest_twisted.inlineCallbacks
def test_events_since_answers_only_what_it_holds_in_full(stores: StoreUnderTest):
    """events_since returns every event after a position in order, [] at the head, and None
    for a future seq, another epoch or an unknown room."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield fill(store, "r1", 5)
    assert [e["seq"] for e in (yield store.events_since("r1", EPOCH, 0))] == [1, 2, 3, 4, 5]
    assert [e["seq"] for e in (yield store.events_since("r1", EPOCH, 3))] == [4, 5]
    assert (yield store.events_since("r1", EPOCH, 5)) == []
    assert (yield store.events_since("r1", EPOCH, 6)) is None
    assert (yield store.events_since("r1", EPOCH + 1, 2)) is None
    assert (yield store.events_since("nope", EPOCH, 0)) is None
    assert (yield store.events_since("r1", EPOCH, 4)) == [batch("r1", 5, acks=(("alice", 1005),)).event]


@pytest_twisted.inlineCallbacks
def test_set_epoch_restarts_history_and_fences_the_old_epoch(stores: StoreUnderTest):
    """A new epoch keeps the given state and seq, drops events and later results, and from
    then on refuses writes of the old epoch."""
    store = yield stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield fill(store, "r1", 6)
    with pytest.raises(StaleEpoch):
        yield store.set_epoch("r1", EPOCH + 5, EPOCH + 6, 4, {"at": 4})
    yield store.set_epoch("r1", EPOCH, EPOCH + 10, 4, {"at": 4})
    stored = yield store.load("r1")
    assert (stored.epoch, stored.seq, stored.snapshot_seq, stored.snapshot, stored.tail) == (
        EPOCH + 10,
        4,
        4,
        {"at": 4},
        [],
    )
    assert stored.results == {"alice": {1001: 1, 1002: 2, 1003: 3, 1004: 4}}
    with pytest.raises(StaleEpoch):
        yield store.append(batch("r1", 5))
    yield store.append(batch("r1", 5, epoch=EPOCH + 10))
    assert [e["seq"] for e in (yield store.events_since("r1", EPOCH + 10, 4))] == [5]
    assert (yield store.events_since("r1", EPOCH, 4)) is None


@pytest_twisted.inlineCallbacks
def test_concurrent_appends_to_many_rooms_all_land(stores: StoreUnderTest):
    """Appends to 20 rooms in flight at once (grouped into shared commits where the store
    does so) all succeed and each room ends at its own seq."""
    store = yield stores.open()
    rooms = [f"c{i}" for i in range(20)]
    yield defer.gatherResults([store.create(r, "doc", {}, EPOCH, INITIAL) for r in rooms])
    for seq in range(1, 6):
        yield defer.gatherResults([store.append(batch(r, seq, acks=((r, seq),))) for r in rooms])
    loaded = yield defer.gatherResults([store.load(r) for r in rooms])
    assert [s.seq for s in loaded] == [5] * 20
    assert all(s.results == {r: {i: i for i in range(1, 6)}} for r, s in zip(rooms, loaded, strict=True))


@pytest_twisted.inlineCallbacks
def test_one_fenced_append_does_not_fail_the_others_in_flight(stores: StoreUnderTest):
    """A stale append sent together with good ones fails alone."""
    store = yield stores.open()
    yield defer.gatherResults([store.create(r, "doc", {}, EPOCH, INITIAL) for r in ("a", "b", "c")])
    outcomes = yield defer.DeferredList(
        [store.append(batch("a", 1)), store.append(batch("b", 2)), store.append(batch("c", 1))], consumeErrors=True
    )
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert outcomes[1][1].check(SeqConflict)
    loaded = yield defer.gatherResults([store.load(r) for r in ("a", "b", "c")])
    assert [s.seq for s in loaded] == [1, 0, 1]


@pytest_twisted.inlineCallbacks
def test_long_histories_load_whole(stores: StoreUnderTest):
    """A room with 2,500 events after its snapshot (written all in flight at once) loads with
    every one of them in order, and events_since returns all of them (stores that read in
    chunks stitch them together)."""
    store = yield stores.open(StoreLimits(history_events=10_000))
    yield store.create("long", "doc", {}, EPOCH, INITIAL)
    yield defer.gatherResults([store.append(batch("long", seq)) for seq in range(1, 2501)])
    stored = yield store.load("long")
    assert stored.seq == 2500 and [e["seq"] for e in stored.tail] == list(range(1, 2501))
    since = yield store.events_since("long", EPOCH, 1)
    assert [e["seq"] for e in since] == list(range(2, 2501))
    yield store.save_snapshot("long", EPOCH, 1200, {"at": 1200})
    stored = yield store.load("long")
    assert [e["seq"] for e in stored.tail] == list(range(1201, 2501))


# -- bad data --------------------------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_a_damaged_snapshot_is_reported_and_left_alone(durable_stores: StoreUnderTest):
    """A snapshot that is not valid JSON makes load fail with CorruptRoom naming the room and
    the problem; other rooms load, and a create can't overwrite the damaged room."""
    store = yield durable_stores.open()
    yield store.create("bad", "doc", {}, EPOCH, INITIAL)
    yield store.create("good", "doc", {}, EPOCH, INITIAL)
    yield store.append(batch("good", 1))
    durable_stores.corrupt_snapshot("bad", '{"members": {}, "doc": ')
    with pytest.raises(CorruptRoom) as info:
        yield store.load("bad")
    assert info.value.room == "bad" and "snapshot" in str(info.value) and "JSON" in str(info.value)
    assert (yield store.load("good")).seq == 1
    with pytest.raises(RoomExists):
        yield store.create("bad", "doc", {}, EPOCH + 1, INITIAL)
    with pytest.raises(CorruptRoom):
        yield store.load("bad")  # still there, still reported


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ("not json", "not valid JSON"),
        ('{"epoch": 1, "seq": 2, "ops": []}', "epoch"),
        ({"epoch": EPOCH, "seq": 2, "ops": [["mv", ["a"], 1]]}, "not a set or del op"),
        ({"epoch": EPOCH, "seq": 2, "ops": [["set", ["doc", "x"], float("nan")]]}, "NaN"),
        ({"epoch": EPOCH, "seq": 2, "ops": [["set", ["doc", "x"], 2**60]]}, "2**53"),
        ({"epoch": EPOCH, "seq": 2, "ops": [], "acks": {"alice": ["1"]}}, "acks"),
        ({"epoch": EPOCH, "seq": 2, "ops": [], "hashes": {"alice": 1}}, "view hashes"),
        ({"epoch": EPOCH, "seq": 2, "ops": [], "who": 1}, "unknown keys"),
    ],
)
@pytest_twisted.inlineCallbacks
def test_stored_events_that_fail_validation_are_reported(durable_stores: StoreUnderTest, event: Any, problem: str):
    """A stored event that Kasagi could not have written fails the load with CorruptRoom
    naming the room, the event and the problem."""
    store = yield durable_stores.open()
    yield store.create("bad", "doc", {}, EPOCH, INITIAL)
    yield fill(store, "bad", 3)
    durable_stores.corrupt_event("bad", 2, event)
    with pytest.raises(CorruptRoom) as info:
        yield store.load("bad")
    assert info.value.room == "bad"
    assert "event 2" in info.value.problem and problem in info.value.problem


@pytest_twisted.inlineCallbacks
def test_a_conflicting_stray_event_makes_the_append_fail_as_a_whole(durable_stores: StoreUnderTest):
    """If storing the event fails (a stray event already holds its seq), neither the head nor
    the results change: the batch is all or nothing."""
    store = yield durable_stores.open()
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    yield store.append(batch("r1", 1, acks=(("alice", 1),)))
    stray = f'{{"epoch": {EPOCH}, "seq": 2, "ops": []}}'
    if durable_stores.kind == "sqlite":
        durable_stores.sql("INSERT INTO events (room, seq, t_ms, event) VALUES ('r1', 2, 0, ?)", stray)
    else:
        durable_stores.redis_cli("XADD", durable_stores.key("r1", "events"), "2-0", "e", stray, "t", "0")
    with pytest.raises(CorruptRoom):
        yield store.append(batch("r1", 2, acks=(("alice", 2),)))
    if durable_stores.kind == "sqlite":
        assert durable_stores.sql("SELECT seq FROM rooms WHERE room = 'r1'") == [(1,)]
        assert durable_stores.sql("SELECT cseq FROM results WHERE room = 'r1'") == [(1,)]
    else:
        assert durable_stores.redis_cli("HGET", durable_stores.key("r1", "head"), "seq").strip() == "1"
        assert durable_stores.redis_cli("HGET", durable_stores.key("r1", "results"), "alice").strip() == "1:1"


@pytest_twisted.inlineCallbacks
def test_results_keep_the_highest_cseqs_and_their_floors_across_a_restart(stores: StoreUnderTest):
    """Each producer keeps its highest N cseqs (the lowest dropped first, remembered in its
    floor); a dropped client instance is forgotten and its member's instance floor raised; a
    restart and a new epoch keep windows and floors as they were."""
    store = yield stores.open(StoreLimits(results_per_member=2))
    yield store.create("r1", "doc", {}, EPOCH, INITIAL)
    big = MAX_SAFE_INTEGER
    yield store.append(batch("r1", 1, acks=(("alice", 30), ("alice/7", big - 1))))
    yield store.append(batch("r1", 2, acks=(("alice", 10), ("alice/7", big), ("alice/9", 1))))
    yield store.append(batch("r1", 3, acks=(("alice", 20), ("alice/7", big - 2))))
    yield store.append(Batch("r1", EPOCH, 4, [], None, (("alice/11", 4),), dropped=(("alice", 9),)))
    store = yield stores.reopen()
    stored = yield store.load("r1")
    assert stored.results == {"alice": {20: 3, 30: 1}, "alice/7": {big - 1: 1, big: 2}, "alice/11": {4: 4}}
    assert stored.floors == {"alice": 10, "alice/7": big - 2, "alice/": 9}
    yield store.set_epoch("r1", EPOCH, EPOCH + 1, 2, INITIAL)
    stored = yield store.load("r1")
    assert stored.results == {"alice": {30: 1}, "alice/7": {big - 1: 1, big: 2}}
    assert stored.floors == {"alice": 10, "alice/7": big - 2, "alice/": 9}
