"""Path ops: set/del semantics, all-or-nothing groups, and coalescing that keeps the result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasagi.core.errors import InvalidArgument
from kasagi.core.ops import OpError, apply_op, apply_ops, compact_ops, del_op, parse_path, set_op, undo
from kasagi.core.values import copy_value


def test_set_creates_missing_map_keys_on_the_way():
    """Setting a nested key creates the maps that lead to it."""
    state: dict = {}
    apply_op(state, set_op(["a", "b", "c"], 1))
    assert state == {"a": {"b": {"c": 1}}}


def test_set_on_list_replaces_or_appends_and_refuses_gaps():
    """A list index replaces an item, len appends, and beyond len is refused."""
    state: dict = {"l": [1, 2]}
    apply_op(state, set_op(["l", 0], 9))
    apply_op(state, set_op(["l", 2], 3))
    assert state == {"l": [9, 2, 3]}
    with pytest.raises(OpError):
        apply_op(state, set_op(["l", 5], 0))


def test_del_shifts_list_items_and_refuses_missing_paths():
    """Deleting a list item shifts the rest down; deleting what is not there is an error."""
    state: dict = {"l": [1, 2, 3], "m": {"k": 1}}
    apply_op(state, del_op(["l", 0]))
    apply_op(state, del_op(["m", "k"]))
    assert state == {"l": [2, 3], "m": {}}
    with pytest.raises(OpError):
        apply_op(state, del_op(["m", "k"]))
    with pytest.raises(OpError):
        apply_op(state, del_op(["l", 2]))


def test_a_failing_group_leaves_the_state_untouched():
    """When the third op of a group fails, the first two are undone, created maps included."""
    state: dict = {"x": 1, "l": [1]}
    before = copy_value(state)
    with pytest.raises(OpError):
        apply_ops(state, [set_op(["new", "deep"], 1), del_op(["l", 0]), del_op(["missing"])])
    assert state == before


def test_state_never_shares_objects_with_op_values():
    """Mutating the value of an applied op later does not change the state."""
    value = {"a": [1]}
    state: dict = {}
    apply_op(state, set_op(["k"], value))
    value["a"].append(2)
    assert state == {"k": {"a": [1]}}


def test_undo_restores_replaced_and_removed_values():
    """An undo log restores replaced map values and removed list items in place."""
    state: dict = {"m": {"k": 1}, "l": [1, 2]}
    log: list = []
    apply_op(state, set_op(["m", "k"], 2), log)
    apply_op(state, del_op(["l", 0]), log)
    apply_op(state, set_op(["l", 1], 5), log)
    undo(log)
    assert state == {"m": {"k": 1}, "l": [1, 2]}


@pytest.mark.parametrize("path", [[], "a", [True], [-1], [1.5], [None], ["a"] * 33])
def test_bad_paths_are_refused_with_the_field_named(path):
    """A path that is not a non-empty list of keys and indices is an invalid argument."""
    with pytest.raises(InvalidArgument) as info:
        parse_path(path, "args.path")
    assert info.value.field.startswith("args.path")


def test_compaction_keeps_only_the_last_write_of_a_path_and_its_subtree():
    """Writes hidden by a later write of the same or an enclosing map path are dropped."""
    ops = [set_op(["p", "a"], 1), set_op(["p", "a", "x"], 2), set_op(["q"], 1), set_op(["p", "a"], 3)]
    assert compact_ops(ops) == [set_op(["q"], 1), set_op(["p", "a"], 3)]


def test_compaction_keeps_what_a_later_delete_needs():
    """A kept delete is a barrier: the earlier write that created its path stays (found by hypothesis)."""
    ops = [set_op(["a", "c"], None), del_op(["a", "c"])]
    assert compact_ops(ops) == ops
    ops = [set_op(["a", "c"], 1), del_op(["a"]), set_op(["a", "c"], 2)]
    assert compact_ops(ops) == ops


def test_compaction_never_hides_writes_behind_list_indices():
    """Ops under a list index are kept, since deletions shift what indices mean."""
    ops = [set_op(["l", 0], 1), del_op(["l", 0]), set_op(["l", 0], 2)]
    assert compact_ops(ops) == ops


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=3))
keys = st.sampled_from(["a", "b", "c"])
map_paths = st.lists(keys, min_size=1, max_size=3)
any_paths = st.lists(st.one_of(keys, st.integers(0, 2)), min_size=1, max_size=3)
ops_strategy = st.lists(
    st.one_of(
        st.builds(lambda p, v: set_op(p, v), map_paths, json_leaf),
        st.builds(lambda p, v: set_op(p, v), any_paths, st.one_of(json_leaf, st.just([]), st.just([0, 1]))),
        st.builds(del_op, any_paths),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(ops_strategy)
def test_compaction_gives_the_same_document(ops):
    """For any op sequence that applies, its compaction applies too and gives the same state."""
    applied: list = []
    state: dict = {"a": {"b": [1, {"c": 2}]}, "l": [[0], [1]]}
    start = copy_value(state)
    for op in ops:
        try:
            apply_ops(state, [op])
        except OpError:
            continue
        applied.append(op)
    replay = copy_value(start)
    apply_ops(replay, compact_ops(applied))
    assert replay == state
