"""A room type whose one action can make a large change: ``fill {"key", "copies", "text"}``
writes ``copies`` copies of ``text`` under ``key`` (the abuse tests' way to an event bigger
than any message a client may send)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kasagi.rooms import Effect, RoomType, require_keys, set_op


class Copies(RoomType):
    name: ClassVar[str] = "copies"
    actions: ClassVar[frozenset[str]] = frozenset({"fill"})

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Effect]:
        require_keys(args, {"key", "copies", "text"}, set(), "fill")
        copies = max(1, min(int(args["copies"]), 64))
        return [set_op(("filled", str(args["key"])), [str(args["text"])] * copies)]
