"""``Secrets``: a tiny room type that keeps per-member private state, for tests of views.

Each member gets a secret number on joining (``private.<member>.secret``, twelve digits, easy
to look for in captured traffic), and the room counts in public how often secrets changed::

    roll              the caller draws a new secret of its own
    give {"to": m}    the caller draws a new secret for member m (the caller never sees it)
    forget            the caller's private entry is deleted
    note {"text": s}  a public note (a change with nothing private in it)

Load it into a node with ``--room-type kasagi.testing.secrets:Secrets``.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Mapping
from typing import Any

from kasagi.rooms import (
    PRIVATE_KEY,
    Effect,
    InvalidArgument,
    Rejected,
    RoomType,
    del_op,
    describe,
    private_path,
    require_keys,
    set_op,
)

__all__ = ["Secrets", "new_secret"]


def new_secret() -> int:
    """A fresh twelve-digit secret."""
    return 100_000_000_000 + _random.randbelow(900_000_000_000)


class Secrets(RoomType):
    """Every member holds a secret number only it sees (see the module docstring)."""

    name = "secrets"
    actions = frozenset({"roll", "give", "forget", "note"})

    def initial_state(self) -> dict[str, Any]:
        return {"changes": 0, "note": ""}

    def on_join(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        if member in state.get(PRIVATE_KEY, {}):
            return []
        return [set_op(private_path(member, "secret"), new_secret()), set_op(["changes"], state["changes"] + 1)]

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Effect]:
        if action == "roll":
            require_keys(args, set(), set(), action)
            return [set_op(private_path(member, "secret"), new_secret()), set_op(["changes"], state["changes"] + 1)]
        if action == "give":
            require_keys(args, {"to"}, set(), action)
            to = args["to"]
            if not isinstance(to, str) or to not in state.get("members", {}):
                raise Rejected("give to a member of the room", field="args.to", expected="a member", got=describe(to))
            return [set_op(private_path(to, "secret"), new_secret()), set_op(["changes"], state["changes"] + 1)]
        if action == "forget":
            require_keys(args, set(), set(), action)
            if member not in state.get(PRIVATE_KEY, {}):
                raise Rejected("nothing to forget", field="member", expected="a member with a secret", got=member)
            return [del_op([PRIVATE_KEY, member]), set_op(["changes"], state["changes"] + 1)]
        if action == "note":
            require_keys(args, {"text"}, set(), action)
            if not isinstance(args["text"], str):
                raise InvalidArgument(
                    "a note is text", field="args.text", expected="a string", got=describe(args["text"])
                )
            return [set_op(["note"], args["text"])]
        raise InvalidArgument(f"no action {action!r}", field="action", expected="an action", got=describe(action))
