"""The client-side replica: strict seq order, buffering, gaps, epochs and hashes."""

from __future__ import annotations

from kasagi.core.canonical import state_hash
from kasagi.core.ops import set_op
from kasagi.core.replica import RoomReplica, Verdict


def snap(epoch=1, seq=0, state=None):
    return {"room": "r", "epoch": epoch, "seq": seq, "member": "me", "state": state if state is not None else {}}


def ev(seq, epoch=1, **kv):
    return {"epoch": epoch, "seq": seq, "ops": [set_op(["k"], seq), *[set_op([k], v) for k, v in kv.items()]]}


def test_events_before_the_first_join_reply_are_buffered_then_applied():
    """Events that arrive before the snapshot are kept and applied after it, old ones dropped."""
    r = RoomReplica("r")
    assert r.offer(ev(3)) is Verdict.BUFFERED
    assert r.offer(ev(2)) is Verdict.BUFFERED
    applied = r.load(snap(seq=2, state={"k": 2}))
    assert [e["seq"] for e in applied] == [3]
    assert r.seq == 3 and r.state == {"k": 3}


def test_gap_asks_for_resync_and_catch_up_fills_it():
    """An event past a gap is held; the catch-up reply applies the missing ones then the held one."""
    r = RoomReplica("r")
    r.load(snap())
    assert r.offer(ev(1)) is Verdict.APPLIED
    assert r.offer(ev(3)) is Verdict.RESYNC
    assert r.position is not None and r.position.seq == 1
    r.load({"room": "r", "epoch": 1, "seq": 2, "events": [ev(2)]})
    assert r.seq == 3
    assert r.offer(ev(2)) is Verdict.DROPPED


def test_new_epoch_asks_for_resync_and_older_epochs_are_dropped():
    """An event of a newer epoch means re-join; events of older epochs are ignored."""
    r = RoomReplica("r")
    r.load(snap(epoch=5))
    assert r.offer(ev(1, epoch=4)) is Verdict.DROPPED
    assert r.offer(ev(1, epoch=6)) is Verdict.RESYNC
    r.load(snap(epoch=6, seq=0))
    assert r.seq == 1 and r.epoch == 6


def test_hash_mismatch_and_malformed_events_force_a_snapshot():
    """A wrong hash or a malformed event drops the position, so the next join asks for a snapshot."""
    r = RoomReplica("r")
    r.load(snap())
    good = ev(1)
    good["hash"] = state_hash({"k": 1})
    assert r.offer(good) is Verdict.APPLIED and r.hash_checked == 1
    bad = ev(2)
    bad["hash"] = "0" * 16
    assert r.offer(bad) is Verdict.RESYNC and r.position is None
    r.load(snap(seq=2, state={"k": 2}))
    assert r.position is not None
    assert r.offer({"epoch": 1, "seq": "3"}) is Verdict.RESYNC and r.position is None
    assert r.offer(["not", "an", "event"]) is Verdict.RESYNC


def test_observers_see_each_snapshot_and_each_applied_event_in_order():
    """``on_snapshot`` and ``on_applied`` report, in order, the snapshot taken, the buffered and
    caught-up events applied after it, and no event whose hash did not match."""
    from kasagi.core.room import StreamPosition

    r = RoomReplica("r")
    seen: list[object] = []
    r.on_snapshot = seen.append
    r.on_applied = lambda event: seen.append(event["seq"])
    r.offer(ev(3))
    r.load(snap(seq=2, state={"k": 2}))
    r.offer(ev(5))
    r.load({"room": "r", "epoch": 1, "seq": 4, "events": [ev(4)]})
    bad = ev(6)
    bad["hash"] = "0" * 16
    r.offer(bad)
    assert seen == [StreamPosition(1, 2), 3, 4, 5]
