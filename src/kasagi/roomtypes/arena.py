"""``arena``: a game in a 1000 x 1000 world where each member moves a player.

``state.players[authid] = {"x", "y", "hp", "t"}``. Action ``move {"dx", "dy", "t"?}``: refused
unless ``|dx| <= 10`` and ``|dy| <= 10`` (the speed limit); the position is clamped to the
world; ``t`` (the client's send time in ms) is stored so receivers can measure latency.
A player appears where the member first joins (a position derived from its id) and is
removed when the member's presence grace period ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from kasagi.rooms import Effect, InvalidArgument, Rejected, RoomType, del_op, describe, require_keys, set_op

__all__ = ["Arena"]

WORLD = 1000
MAX_STEP = 10
START_HP = 100


def _number(args: Mapping[str, Any], key: str) -> float | int:
    value = args[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{key} must be a number", field=f"args.{key}", expected="a number", got=describe(value))
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidArgument(f"{key} must be finite", field=f"args.{key}", expected="a finite number", got=repr(value))
    return value


def _clamp(v: float | int) -> float | int:
    return 0 if v < 0 else WORLD if v > WORLD else v


def start_position(member: str) -> tuple[int, int]:
    """Where a member's player appears: stable for a member id, spread over the world."""
    digest = hashlib.sha256(member.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % WORLD, int.from_bytes(digest[4:8], "big") % WORLD


class Arena(RoomType):
    name: ClassVar[str] = "arena"
    actions: ClassVar[frozenset[str]] = frozenset({"move"})
    #: The lobby lists how many players a room has.
    listing_keys: ClassVar[frozenset[str]] = frozenset({"players"})

    def initial_state(self) -> dict[str, Any]:
        return {"players": {}}

    def listing(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return {"players": len(state.get("players", {}))}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Effect]:
        if action != "move":
            raise InvalidArgument(
                f"arena has no action {action!r}", field="action", expected="move", got=describe(action)
            )
        require_keys(args, {"dx", "dy"}, {"t"}, "move")
        dx, dy = _number(args, "dx"), _number(args, "dy")
        if abs(dx) > MAX_STEP:
            raise Rejected(
                "move is faster than the speed limit", field="args.dx", expected=f"|dx| <= {MAX_STEP}", got=describe(dx)
            )
        if abs(dy) > MAX_STEP:
            raise Rejected(
                "move is faster than the speed limit", field="args.dy", expected=f"|dy| <= {MAX_STEP}", got=describe(dy)
            )
        t = _number(args, "t") if "t" in args else 0
        player = state.get("players", {}).get(member)
        if player is None:
            raise Rejected(
                "the member has no player in this room", field="member", expected="a joined player", got=member
            )
        moved = {"x": _clamp(player["x"] + dx), "y": _clamp(player["y"] + dy), "hp": player["hp"], "t": t}
        return [set_op(["players", member], moved)]

    def on_join(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        if member in state.get("players", {}):
            return []
        x, y = start_position(member)
        return [set_op(["players", member], {"x": x, "y": y, "hp": START_HP, "t": 0})]

    def on_leave(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        if member in state.get("players", {}):
            return [del_op(["players", member])]
        return []
