"""Pagination cursors of ``kasagi.lobby.list``: opaque to clients, tamper-evident.

A cursor is ``<payload>.<mac>``, both base64url without padding: the payload is compact JSON
``{"v": 1, "t": type, "f": filter digest, "a": last room id of the page}``, the mac the first
16 bytes of its HMAC-SHA256 under the listing store's secret (one secret per store, so a
cursor from any router of a cluster is valid on every other). A cursor is accepted only for
the same type and filter it was made for; anything else -- a changed byte, another type or
filter, a cursor of another store -- is ``kasagi.error.invalid_argument`` on ``cursor``.

Cursors do not expire and hold no state on the server: the next page starts after the
cursor's room id, so rooms listed or unlisted in between show up (or not) as they are then.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final

from kasagi.core.errors import InvalidArgument, describe
from kasagi.wire import ROOM_ID_RE

__all__ = ["MAX_CURSOR", "CursorSigner", "filter_digest"]

#: Longest cursor accepted (characters).
MAX_CURSOR: Final = 512
_MAC_BYTES = 16


def filter_digest(filter_: Mapping[str, Any]) -> str:
    """A short digest of a filter (its keys and values, in any order)."""
    text = json.dumps(filter_, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorSigner:
    """Makes and checks cursors with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def make(self, type_name: str, filter_: Mapping[str, Any], after: str) -> str:
        payload = json.dumps(
            {"v": 1, "t": type_name, "f": filter_digest(filter_), "a": after}, separators=(",", ":")
        ).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def after(self, raw: Any, type_name: str, filter_: Mapping[str, Any]) -> str:
        """The room id a cursor continues after ("" for none), or ``InvalidArgument``."""
        if raw is None:
            return ""
        if not isinstance(raw, str) or not 0 < len(raw) <= MAX_CURSOR:
            raise InvalidArgument(
                "cursor must be null or a cursor from the previous page",
                field="cursor",
                expected="null or the 'next' of a previous page",
                got=describe(raw),
            )
        payload_text, _, mac_text = raw.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            payload, mac = b"", b""
        if not payload or not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidArgument(
                "the cursor was changed or was not made by this lobby",
                field="cursor",
                expected="the 'next' of a previous page, unchanged",
                got="a cursor that does not verify",
            )
        try:
            body = json.loads(payload)
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("v") != 1:
            raise InvalidArgument("unknown cursor version", field="cursor", expected="version 1", got="another")
        if body.get("t") != type_name or body.get("f") != filter_digest(filter_):
            raise InvalidArgument(
                "the cursor belongs to another listing",
                field="cursor",
                expected="a cursor of the same type and filter",
                got=f"a cursor of type {str(body.get('t'))[:32]!r}",
            )
        after = body.get("a")
        if not isinstance(after, str) or not ROOM_ID_RE.fullmatch(after):
            raise InvalidArgument("malformed cursor position", field="cursor", expected="a room id", got="other")
        return after
