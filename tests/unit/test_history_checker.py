"""The history checker finds each kind of invariant violation, and passes a clean history."""

from __future__ import annotations

from kasagi.store.interface import StoredRoom
from kasagi.testing.history import History, check, check_failover, effect_key


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.01
        return self.t


def _ev(seq: int, *keys: tuple[str, int], members: bool = False) -> dict:
    ops = [["set", ["log", effect_key(m, c)], c] for m, c in keys]
    if members:
        ops.append(["set", ["members", "alice"], {"online": True, "since": 1}])
    return {"epoch": 1, "seq": seq, "ops": ops}


def _state(events: list[dict]) -> dict:
    state: dict = {"members": {}}
    for e in events:
        for op in e["ops"]:
            if op[1][0] == "log":
                state.setdefault("log", {})[op[1][1]] = op[2]
            else:
                state["members"][op[1][1]] = op[2]
    return state


def _history() -> History:
    h = History(now=_Clock())
    a = h.invoke("c1", "r", "alice", 1)
    h.ok(a, 2)
    b = h.invoke("c1", "r", "alice", 2)
    h.info(b, "CallTimeout")
    c = h.invoke("c2", "r", "bob", 1)
    h.fail(c, "kasagi.error.rejected")
    return h


def _run(history: History, events: list[dict], **kw):
    return check(history, room="r", events=events, store_state=_state(events), initial_state={"members": {}}, **kw)


def test_a_clean_history_passes():
    """Acked actions at their seq, an undetermined one applied once, a refused one absent: no violation."""
    events = [_ev(1, members=True), _ev(2, ("alice", 1)), _ev(3, ("alice", 2))]
    report = _run(_history(), events, final_states={"c1": _state(events)})
    assert report.violations == []
    assert (report.acked, report.undetermined, report.undetermined_applied, report.failed) == (1, 1, 1, 1)


def test_a_lost_acked_action_is_found():
    """An acked action missing from the history is reported under I1."""
    report = _run(_history(), [_ev(1, members=True), _ev(2)])
    assert report.acked_lost == [("alice", 1)]
    assert any(v.startswith("I1") for v in report.violations)


def test_an_action_applied_twice_is_found():
    """The same action in two events is reported under I2."""
    events = [_ev(1), _ev(2, ("alice", 1)), _ev(3, ("alice", 2)), _ev(4, ("alice", 2))]
    report = _run(_history(), events)
    assert report.duplicates == [(("alice", 2), [3, 4])]


def test_a_refused_action_that_took_effect_is_found():
    """A definitely refused action found in the history is reported under I2."""
    events = [_ev(1), _ev(2, ("alice", 1)), _ev(3, ("bob", 1))]
    assert _run(_history(), events).failed_applied == [("bob", 1)]


def test_a_hole_in_seq_is_found():
    """A history that skips a seq is reported under I2."""
    assert _run(_history(), [_ev(1), _ev(2, ("alice", 1)), _ev(4)]).holes


def test_out_of_order_application_and_divergence_are_found():
    """A client that applied 3 after 1 (I3) and ended with another state (I4) is reported."""
    h = _history()
    h.observe("c1", "r", "snapshot", 1, 0)
    h.observe("c1", "r", "event", 1, 1)
    h.observe("c1", "r", "event", 1, 3)
    events = [_ev(1), _ev(2, ("alice", 1))]
    report = _run(h, events, final_states={"c1": {"members": {}}})
    assert report.disorder and report.diverged == ["c1"]


def test_a_change_nobody_asked_for_and_a_hung_call_are_found():
    """An op no recorded action explains (I5) and a call that never ended (I6) are reported."""
    h = _history()
    h.invoke("c3", "r", "carol", 9)  # never answered
    events = [_ev(1), _ev(2, ("alice", 1), ("mallory", 5))]
    report = _run(h, events)
    assert report.unexplained and report.overdue


# -- across a failover ---------------------------------------------------------------------------


def _stored(seq: int, results: dict, tail_seqs: list[int] | None = None) -> StoredRoom:
    tail = [{"epoch": 2, "seq": s, "ops": []} for s in (tail_seqs if tail_seqs is not None else [seq])]
    return StoredRoom("r", "doc", {}, 2, seq, seq - len(tail), {}, tail, results)


def _failover_history() -> History:
    """alice acked at 2 (epoch 1) and 4 (epoch 2, after a takeover at 2), her cseq 2
    undetermined and applied at 3; bob refused. Both clients saw the takeover as a snapshot of
    the new epoch."""
    h = _history()
    h.ok(h.invoke("c1", "r", "alice", 3), 4)
    for client in ("c1", "c2"):
        h.observe(client, "r", "snapshot", 1, 0)
        h.observe(client, "r", "event", 1, 1, _ev(1, members=True)["ops"])
        h.observe(client, "r", "event", 1, 2, _ev(2, ("alice", 1))["ops"])
        h.observe(client, "r", "snapshot", 2, 2)
        h.observe(client, "r", "event", 2, 3, _ev(3, ("alice", 2))["ops"])
        h.observe(client, "r", "event", 2, 4, _ev(4, ("alice", 3))["ops"])
    return h


def _failover_state() -> dict:
    return {"members": {"alice": {"online": True, "since": 1}}, "log": {effect_key("alice", c): c for c in (1, 2, 3)}}


def test_a_clean_failover_passes():
    """Acks found in the store's results and state, one seq per action across epochs: no violation."""
    stored = _stored(4, {"alice": {1: 2, 2: 3, 3: 4}})
    state = _failover_state()
    report = check_failover(
        _failover_history(), room="r", stored=stored, store_state=state, final_states={"c1": state, "c2": state}
    )
    assert report.violations == []
    assert (report.acked, report.undetermined_applied, report.failed, report.events) == (2, 1, 1, 4)


def test_failover_findings():
    """An ack the store records at another seq (I1), two clients with different ops at one
    position, an action at two seqs and a refused action in the state (I2), and a hole in the
    stored tail are each reported."""
    h = _failover_history()
    h.observe("c2", "r", "event", 2, 5, _ev(5, ("alice", 1))["ops"])
    h.observe("c1", "r", "event", 2, 5, _ev(5, ("alice", 2))["ops"])
    state = _failover_state()
    state["log"][effect_key("bob", 1)] = 1
    stored = _stored(5, {"alice": {1: 2, 2: 3, 3: 3}}, tail_seqs=[3, 5])
    report = check_failover(h, room="r", stored=stored, store_state=state)
    assert report.wrong_seq == [(("alice", 3), 4, [3])]
    assert report.inconsistent == ["c2 at epoch 2 seq 5"]
    assert report.duplicates == [(("alice", 2), [3, 5])]
    assert report.failed_applied == [("bob", 1)]
    assert report.holes
    assert len(report.violations) == 5
