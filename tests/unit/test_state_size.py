"""The state size kept op by op equals the size of the encoded state."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasagi.core.errors import Rejected
from kasagi.core.ops import OpError, UndoLog, apply_op, undo
from kasagi.core.room import RoomConfig
from kasagi.core.size import json_size, size_delta
from kasagi.testing import make_room

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)
keys = st.text(alphabet='abcé"', max_size=3)
paths = st.lists(keys | st.integers(0, 4), min_size=1, max_size=4)
ops = st.one_of(st.tuples(st.just("set"), paths, values).map(list), st.tuples(st.just("del"), paths).map(list))


def encoded(state):
    return len(json.dumps(state, separators=(",", ":")))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=4), st.lists(ops, max_size=12))
def test_tracked_size_equals_the_encoded_size(state, op_list):
    """After any sequence of ops that apply, size + deltas == len(compact JSON of the state)."""
    size = json_size(state)
    assert size == encoded(state)
    for op in op_list:
        delta = size_delta(state, op)
        log: UndoLog = []
        try:
            apply_op(state, op, log)
        except OpError:
            undo(log)
            continue
        size += delta
        assert size == encoded(state), op


def test_an_action_that_would_make_the_state_too_big_is_rejected_and_changes_nothing():
    """With a state limit, a growing action beyond it is refused (field state); shrinking ones still pass."""
    room = make_room(type_name="doc", config=RoomConfig(max_state_bytes=300))
    room.join("alice", "s1", None, 0)
    room.act("alice", 1, "set", {"path": ["a"], "value": "x" * 150})
    before = json.dumps(room.state, sort_keys=True)
    with pytest.raises(Rejected) as info:
        room.act("alice", 2, "set", {"path": ["b"], "value": "y" * 150})
    assert info.value.field == "state" and "300" in info.value.expected
    assert json.dumps(room.state, sort_keys=True) == before
    room.act("alice", 3, "del", {"path": ["a"]})
    assert room.state_bytes == encoded(room.state)


def test_size_is_recomputed_after_a_rollback():
    """A failed commit rolls the state back and the tracked size with it."""
    room = make_room(type_name="doc", config=RoomConfig(max_state_bytes=10_000))
    room.join("alice", "s1", None, 0)
    batch = room.begin_commit()
    room.commit_succeeded(batch, 0)
    room.act("alice", 1, "set", {"path": ["a"], "value": [1, 2, 3]})
    batch = room.begin_commit()
    room.commit_failed(batch, 0)
    assert room.state_bytes == encoded(room.state)
