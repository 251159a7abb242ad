"""The canonical encoding of room state and its hash.

Canonical encoding: the JSON Canonicalization Scheme, RFC 8785 (keys sorted by UTF-16 code
units, no whitespace, numbers as ECMAScript prints them -- so ``1.0`` encodes as ``1``, which
keeps Python and JavaScript clients in agreement), UTF-8.

State hash: the first 16 hex digits (64 bits) of SHA-256 over the canonical encoding.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

__all__ = ["HASH_HEX_DIGITS", "canonical_bytes", "state_hash"]

HASH_HEX_DIGITS = 16


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 encoding of a JSON-like value."""
    return rfc8785.dumps(value)


def state_hash(state: Any) -> str:
    """The hash a client compares with an event's ``hash`` field."""
    return hashlib.sha256(canonical_bytes(state)).hexdigest()[:HASH_HEX_DIGITS]
