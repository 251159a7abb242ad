"""How stores encode rooms, and the checks that turn stored bytes back into trusted values.

Snapshots, options and events are stored as compact JSON (readable by an operator with
``sqlite3`` or ``redis-cli``). Decoding is strict: a value that Kasagi could not have written
(bad JSON, ``NaN``, an integer beyond +-(2**53 - 1), an event of the wrong shape, epoch or
seq) raises :class:`~kasagi.store.interface.CorruptRoom` naming the room and the problem.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from kasagi.core import MAX_SAFE_INTEGER
from kasagi.core.views import HASHES_KEY
from kasagi.store.interface import CorruptRoom, Event
from kasagi.wire import OP_DEL, OP_SET

__all__ = ["decode_event", "decode_int", "decode_json", "decode_map", "dumps"]

_INT_RE = re.compile(r"-?[0-9]{1,19}")
#: ``hashes`` (member -> hash of that member's view) is kept in stored events of rooms with
#: private state and never sent (:mod:`kasagi.core.views`).
_EVENT_KEYS = frozenset({"epoch", "seq", "ops", "hash", "acks", "notices", HASHES_KEY})


def dumps(value: Any) -> str:
    """Compact JSON; refuses NaN and infinities (they can't be in room state)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _Refused(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value Kasagi stores")


def _int(text: str) -> int:
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise _Refused(f"integer {text[:30]} is beyond +-(2**53 - 1)")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:30]} is not finite")
    return value


def decode_json(raw: str | bytes | bytearray, room: str, what: str) -> Any:
    """Parse stored JSON, or raise ``CorruptRoom`` naming ``what`` was bad."""
    try:
        return json.loads(raw, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except (ValueError, TypeError, RecursionError) as exc:
        raise CorruptRoom(room, f"{what} is not valid JSON ({str(exc)[:120]})") from None


def decode_map(raw: str | bytes | bytearray, room: str, what: str) -> dict[str, Any]:
    value = decode_json(raw, room, what)
    if not isinstance(value, dict):
        raise CorruptRoom(room, f"{what} is not a JSON object")
    return value


def decode_int(raw: Any, room: str, what: str) -> int:
    """An integer stored as such or as decimal text (Redis), else ``CorruptRoom``."""
    if isinstance(raw, bool):
        raise CorruptRoom(room, f"{what} is not an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError:
            raise CorruptRoom(room, f"{what} is not an integer") from None
    if isinstance(raw, str) and _INT_RE.fullmatch(raw):
        return int(raw)
    shown = repr(raw)[:40] if raw is not None else "missing"
    raise CorruptRoom(room, f"{what} is not an integer (got {shown})")


def decode_event(raw: str | bytes | bytearray | Event, room: str, epoch: int, seq: int) -> Event:
    """A stored event, checked: its shape, and that it is event ``seq`` of ``epoch``."""
    event = decode_map(raw, room, f"event {seq}") if not isinstance(raw, dict) else raw
    where = f"event {seq}"
    extra = set(event) - _EVENT_KEYS
    if extra:
        raise CorruptRoom(room, f"{where} has unknown keys {sorted(extra)[:3]}")
    if event.get("epoch") != epoch or isinstance(event.get("epoch"), bool):
        raise CorruptRoom(room, f"{where} belongs to epoch {event.get('epoch')!r}, the room is in epoch {epoch}")
    if event.get("seq") != seq or isinstance(event.get("seq"), bool):
        raise CorruptRoom(room, f"{where} is stored as seq {event.get('seq')!r}")
    ops = event.get("ops")
    if not isinstance(ops, list):
        raise CorruptRoom(room, f"{where} has no list of ops")
    for i, op in enumerate(ops):
        _check_op(op, room, f"{where} op {i}")
    if "hash" in event and not isinstance(event["hash"], str):
        raise CorruptRoom(room, f"{where} has a hash that is not a string")
    if "acks" in event and not _acks_shape(event["acks"]):
        raise CorruptRoom(room, f"{where} has acks that are not a map of members to lists of cseqs")
    notices = event.get("notices", [])
    if not isinstance(notices, list) or not all(
        isinstance(n, dict) and isinstance(n.get("kind"), str) for n in notices
    ):
        raise CorruptRoom(room, f"{where} has notices that are not a list of {{kind, ...}} maps")
    if HASHES_KEY in event and not _hashes_shape(event[HASHES_KEY]):
        raise CorruptRoom(room, f"{where} has view hashes that are not a map of members to strings")
    return event


def _hashes_shape(hashes: Any) -> bool:
    """The hash of each member's view: member -> hash (a string)."""
    return isinstance(hashes, dict) and all(isinstance(m, str) and isinstance(h, str) for m, h in hashes.items())


def _acks_shape(acks: Any) -> bool:
    """The fast input path's acknowledgements: member -> [cseq, ...] (positive integers)."""
    return isinstance(acks, dict) and all(
        isinstance(member, str)
        and isinstance(cseqs, list)
        and all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in cseqs)
        for member, cseqs in acks.items()
    )


def _check_op(op: Any, room: str, where: str) -> None:
    if not isinstance(op, list) or not op:
        raise CorruptRoom(room, f"{where} is not an op")
    kind = op[0]
    if not ((kind == OP_SET and len(op) == 3) or (kind == OP_DEL and len(op) == 2)):
        raise CorruptRoom(room, f"{where} is not a set or del op")
    path = op[1]
    if not isinstance(path, list) or not path:
        raise CorruptRoom(room, f"{where} has no path")
    for item in path:
        if isinstance(item, bool) or not isinstance(item, (str, int)) or (isinstance(item, int) and item < 0):
            raise CorruptRoom(room, f"{where} has a bad path component {item!r:.40}")
