"""``chase``: NPCs hunt the players through a 1000 x 1000 field, simulated by a 20 Hz server loop.

Written only against :mod:`kasagi.rooms`. Run it with
``kasagi up --room-type examples.chase.rooms:Chase`` and open ``/examples/chase.html``.

State::

    {
      "players": {"alice": {"x": 120, "y": 80, "caught": 2, "t": 1712000000000}},
      "npcs":    [{"x": 250.0, "y": 40.0, "score": 1, "target": "alice"}, ...],
      "catches": 3                                  # players caught in this room so far
    }

Rules:

- A member who joins gets a player at a start position derived from its id; the player goes
  when the member's presence ends.
- ``move {"dx", "dy", "t"?}``: the player steps by at most ``MAX_STEP`` (10) on each axis,
  clamped to the field (the room's rate limit bounds how many moves a second arrive).
  ``t``, the sender's clock in ms, is kept so pages can measure their latency.
- Every tick (``tick_hz = 20``) each NPC runs ``NPC_SPEED`` units a second toward the nearest
  online player (ties go to the smaller member id) and stands still when nobody is online.
  An NPC within ``CATCH_RADIUS`` of a player catches it: the NPC scores, the player's
  ``caught`` count goes up and it is sent back to the corner farthest from that NPC.

Nothing is random: the same joins, moves and ticks give the same states, on every node.
Option (``lobby.open``): ``{"npcs": 1..8}``, how many NPCs hunt (default 3).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from kasagi.rooms import (
    Effect,
    InvalidArgument,
    Rejected,
    RoomType,
    del_op,
    describe,
    int_option,
    require_keys,
    require_options,
    set_op,
)

__all__ = ["CATCH_RADIUS", "MAX_STEP", "NPC_SPEED", "WORLD", "Chase", "start_position"]

WORLD = 1000
MAX_STEP = 10
#: NPC speed in units a second (a player holding a key moves about 200 a second).
NPC_SPEED = 120
CATCH_RADIUS = 24
DEFAULT_NPCS = 3
MAX_NPCS = 8
CORNERS = ((40, 40), (WORLD - 40, 40), (40, WORLD - 40), (WORLD - 40, WORLD - 40))


def start_position(member: str) -> tuple[int, int]:
    """Where a member's player appears: stable for a member id, in the lower half of the field."""
    digest = hashlib.sha256(member.encode("utf-8")).digest()
    x = 40 + int.from_bytes(digest[:4], "big") % (WORLD - 80)
    y = WORLD // 2 + int.from_bytes(digest[4:8], "big") % (WORLD // 2 - 40)
    return x, y


def _number(args: Mapping[str, Any], key: str) -> float | int:
    value = args[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(
            f"{key} must be a finite number", field=f"args.{key}", expected="a finite number", got=describe(value)
        )
    return value


def _clamp(v: float) -> float:
    return 0 if v < 0 else WORLD if v > WORLD else v


def _online_players(state: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    members = state.get("members", {})
    players = state.get("players", {})
    return [(m, players[m]) for m in sorted(players) if members.get(m, {}).get("online")]


class Chase(RoomType):
    name: ClassVar[str] = "chase"
    actions: ClassVar[frozenset[str]] = frozenset({"move"})
    tick_hz: ClassVar[float] = 20
    #: The lobby lists the players online and the NPCs; matchmaking seats up to eight players.
    listing_keys: ClassVar[frozenset[str]] = frozenset({"players", "npcs"})
    seats: ClassVar[int] = 8

    def __init__(self, npcs: int = DEFAULT_NPCS) -> None:
        self.npcs = npcs

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Chase:
        require_options(options, {"npcs"}, "chase")
        return cls(int_option(options, "npcs", DEFAULT_NPCS, 1, MAX_NPCS, "npcs must be a small whole number"))

    def options(self) -> dict[str, Any]:
        return {"npcs": self.npcs}

    def listing(self, state: Mapping[str, Any]) -> dict[str, Any]:
        # Recomputed on each commit (20 a second while hunting); written only when it changes.
        return {"players": len(_online_players(state)), "npcs": len(state.get("npcs", []))}

    @classmethod
    def match_options(cls, criteria: Mapping[str, Any]) -> dict[str, Any]:
        npcs = criteria.get("npcs")
        return {"npcs": npcs} if isinstance(npcs, int) and not isinstance(npcs, bool) and 1 <= npcs <= MAX_NPCS else {}

    def initial_state(self) -> dict[str, Any]:
        gap = WORLD / (self.npcs + 1)
        npcs = [{"x": round(gap * (i + 1), 1), "y": 40, "score": 0, "target": None} for i in range(self.npcs)]
        return {"players": {}, "npcs": npcs, "catches": 0}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Effect]:
        if action != "move":
            raise InvalidArgument(
                f"chase has no action {action!r}", field="action", expected="move", got=describe(action)
            )
        require_keys(args, {"dx", "dy"}, {"t"}, "move")
        dx, dy = _number(args, "dx"), _number(args, "dy")
        for key, value in (("dx", dx), ("dy", dy)):
            if abs(value) > MAX_STEP:
                raise Rejected(
                    "move is faster than the speed limit",
                    field=f"args.{key}",
                    expected=f"|{key}| <= {MAX_STEP}",
                    got=describe(value),
                )
        t = _number(args, "t") if "t" in args else 0
        player = state.get("players", {}).get(member)
        if player is None:
            raise Rejected("the member has no player in this room", field="member", expected="a player", got=member)
        moved = {**player, "x": _clamp(player["x"] + dx), "y": _clamp(player["y"] + dy), "t": t}
        return [set_op(["players", member], moved)]

    def on_join(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        if member in state.get("players", {}):
            return []
        x, y = start_position(member)
        return [set_op(["players", member], {"x": x, "y": y, "caught": 0, "t": 0})]

    def on_leave(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        effects: list[Effect] = []
        if member in state.get("players", {}):
            effects.append(del_op(["players", member]))
        for i, npc in enumerate(state.get("npcs", [])):
            if npc.get("target") == member:
                effects.append(set_op(["npcs", i, "target"], None))
        return effects

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> list[Effect]:
        hunted = _online_players(state)
        if not hunted:
            return []  # nobody to chase: the NPCs stand still and the tick changes nothing
        players = {m: dict(p) for m, p in hunted}
        step = NPC_SPEED * dt_ms / 1000
        effects: list[Effect] = []
        caught: set[str] = set()
        catches = state.get("catches", 0)
        for i, npc in enumerate(state["npcs"]):
            target, (tx, ty) = min(
                ((m, (p["x"], p["y"])) for m, p in players.items() if m not in caught),
                key=lambda mp: (math.hypot(mp[1][0] - npc["x"], mp[1][1] - npc["y"]), mp[0]),
                default=(None, (npc["x"], npc["y"])),
            )
            distance = math.hypot(tx - npc["x"], ty - npc["y"])
            if distance <= step:
                x, y = float(tx), float(ty)
            else:
                x = npc["x"] + (tx - npc["x"]) * step / distance
                y = npc["y"] + (ty - npc["y"]) * step / distance
            moved = {**npc, "x": round(x, 1), "y": round(y, 1), "target": target}
            if target is not None and math.hypot(tx - x, ty - y) <= CATCH_RADIUS:
                caught.add(target)
                catches += 1
                moved["score"] = npc["score"] + 1
                cx, cy = max(CORNERS, key=lambda c: (math.hypot(c[0] - x, c[1] - y), c))
                player = players[target]
                player.update(x=cx, y=cy, caught=player["caught"] + 1)
                effects.append(set_op(["players", target], player))
            if moved != npc:
                effects.append(set_op(["npcs", i], moved))
        if caught:
            effects.append(set_op(["catches"], catches))
        return effects
