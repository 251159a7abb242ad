"""The chase example room type: its server loop, driven through the real core by the room test kit."""

from __future__ import annotations

import math
from typing import Any

import pytest

from examples.chase.rooms import CATCH_RADIUS, MAX_STEP, NPC_SPEED, WORLD, Chase, start_position
from kasagi.rooms import InvalidArgument, Rejected
from kasagi.testing import RoomKit

TICK_MS = 50  # 20 Hz
INVALID = "kasagi.error.invalid_argument"
REJECTED = "kasagi.error.rejected"


def _distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    return math.hypot(a["x"] - b["x"], a["y"] - b["y"])


def _state(players: dict[str, tuple[float, float]], npcs: list[tuple[float, float]]) -> dict[str, Any]:
    """A state with the given players (all online) and NPCs, for the pure hooks."""
    return {
        "members": {m: {"online": True} for m in players},
        "players": {m: {"x": x, "y": y, "caught": 0, "t": 0} for m, (x, y) in players.items()},
        "npcs": [{"x": x, "y": y, "score": 0, "target": None} for x, y in npcs],
        "catches": 0,
    }


def test_the_room_runs_a_twenty_hertz_loop() -> None:
    """The chase room type asks the core for 20 ticks a second."""
    assert Chase.tick_hz == 20


def test_options_choose_how_many_npcs_hunt() -> None:
    """Three NPCs by default, spread along the top edge; the npcs option picks 1 to 8."""
    npcs = Chase.from_options({}).initial_state()["npcs"]
    assert [(n["x"], n["y"]) for n in npcs] == [(250, 40), (500, 40), (750, 40)]
    assert len(Chase.from_options({"npcs": 8}).initial_state()["npcs"]) == 8


@pytest.mark.parametrize("options", [{"npcs": 0}, {"npcs": 9}, {"npcs": "3"}, {"npcs": True}, {"speed": 2}])
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    """An NPC count outside 1 to 8, or an unknown option, is invalid_argument naming the option."""
    with pytest.raises(InvalidArgument) as caught:
        Chase.from_options(options)
    assert caught.value.field == "options." + next(iter(options))


def test_a_member_gets_a_player_at_its_start_position_and_loses_it_when_gone() -> None:
    """Joining puts the member's player where its id says; the player goes with the member."""
    kit = RoomKit(Chase, options={}, now_ms=0)
    state = kit.join("alice")
    x, y = start_position("alice")
    assert state["players"]["alice"] == {"x": x, "y": y, "caught": 0, "t": 0}
    kit.leave("alice")
    assert kit.state["players"] == {}


def test_a_move_within_the_speed_limit_moves_the_player() -> None:
    """A move of at most 10 on each axis steps the player and keeps the sender's time."""
    kit = RoomKit(Chase, options={}, now_ms=0)
    kit.join("alice")
    x, y = start_position("alice")
    assert kit.act("alice", "move", {"dx": -MAX_STEP, "dy": 2.5, "t": 123}) is None
    player = kit.state["players"]["alice"]
    assert (player["x"], player["y"], player["t"]) == (x - MAX_STEP, y + 2.5, 123)


def test_moves_are_clamped_to_the_field() -> None:
    """A player at the edge stays inside the 1000 x 1000 field."""
    state = _state({"alice": (WORLD - 3, 2)}, [(500, 500)])
    [op] = Chase().apply(state, "alice", "move", {"dx": 10, "dy": -10})
    assert (op[2]["x"], op[2]["y"]) == (WORLD, 0)


@pytest.mark.parametrize(
    ("args", "uri", "field"),
    [
        ({"dx": 11, "dy": 0}, REJECTED, "args.dx"),
        ({"dx": 0, "dy": -10.5}, REJECTED, "args.dy"),
        ({"dx": "1", "dy": 0}, INVALID, "args.dx"),
        ({"dx": 0, "dy": True}, INVALID, "args.dy"),
        ({"dx": 0}, INVALID, "args.dy"),
        ({"dx": 0, "dy": 0, "z": 1}, INVALID, "args.z"),
        ({"dx": 0, "dy": 0, "t": "now"}, INVALID, "args.t"),
    ],
)
def test_bad_moves_are_refused_and_change_nothing(args: dict[str, Any], uri: str, field: str) -> None:
    """A move over the speed limit is rejected; a malformed one is invalid; the state stays."""
    kit = RoomKit(Chase, options={}, now_ms=0)
    kit.join("alice")
    before = kit.state
    refused = kit.refused("alice", "move", args)
    assert (refused.uri, refused.details["field"]) == (uri, field)
    assert kit.state["players"] == before["players"]


def test_a_move_of_a_member_without_a_player_is_rejected() -> None:
    """The hook rejects a move of a member who has no player in the state."""
    with pytest.raises(Rejected) as caught:
        Chase().apply(_state({}, [(0, 0)]), "ghost", "move", {"dx": 1, "dy": 1})
    assert caught.value.field == "member"


def test_each_tick_moves_every_npc_toward_the_nearest_player() -> None:
    """One 50 ms tick moves each NPC 6 units (120 a second) straight at the player."""
    kit = RoomKit(Chase, options={"npcs": 2}, now_ms=0)
    kit.join("alice")
    player = kit.state["players"]["alice"]
    before = kit.state["npcs"]
    kit.advance(TICK_MS)
    after = kit.state["npcs"]
    for old, new in zip(before, after, strict=True):
        assert _distance(old, new) == pytest.approx(NPC_SPEED * TICK_MS / 1000, abs=0.15)
        assert _distance(new, player) == pytest.approx(_distance(old, player) - NPC_SPEED * TICK_MS / 1000, abs=0.15)
        assert new["target"] == "alice"


def test_one_second_of_loop_is_twenty_steps() -> None:
    """After one second an NPC has run 120 units toward a player far away."""
    kit = RoomKit(Chase, options={"npcs": 1}, now_ms=0)
    kit.join("alice")
    start = kit.state["npcs"][0]
    kit.advance(1000)
    assert _distance(start, kit.state["npcs"][0]) == pytest.approx(NPC_SPEED, abs=1)


def test_an_npc_hunts_the_nearer_of_two_players_and_ties_go_to_the_smaller_id() -> None:
    """The NPC targets the closest online player; at equal distance the smaller member id."""
    state = _state({"bob": (500, 900), "alice": (500, 300)}, [(500, 100)])
    [op] = Chase().on_tick(state, 50, TICK_MS)
    assert op[2]["target"] == "alice"
    state = _state({"bob": (600, 100), "alice": (400, 100)}, [(500, 100)])
    [op] = Chase().on_tick(state, 50, TICK_MS)
    assert op[2]["target"] == "alice"


def test_offline_players_are_not_hunted_and_an_empty_room_stands_still() -> None:
    """With every player offline (in the grace period) a tick changes nothing."""
    state = _state({"alice": (500, 500)}, [(100, 100)])
    state["members"]["alice"]["online"] = False
    assert Chase().on_tick(state, 50, TICK_MS) == []
    kit = RoomKit(Chase, options={}, now_ms=0)
    kit.advance(1000)
    assert kit.state["npcs"] == Chase().initial_state()["npcs"]


def test_a_caught_player_is_sent_to_the_far_corner_and_the_npc_scores() -> None:
    """An NPC within the catch radius sends the player to the corner farthest from it and scores."""
    state = _state({"alice": (100 + CATCH_RADIUS, 100)}, [(100, 100)])
    effects = Chase().on_tick(state, 50, TICK_MS)
    applied = {tuple(op[1]): op[2] for op in effects}
    assert applied[("players", "alice")] == {"x": WORLD - 40, "y": WORLD - 40, "caught": 1, "t": 0}
    assert applied[("npcs", 0)]["score"] == 1
    assert applied[("catches",)] == 1


def test_a_player_caught_by_two_npcs_at_once_counts_once() -> None:
    """Two NPCs reaching the same player in one tick: the first scores, the player is caught once."""
    state = _state({"alice": (500, 500)}, [(490, 500), (510, 500)])
    effects = Chase().on_tick(state, 50, TICK_MS)
    applied = {tuple(op[1]): op[2] for op in effects}
    assert applied[("players", "alice")]["caught"] == 1
    assert applied[("npcs", 0)]["score"] == 1
    assert ("npcs", 1) not in applied or applied[("npcs", 1)]["score"] == 0
    assert applied[("catches",)] == 1


def test_the_loop_catches_a_player_who_stands_still() -> None:
    """A player who never moves is caught within the time an NPC needs to cross the field."""
    kit = RoomKit(Chase, options={}, now_ms=0)
    kit.join("alice")
    kit.advance(1000 * WORLD * 2 // NPC_SPEED)
    assert kit.state["catches"] >= 1
    assert kit.state["players"]["alice"]["caught"] >= 1
    assert sum(n["score"] for n in kit.state["npcs"]) == kit.state["catches"]


def _script(kit: RoomKit) -> None:
    kit.join("alice")
    kit.advance(500)
    kit.join("bob")
    for i in range(40):
        kit.act("alice", "move", {"dx": 10 if i % 3 else -4, "dy": 7})
        kit.act("bob", "move", {"dx": -6, "dy": -10 if i % 2 else 3})
        kit.advance(TICK_MS)
    kit.leave("bob")
    kit.advance(3000)


def test_the_loop_is_deterministic_given_the_same_inputs() -> None:
    """Two rooms fed the same joins, moves and time end in the same state through the same events."""
    one, two = RoomKit(Chase, options={}, now_ms=0), RoomKit(Chase, options={}, now_ms=0)
    _script(one)
    _script(two)
    assert one.state == two.state
    assert [e["ops"] for e in one.events] == [e["ops"] for e in two.events]
    assert one.state["npcs"] != Chase().initial_state()["npcs"]
