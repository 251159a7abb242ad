"""The history checker finds each kind of invariant violation, and passes a clean history."""

from __future__ import annotations

from kasagi.testing_history import History, check, effect_key


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
