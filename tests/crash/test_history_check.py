"""The crash-run checker itself: it finds each kind of violation it claims to find."""

from __future__ import annotations

from typing import Any

from tests.crash.history import History, action_path, check

EPOCH = 7


def event(seq: int, *acts: tuple[str, int]) -> dict[str, Any]:
    return {"epoch": EPOCH, "seq": seq, "ops": [["set", action_path(m, c), c] for m, c in acts]}


def state_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    from kasagi.core.ops import apply_ops

    state: dict[str, Any] = {"members": {}}
    for e in events:
        apply_ops(state, e["ops"])
    return state


def run_check(history: History, events: list[dict[str, Any]], **overrides: Any) -> list[str]:
    state = state_of(events)
    kwargs: dict[str, Any] = {"initial_state": {"members": {}}, "stored_state": state, "client_states": {"a": state}}
    kwargs.update(overrides)
    return check(history, events, **kwargs)


def test_a_clean_history_passes():
    """Acked, timed-out-but-applied and timed-out-not-applied actions, in order: no violation."""
    h = History()
    h.ok(h.start("a", 1), 1)
    h.failed(h.start("a", 2), "CallTimeout", definite=False)  # applied at 2
    h.failed(h.start("a", 3), "CallTimeout", definite=False)  # never applied
    h.applied["a"] = [("snap", EPOCH, 0), ("ev", EPOCH, 1), ("ev", EPOCH, 2)]
    assert run_check(h, [event(1, ("a", 1)), event(2, ("a", 2))]) == []


def test_each_violation_is_found():
    """A lost ack (I1), a double effect, a phantom and a hole (I2), a gap at a client (I3) and a
    diverging client (I4) are each reported."""
    h = History()
    h.ok(h.start("a", 1), 1)
    h.ok(h.start("a", 2), 2)  # acked but not stored
    h.failed(h.start("a", 3), "CallTimeout", definite=False)
    h.applied["a"] = [("snap", EPOCH, 0), ("ev", EPOCH, 1), ("ev", EPOCH, 3)]
    events = [event(1, ("a", 1)), event(3, ("a", 3)), event(4, ("a", 3), ("b", 9))]
    found = run_check(h, events, client_states={"a": {"members": {}}})
    text = "\n".join(found)
    assert "I1: action (a, 2)" in text
    assert "I2: history is not seq 1..N" in text
    assert "I2: action ('a', 3) took effect 2 times" in text
    assert "I2: action ('b', 9) took effect but was never sent" in text
    assert "I3: a applied (7, 3) after (7, 1)" in text
    assert "I4: a's final state differs" in text
