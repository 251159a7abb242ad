"""Room listings, pure: what a room type may publish about a room, and how filters match it.

A listing's metadata is a flat map of JSON scalars (string, number, boolean, null) under
keys the room type declares (:attr:`~kasagi.core.roomtypes.base.RoomType.listing_keys`),
bounded in keys and size so every router can hold and send many of them. Filters (of
``kasagi.lobby.list``) and criteria (of ``kasagi.lobby.match``) are maps of the same shape,
matched by equality on each key -- typed equality: ``true`` matches ``true`` only, never
``1``; ``1`` matches ``1.0``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from kasagi.core.errors import InvalidArgument, describe

__all__ = [
    "LISTING_KEY_RE",
    "MAX_LISTING_BYTES",
    "MAX_LISTING_KEYS",
    "MAX_LISTING_STRING",
    "check_filter",
    "check_meta",
    "matches",
    "scalar_equal",
]

#: A metadata key.
LISTING_KEY_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: Most keys in one listing (and one filter).
MAX_LISTING_KEYS: Final = 16
#: Longest string value.
MAX_LISTING_STRING: Final = 64
#: Largest listing, in characters of its keys and values together.
MAX_LISTING_BYTES: Final = 1024


def _is_scalar(value: Any) -> bool:
    if value is None or isinstance(value, (bool, str, int)):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(repr(value))


def check_meta(raw: Any, field: str = "meta", keys: Iterable[str] | None = None) -> dict[str, Any]:
    """``raw`` as listing metadata (a copy), or ``InvalidArgument`` naming the bad key.

    ``keys``: the keys allowed (a room type's ``listing_keys``; None: any well-formed key).
    """
    if not isinstance(raw, Mapping):
        raise InvalidArgument(f"{field} must be a map", field=field, expected="a map of scalars", got=describe(raw))
    if len(raw) > MAX_LISTING_KEYS:
        raise InvalidArgument(
            f"{field} has too many keys",
            field=field,
            expected=f"at most {MAX_LISTING_KEYS} keys",
            got=f"{len(raw)} keys",
        )
    allowed = None if keys is None else frozenset(keys)
    size = 0
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key[:40] if isinstance(key, str) else describe(key)
        if not isinstance(key, str) or not LISTING_KEY_RE.fullmatch(key):
            raise InvalidArgument(
                f"{field} has a malformed key",
                field=field,
                expected=f"keys matching {LISTING_KEY_RE.pattern}",
                got=describe(key),
            )
        if allowed is not None and key not in allowed:
            raise InvalidArgument(
                f"{field}.{name}: the room type does not publish this key",
                field=f"{field}.{name}",
                expected="one of " + (", ".join(sorted(allowed)) or "no keys: the type publishes none"),
                got=describe(key),
            )
        if not _is_scalar(value):
            raise InvalidArgument(
                f"{field}.{name} must be a scalar",
                field=f"{field}.{name}",
                expected="a string, number, boolean or null",
                got=describe(value),
            )
        if isinstance(value, str) and len(value) > MAX_LISTING_STRING:
            raise InvalidArgument(
                f"{field}.{name} is too long",
                field=f"{field}.{name}",
                expected=f"at most {MAX_LISTING_STRING} characters",
                got=f"{len(value)} characters",
            )
        size += len(key) + _size(value)
        out[key] = value
    if size > MAX_LISTING_BYTES:
        raise InvalidArgument(
            f"{field} is too big", field=field, expected=f"at most {MAX_LISTING_BYTES} characters", got=f"{size}"
        )
    return out


def check_filter(raw: Any, field: str, keys: Iterable[str]) -> dict[str, Any]:
    """A filter or match criteria: null or a map of scalars on keys the type publishes."""
    if raw is None:
        return {}
    return check_meta(raw, field, keys)


def scalar_equal(a: Any, b: Any) -> bool:
    """Typed equality of two JSON scalars (a boolean never equals a number)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return bool(a == b)


def matches(meta: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether ``meta`` has every key of ``wanted`` with an equal value."""
    return all(key in meta and scalar_equal(meta[key], value) for key, value in wanted.items())
