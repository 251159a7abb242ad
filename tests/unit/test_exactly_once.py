"""Exactly once without a window edge: results per client instance, floors, instance bounds."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kasagi.core.errors import OutcomeUnknown
from kasagi.core.restore import rebuild
from kasagi.core.room import Accepted, Applied, InFlight, Room, RoomConfig
from kasagi.core.values import copy_value
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.testing import make_room

KEEP = 64


def doc_room(**config: int) -> Room:
    room = make_room(type_name="doc", config=RoomConfig(**config))
    room.join("alice", "s1", None, 0)
    commit(room)
    return room


def commit(room: Room):
    batch = room.begin_commit()
    assert batch is not None
    room.commit_succeeded(batch, 0)
    return batch


def put(room: Room, cseq: int, value: object, instance: int = 0):
    """alice sets doc.last = value with ``cseq`` from client ``instance``."""
    args = {"path": ["last"], "value": value}
    if not instance:
        return room.act("alice", cseq, "set", args)
    return room.act("alice", cseq, "set", args, instance=instance)


def test_a_retry_after_64_newer_actions_is_refused_and_never_applied_again():
    """An act retried after 64 newer actions of the same instance gets outcome_unknown and changes nothing."""
    room = doc_room()
    for cseq in range(1, KEEP + 2):
        assert isinstance(put(room, cseq, cseq), Accepted)
        commit(room)
    seq, state = room.seq, dict(room.committed)
    assert put(room, 2, "again") == Applied(3), "the 64th back still answers with its first result"
    with pytest.raises(OutcomeUnknown) as info:
        put(room, 1, "again")
    assert (info.value.field, info.value.details()["floor"], info.value.retryable) == ("cseq", 1, False)
    assert not room.has_pending and room.seq == seq and room.committed == state


def test_a_late_cseq_below_the_window_but_above_the_floor_is_new():
    """A cseq that arrives out of order below every kept result but above the floor is applied once."""
    room = doc_room(results_per_member=3)
    for cseq in (10, 20, 30, 40):
        put(room, cseq, cseq)
        commit(room)
    assert room.floors == {"alice": 10}
    assert isinstance(put(room, 15, 15), Accepted)
    commit(room)
    assert room.floors == {"alice": 15} and sorted(room.results["alice"]) == [20, 30, 40]
    with pytest.raises(OutcomeUnknown):
        put(room, 15, 15)


def test_two_instances_of_one_member_interleave_with_overlapping_cseqs():
    """Two tabs of one member whose cseq ranges overlap both act, each exactly once, past the window."""
    room = doc_room()
    a, b = 1_700_000_000_000_001, 1_700_000_000_000_002
    for i in range(1, 3 * KEEP):
        assert isinstance(put(room, 1000 + i, f"a{i}", instance=a), Accepted)
        assert isinstance(put(room, 1000 + i, f"b{i}", instance=b), Accepted), "b's cseqs are its own"
        commit(room)
    # The other tab's much higher cseqs never push a's retries or new cseqs out.
    for i in range(1, KEEP):
        assert isinstance(put(room, 10**9 + i, i, instance=b), Accepted)
        commit(room)
    assert isinstance(put(room, 1000 + 3 * KEEP, "a next", instance=a), Accepted)
    commit(room)
    assert isinstance(put(room, 1000 + 3 * KEEP - 1, "a retry", instance=a), Applied)
    with pytest.raises(OutcomeUnknown):
        put(room, 1001, "a old", instance=a)


def test_the_default_instance_and_an_explicit_one_keep_separate_windows():
    """The same cseq from the default instance and from an explicit instance are two actions."""
    room = doc_room()
    assert isinstance(put(room, 5, "default"), Accepted)
    assert isinstance(put(room, 5, "tab", instance=7), Accepted)
    batch = commit(room)
    assert batch.acks == (("alice", 5), ("alice/7", 5))
    assert put(room, 5, "x") == Applied(batch.seq) and put(room, 5, "x", instance=7) == Applied(batch.seq)


def test_dropping_the_least_recently_used_instance_keeps_safety():
    """Past the instance limit the least recently used instance is dropped: its retries and any
    unknown instance at or below it are refused, a newer instance still works."""
    room = doc_room(instances_per_member=2)
    put(room, 1, "x", instance=100)
    commit(room)
    put(room, 1, "x", instance=200)
    commit(room)
    put(room, 2, "x", instance=100)  # 100 is now the most recently used
    commit(room)
    put(room, 1, "x", instance=300)
    batch = commit(room)
    assert batch.dropped == (("alice", 200),)
    assert "alice/200" not in room.results and room.floors["alice/"] == 200
    for instance, cseq in ((200, 1), (200, 2), (150, 1)):
        with pytest.raises(OutcomeUnknown) as info:
            put(room, cseq, "again", instance=instance)
        assert info.value.field == "instance" and info.value.details()["floor"] == 200
    assert put(room, 2, "again", instance=100) == Applied(4), "a known instance below the floor keeps working"
    assert isinstance(put(room, 1, "new", instance=201), Accepted)


def test_an_instance_dropped_by_the_batch_in_flight_is_refused_until_it_lands():
    """An act of an instance that the batch being written drops is refused, so it is never
    recorded under a forgotten instance."""
    room = doc_room(instances_per_member=1)
    put(room, 1, "x", instance=100)
    commit(room)
    put(room, 1, "x", instance=200)
    batch = room.begin_commit()
    assert batch is not None and batch.dropped == (("alice", 100),)
    with pytest.raises(OutcomeUnknown):
        put(room, 2, "x", instance=100)
    assert put(room, 1, "x", instance=200) == InFlight(("alice/200", 1))
    room.commit_succeeded(batch, 0)


def test_a_rebuilt_room_keeps_windows_and_floors():
    """A room rebuilt from its stored results and floors refuses what it refused before."""
    room = doc_room(results_per_member=2, instances_per_member=1)
    for cseq in (1, 2, 3):
        put(room, cseq, cseq, instance=10)
        commit(room)
    put(room, 1, "x", instance=20)
    commit(room)
    stored = SimpleNamespace(
        room="r1",
        type="doc",
        options={},
        epoch=room.epoch,
        seq=room.seq,
        snapshot_seq=room.seq,
        snapshot=copy_value(room.committed),
        tail=[],
        results={k: dict(v) for k, v in room.results.items()},
        floors=dict(room.floors),
    )
    again = rebuild(stored, config=room.config, now_ms=0, types=BUILTIN_TYPES).room
    again.join("alice", "s2", None, 0)
    assert again.floors == {"alice/": 10}
    with pytest.raises(OutcomeUnknown):
        put(again, 3, "x", instance=10)
    assert again.result_of("alice", 20, 1) == room.result_of("alice", 20, 1)
