"""History kept by bytes (per room and per process), catch-ups sized from the history's
index, and the event limit of an action (``docs/protocol.md``, Limits)."""

from __future__ import annotations

from typing import Any

import pytest

from kasagi.core.errors import RateLimited, Rejected
from kasagi.core.history import DeltaLog, HistoryBudget
from kasagi.core.replies import CatchUp, Snapshot
from kasagi.core.room import Room, RoomConfig, StreamPosition
from kasagi.core.size import json_size
from kasagi.testing import make_room


def event(seq: int, text: str = "x" * 90) -> dict[str, Any]:
    return {"epoch": 1, "seq": seq, "ops": [["set", ["k"], text]]}


SIZE = json_size(event(1))


def test_a_room_history_keeps_its_newest_events_within_its_byte_limit():
    """With room for three events' bytes, a log of ten keeps the newest three, however many
    events its count window would allow."""
    log = DeltaLog(max_events=1000, min_age_ms=120_000, max_bytes=3 * SIZE + 1)
    log.extend((event(s) for s in range(1, 11)), now_ms=0)
    assert (log.first_seq, log.last_seq, log.bytes) == (8, 10, 3 * SIZE + 1)
    assert log.bytes_since(7) == 3 * SIZE + 1 and log.bytes_since(9) == SIZE + 1 and log.bytes_since(6) is None


def test_an_event_alone_over_the_byte_limit_is_still_kept_as_the_newest():
    """The newest event stays even when it alone is bigger than the limit (a single missed
    event is the catch-up that matters most)."""
    log = DeltaLog(max_bytes=10)
    log.extend([event(1), event(2)], now_ms=0)
    assert (log.first_seq, log.last_seq) == (2, 2)


def test_the_rooms_of_a_process_share_a_budget_and_the_oldest_events_of_the_process_go_first():
    """Two rooms under one budget of four events: past it, the oldest events of either room
    are dropped, each log staying contiguous; clearing a room gives its bytes back."""
    budget = HistoryBudget(4 * SIZE)
    a, b = DeltaLog(), DeltaLog()
    a.use_budget(budget)
    b.use_budget(budget)
    a.extend([event(1), event(2)], now_ms=0)
    b.extend([event(1), event(2), event(3)], now_ms=0)
    assert (a.first_seq, b.first_seq, budget.bytes, budget.dropped) == (2, 1, 4 * SIZE, 1)
    a.append(event(3), now_ms=0)
    assert (a.first_seq, a.last_seq, b.first_seq) == (3, 3, 1)
    b.clear()
    assert (budget.bytes, budget.events) == (SIZE, 1)


def test_a_log_that_joins_a_budget_brings_its_events_with_it():
    """Events held before a log uses the process's budget are counted in it."""
    log = DeltaLog()
    log.extend([event(1), event(2)], now_ms=0)
    budget = HistoryBudget(0)
    log.use_budget(budget)
    assert (budget.bytes, budget.events, len(log)) == (2 * SIZE, 2, 2)


def test_stale_entries_of_a_budget_are_compacted_away():
    """A log trimming itself by count leaves entries in the budget's order that are dropped in
    bulk: the budget's bookkeeping stays proportional to what the logs hold."""
    budget = HistoryBudget(0)
    log = DeltaLog(max_events=2, min_age_ms=0, hard_cap=2)
    log.use_budget(budget)
    log.extend((event(s) for s in range(1, 1001)), now_ms=0)
    assert budget.events == 2 and len(budget._order) <= 2 * 2 + 65


def _room_with_history(config: RoomConfig) -> Room:
    room = make_room(type_name="doc", config=config)
    room.join("alice", "s1", None, 0)
    for cseq in range(1, 6):
        if cseq > 1:
            room.act("alice", cseq, "set", {"path": ["k"], "value": "v" * 1000})
        batch = room.begin_commit()
        assert batch is not None
        room.commit_succeeded(batch, 0)
    return room


def test_a_catch_up_over_the_limit_is_answered_with_a_snapshot_without_being_built():
    """A join(since) whose events the history holds but whose bytes (from the index) exceed
    the catch-up limit gets a snapshot; the events are never gathered."""
    room = _room_with_history(RoomConfig(max_catchup_bytes=2500))

    def gathered(seq: int) -> None:
        raise AssertionError("the catch-up was built")

    assert isinstance(room.catch_up("alice", StreamPosition(room.epoch, room.seq - 2)), CatchUp)
    room.history.since = gathered  # type: ignore[method-assign]
    assert isinstance(room.catch_up("alice", StreamPosition(room.epoch, room.seq - 4)), Snapshot)


def test_a_position_before_events_dropped_for_bytes_may_not_be_served_from_the_store():
    """Once the history dropped an event for its byte limit (no smaller than the catch-up
    limit), a join from before it is known too big: the store is not asked for it."""
    room = _room_with_history(RoomConfig(max_catchup_bytes=2500, history_max_bytes=2500))
    first = room.history.first_seq
    assert first is not None and first > 1
    assert not room.may_catch_up_from(first - 2)
    assert room.may_catch_up_from(first - 1)


def test_an_action_whose_change_is_over_the_event_limit_is_refused_and_changes_nothing():
    """An action whose ops alone are over the event limit is refused with rejected, field
    ops, naming the limit and the size; the state and the pending batch are untouched."""
    room = make_room(type_name="doc", config=RoomConfig(max_event_bytes=1000))
    room.join("alice", "s1", None, 0)
    before = dict(room.state)
    with pytest.raises(Rejected) as info:
        room.act("alice", 1, "set", {"path": ["big"], "value": "v" * 2000})
    details = info.value.details()
    assert details["field"] == "ops" and "1000" in details["expected"] and details["got"].endswith("bytes")
    assert room.state == before


def test_an_action_that_would_overfill_the_next_event_is_retried_into_a_later_one():
    """Two actions that each fit but not together: the second is refused with rate_limited
    (retryable), nothing applied, and the same cseq is accepted once the first is committed."""
    room = make_room(type_name="doc", config=RoomConfig(max_event_bytes=1500))
    room.join("alice", "s1", None, 0)
    room.act("alice", 1, "set", {"path": ["a"], "value": "v" * 1000})
    with pytest.raises(RateLimited) as info:
        room.act("alice", 2, "set", {"path": ["b"], "value": "v" * 1000})
    assert info.value.details()["retryable"] is True and "b" not in room.state
    batch = room.begin_commit()
    assert batch is not None
    room.commit_succeeded(batch, 0)
    room.act("alice", 2, "set", {"path": ["b"], "value": "v" * 1000})
    assert "b" in room.state


def test_history_holds_nothing_the_garbage_collector_walks_and_gives_back_equal_events():
    """A history of 2,000 events with nested ops adds (almost) no object the garbage collector
    tracks (a full collection's pause grows with them), and a catch-up gets back events equal
    to those appended, its own copies."""
    import gc

    def nested(seq: int) -> dict[str, Any]:
        return {
            "epoch": 1,
            "seq": seq,
            "ops": [["set", ["players", f"m{seq % 4}"], {"x": seq, "y": -seq, "t": seq / 3, "tag": "é\ud83d"}]],
            "acks": {f"m{seq % 4}": seq},
        }

    log = DeltaLog(max_events=5000, hard_cap=5000)
    gc.collect()
    before = len(gc.get_objects())
    for seq in range(1, 2001):
        log.append(nested(seq), now_ms=0)
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    got = log.since(1997)
    assert got == [nested(s) for s in (1998, 1999, 2000)]
    got[0]["ops"].clear()
    assert log.since(1997) == [nested(s) for s in (1998, 1999, 2000)]
