"""The size of a room's state, kept up to date op by op (pure).

A state's size is the length of its compact JSON encoding (``json.dumps`` with
``separators=(",", ":")``, non-ASCII characters escaped) -- close to what a snapshot costs on
the wire. :func:`size_delta` says by how much one op changes it, looking only at the values
the op touches, so a room can refuse an action that would make its state too big without
encoding the whole state on every action.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kasagi.core.ops import OpError, resolve
from kasagi.wire import OP_DEL, OP_SET

__all__ = ["compact_json", "json_size", "size_delta"]

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, check_circular=False).encode


def json_size(value: Any) -> int:
    """Bytes of the compact JSON encoding of ``value``."""
    return len(_encode(value))


def compact_json(value: Any) -> str:
    """The compact JSON encoding of ``value`` (ASCII: its length is its size in bytes)."""
    return _encode(value)


def _entry(container: Any, key: Any, value: Any) -> int:
    """Bytes a new entry adds to ``container`` (its separator included)."""
    comma = 1 if container else 0
    if isinstance(container, dict):
        return json_size(key) + 1 + json_size(value) + comma
    return json_size(value) + comma


def size_delta(state: dict[str, Any], op: Sequence[Any]) -> int:
    """How many bytes applying ``op`` to ``state`` adds (negative: removes).

    Call it before applying the op. For an op that will not apply, the result is
    meaningless (the caller rolls the op back anyway).
    """
    if len(op) < 2 or not isinstance(op[1], (list, tuple)) or not op[1]:
        return 0
    kind, path = op[0], op[1]
    try:
        container, depth = resolve(state, path, create=False)
    except OpError:
        return 0
    if depth < len(path) - 1:
        if kind != OP_SET or len(op) != 3:
            return 0
        # The rest of the path is created as nested maps around the value.
        return _entry(container, path[depth], _nest(path[depth + 1 :], op[2]))
    if kind == OP_SET and len(op) == 3:
        return _set_delta(container, path[-1], op[2])
    if kind == OP_DEL:
        return _del_delta(container, path[-1])
    return 0


def _set_delta(container: Any, last: Any, value: Any) -> int:
    """Bytes that setting ``container[last]`` to ``value`` adds."""
    if isinstance(container, dict) and isinstance(last, str):
        if last in container:
            return json_size(value) - json_size(container[last])
        return _entry(container, last, value)
    if isinstance(container, list) and isinstance(last, int) and not isinstance(last, bool):
        if 0 <= last < len(container):
            return json_size(value) - json_size(container[last])
        if last == len(container):
            return _entry(container, last, value)
    return 0


def _del_delta(container: Any, last: Any) -> int:
    """Bytes that deleting ``container[last]`` adds (a negative number, or 0)."""
    if isinstance(container, dict) and isinstance(last, str) and last in container:
        return -(json_size(last) + 1 + json_size(container[last]) + (1 if len(container) > 1 else 0))
    if isinstance(container, list) and isinstance(last, int) and 0 <= last < len(container):
        return -(json_size(container[last]) + (1 if len(container) > 1 else 0))
    return 0


def _nest(path: Sequence[Any], value: Any) -> Any:
    for key in reversed(path):
        value = {key: value}
    return value
