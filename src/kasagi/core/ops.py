"""Path operations on a room document: ``["set", path, value]`` and ``["del", path]``.

Semantics (the same in every client; see ``docs/protocol.md``, Ops):

- ``path`` is a non-empty list of map keys (strings) and list indices (integers >= 0).
- ``set``: every component but the last must lead to an existing container, except that a
  missing *map key* on the way is created as an empty map. The last component is a map key
  (created or replaced) or a list index ``i`` with ``0 <= i <= len`` (``i == len`` appends).
- ``del``: the path must exist; a map key is removed, a list element is removed and the
  elements after it shift down by one.

:func:`apply_op` can record an undo log, so that a group of ops is applied all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kasagi.core.errors import InvalidArgument, describe
from kasagi.core.values import copy_value
from kasagi.wire import OP_DEL, OP_SET

__all__ = [
    "Op",
    "OpError",
    "Path",
    "UndoLog",
    "apply_op",
    "apply_ops",
    "compact_ops",
    "del_op",
    "parse_path",
    "resolve",
    "set_op",
    "undo",
]

PathItem = str | int
Path = tuple[PathItem, ...]
#: The wire form of an op: ``["set", [..path..], value]`` or ``["del", [..path..]]``.
Op = list[Any]
#: Undo entries: (container, key, existed, old_value) for maps and replaced list items;
#: (list, index, "inserted") for appended items; (list, index, "removed", old) for deletions.
UndoLog = list[tuple[Any, ...]]

MAX_PATH_LENGTH = 32


class OpError(ValueError):
    """An op does not apply to the document (a missing path, a wrong container)."""


def set_op(path: Sequence[PathItem], value: Any) -> Op:
    return [OP_SET, list(path), value]


def del_op(path: Sequence[PathItem]) -> Op:
    return [OP_DEL, list(path)]


def parse_path(raw: Any, field: str = "path") -> Path:
    """Validate a client-supplied path into a tuple, or raise :class:`InvalidArgument`."""
    if not isinstance(raw, (list, tuple)):
        raise InvalidArgument(
            f"{field} must be a list", field=field, expected="a list of keys and indices", got=describe(raw)
        )
    if not 1 <= len(raw) <= MAX_PATH_LENGTH:
        raise InvalidArgument(
            f"{field} has a bad length",
            field=field,
            expected=f"1 to {MAX_PATH_LENGTH} components",
            got=f"{len(raw)} components",
        )
    for i, item in enumerate(raw):
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InvalidArgument(
                f"{field}[{i}] is not a key or an index",
                field=f"{field}[{i}]",
                expected="a string key or an integer index",
                got=describe(item),
            )
        if isinstance(item, int) and item < 0:
            raise InvalidArgument(
                f"{field}[{i}] is negative", field=f"{field}[{i}]", expected="an index >= 0", got=describe(item)
            )
    return tuple(raw)


def resolve(
    state: dict[str, Any], path: Sequence[Any], undo_log: UndoLog | None = None, *, create: bool = True
) -> tuple[Any, int]:
    """Walk ``path[:-1]`` from ``state`` to the container of the path's last component.

    Returns ``(container, depth)``. A missing map key on the way is created as an empty map
    (recorded in ``undo_log``); with ``create=False`` the walk stops there instead, and
    ``depth`` is the index of that key in ``path`` (``container`` is the map that lacks it).
    When the walk reaches the end, ``depth == len(path) - 1``. A component that does not lead
    through a container (a key in a list, an index in a map or out of range, anything else
    in a path) raises :class:`OpError`. The one walk behind :func:`apply_op` and
    :func:`kasagi.core.size.size_delta`.
    """
    container: Any = state
    for depth, key in enumerate(path[:-1]):
        if isinstance(key, str):
            if not isinstance(container, dict):
                raise OpError(f"{list(path)}: {key!r} needs a map, found {describe(container)}")
            if key not in container:
                if not create:
                    return container, depth
                container[key] = {}
                if undo_log is not None:
                    undo_log.append((container, key, False, None))
            container = container[key]
            continue
        if not isinstance(container, list):
            raise OpError(f"{list(path)}: index {key} needs a list, found {describe(container)}")
        if not isinstance(key, int):
            raise OpError(f"{list(path)}: {describe(key)} is not a key or an index")
        if not 0 <= key < len(container):
            raise OpError(f"{list(path)}: index {key} out of range 0..{len(container) - 1}")
        container = container[key]
    return container, len(path) - 1


def apply_op(state: dict[str, Any], op: Sequence[Any], undo_log: UndoLog | None = None) -> None:
    """Apply one op to ``state`` in place; on :class:`OpError` nothing of *this* op remains
    except what ``undo_log`` records (callers roll back with :func:`undo`)."""
    if not isinstance(op, (list, tuple)) or len(op) < 2:
        raise OpError(f"malformed op {describe(op)}")
    kind, path = op[0], op[1]
    if not isinstance(path, (list, tuple)) or not path:
        raise OpError(f"malformed path {describe(path)}")
    container, _ = resolve(state, path, undo_log)
    if kind == OP_SET:
        if len(op) != 3:
            raise OpError("set needs a value")
        _set(container, path, copy_value(op[2]), undo_log)
    elif kind == OP_DEL:
        _delete(container, path, undo_log)
    else:
        raise OpError(f"unknown op {describe(kind)}")


def _is_index(key: Any) -> bool:
    return isinstance(key, int) and not isinstance(key, bool)


def _set(container: Any, path: Sequence[Any], value: Any, undo_log: UndoLog | None) -> None:
    """The ``set`` of :func:`apply_op` at ``path[-1]`` in the container ``resolve`` found."""
    last = path[-1]
    if isinstance(last, str):
        _set_key(container, path, last, value, undo_log)
    elif _is_index(last) and isinstance(container, list):
        _set_index(container, path, last, value, undo_log)
    else:
        raise OpError(f"{list(path)}: cannot set {describe(last)} in {describe(container)}")


def _set_key(container: Any, path: Sequence[Any], key: str, value: Any, undo_log: UndoLog | None) -> None:
    if not isinstance(container, dict):
        raise OpError(f"{list(path)}: {key!r} needs a map, found {describe(container)}")
    if undo_log is not None:
        undo_log.append((container, key, key in container, container.get(key)))
    container[key] = value


def _set_index(container: list[Any], path: Sequence[Any], index: int, value: Any, undo_log: UndoLog | None) -> None:
    if 0 <= index < len(container):
        if undo_log is not None:
            undo_log.append((container, index, True, container[index]))
        container[index] = value
    elif index == len(container):
        container.append(value)
        if undo_log is not None:
            undo_log.append((container, index, "inserted"))
    else:
        raise OpError(f"{list(path)}: index {index} out of range 0..{len(container)}")


def _delete(container: Any, path: Sequence[Any], undo_log: UndoLog | None) -> None:
    """The ``del`` of :func:`apply_op` at ``path[-1]`` in the container ``resolve`` found."""
    last = path[-1]
    if isinstance(last, str) and isinstance(container, dict):
        if last not in container:
            raise OpError(f"{list(path)}: no such key")
        old = container.pop(last)
        if undo_log is not None:
            undo_log.append((container, last, True, old))
    elif _is_index(last) and isinstance(container, list):
        if not 0 <= last < len(container):
            raise OpError(f"{list(path)}: index {last} out of range")
        old = container.pop(last)
        if undo_log is not None:
            undo_log.append((container, last, "removed", old))
    else:
        raise OpError(f"{list(path)}: cannot delete {describe(last)} from {describe(container)}")


def apply_ops(state: dict[str, Any], ops: Sequence[Sequence[Any]]) -> None:
    """Apply ops in order, all or nothing."""
    log: UndoLog = []
    try:
        for op in ops:
            apply_op(state, op, log)
    except OpError:
        undo(log)
        raise


def undo(undo_log: UndoLog) -> None:
    """Revert what an undo log recorded, newest first, and empty it."""
    while undo_log:
        entry = undo_log.pop()
        container, key = entry[0], entry[1]
        marker = entry[2]
        if marker == "inserted":
            container.pop(key)
        elif marker == "removed":
            container.insert(key, entry[3])
        elif marker is True:
            container[key] = entry[3]
        else:
            del container[key]


def _is_map_path(path: Sequence[Any]) -> bool:
    return all(isinstance(p, str) for p in path)


def compact_ops(ops: Sequence[Op]) -> list[Op]:
    """Drop ops whose effect a later op overwrites; the result gives the same document.

    Walking backwards, a ``set`` at a path of map keys only *covers* that path: every earlier
    op at or under it is dropped. List indices shift under deletions, so paths through lists
    never cover. A ``del`` that is kept needs what earlier ops built (its path must exist), so
    it is a barrier: nothing before it is dropped because of covers after it.
    """
    if len(ops) < 2:
        return list(ops)
    covered: set[tuple[str, ...]] = set()
    kept: list[Op] = []
    for op in reversed(ops):
        path = op[1]
        hidden = False
        if covered:
            for n in range(1, len(path) + 1):
                prefix = path[:n]
                if not _is_map_path(prefix):
                    break
                if tuple(prefix) in covered:
                    hidden = True
                    break
        if hidden:
            continue
        kept.append(op)
        if op[0] == OP_DEL:
            covered.clear()
        elif _is_map_path(path):
            covered.add(tuple(path))
    kept.reverse()
    return kept
