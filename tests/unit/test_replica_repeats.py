"""The client replica against lost, repeated and reordered events (the head beacon repeats the
last event; catch-up replies overlap with events from the topic)."""

from __future__ import annotations

from kasagi.core.replica import RoomReplica, Verdict


def _event(seq: int, key: str = "k", epoch: int = 7) -> dict:
    return {"epoch": epoch, "seq": seq, "ops": [["set", [key], seq]]}


def _replica_at(seq: int) -> RoomReplica:
    replica = RoomReplica("r1")
    replica.load({"room": "r1", "epoch": 7, "seq": seq, "member": "m", "state": {"members": {}}})
    replica.pop_applied()
    return replica


def test_a_repeated_last_event_is_applied_by_who_lost_it_and_dropped_by_who_has_it():
    """A repeat of event N is applied by a replica at N-1 and dropped by a replica at N."""
    behind, current = _replica_at(4), _replica_at(4)
    current.offer(_event(5))
    assert behind.offer(_event(5)) is Verdict.APPLIED
    assert current.offer(_event(5)) is Verdict.DROPPED
    assert behind.state == current.state and behind.seq == current.seq == 5


def test_a_repeat_after_two_lost_events_asks_for_a_catch_up():
    """A replica that lost N-1 and N sees the repeat of N as a gap and asks to resync from its position."""
    replica = _replica_at(3)
    assert replica.offer(_event(5)) is Verdict.RESYNC
    assert replica.position is not None and replica.position.seq == 3


def test_buffered_successors_are_reported_as_applied_once():
    """When a missing event arrives, it and the buffered events after it are each reported applied, once."""
    replica = _replica_at(0)
    assert replica.offer(_event(2)) is Verdict.RESYNC
    assert replica.offer(_event(3)) is Verdict.RESYNC
    assert replica.pop_applied() == []
    assert replica.offer(_event(1)) is Verdict.APPLIED
    assert [e["seq"] for e in replica.pop_applied()] == [1, 2, 3]
    assert replica.offer(_event(2)) is Verdict.DROPPED
    assert replica.pop_applied() == []


def test_a_catch_up_overlapping_the_topic_reports_each_event_once():
    """A catch-up reply holding events the topic already delivered reports only the new ones."""
    replica = _replica_at(0)
    replica.offer(_event(1))
    replica.pop_applied()
    replica.offer(_event(3))  # buffered: 2 is missing
    applied = replica.load({"room": "r1", "epoch": 7, "seq": 3, "events": [_event(1), _event(2), _event(3)]})
    assert [e["seq"] for e in applied] == [2, 3]
    assert replica.seq == 3
