"""The tictactoe example room type, driven through the real core by the room test kit."""

from __future__ import annotations

from typing import Any

import pytest

from examples.tictactoe.rooms import LINES, TicTacToe, winner_of
from kasagi.rooms import InvalidArgument
from kasagi.testing import RoomKit

TURN_MS = 30_000
INVALID = "kasagi.error.invalid_argument"
REJECTED = "kasagi.error.rejected"


def game(**options: Any) -> RoomKit:
    """A room where alice (X) and bob (O) have joined, so the game is on with X to move."""
    kit = RoomKit(TicTacToe, options=options, now_ms=0)
    kit.join("alice")
    kit.join("bob")
    return kit


def play(kit: RoomKit, *moves: tuple[str, int]) -> None:
    for member, cell in moves:
        assert kit.act(member, "move", {"cell": cell}) is None, (member, cell)


def refusal(kit: RoomKit, member: str, action: str, args: dict[str, Any]) -> Any:
    """Refuse an action and check that it changed nothing."""
    before, events = kit.state, len(kit.events)
    refused = kit.refused(member, action, args)
    assert kit.state == before
    assert len(kit.events) == events
    return refused


def test_options_default_to_a_thirty_second_turn() -> None:
    """A room opened without options gives each player 30 seconds a move."""
    assert TicTacToe.from_options({}).options() == {"turn_seconds": 30}
    assert TicTacToe.from_options({"turn_seconds": 5}).initial_state()["turn_ms"] == 5000


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"turn_seconds": 0}, "options.turn_seconds"),
        ({"turn_seconds": 3601}, "options.turn_seconds"),
        ({"turn_seconds": "30"}, "options.turn_seconds"),
        ({"turn_seconds": True}, "options.turn_seconds"),
        ({"turn_seconds": 2.5}, "options.turn_seconds"),
        ({"speed": 1}, "options.speed"),
    ],
)
def test_bad_options_are_refused_naming_the_option(options: dict[str, Any], field: str) -> None:
    """A turn length that is not 1 to 3600 whole seconds, or an unknown option, is invalid_argument."""
    with pytest.raises(InvalidArgument) as caught:
        TicTacToe.from_options(options)
    assert caught.value.field == field
    assert caught.value.expected


def test_every_line_wins_and_an_empty_or_mixed_line_does_not() -> None:
    """Each row, column and diagonal of one mark is a win; a board without one is not."""
    for line in LINES:
        board = [""] * 9
        for cell in line:
            board[cell] = "O"
        assert winner_of(board) == ("O", list(line))
    assert winner_of([""] * 9) is None
    assert winner_of(["X", "O", "X", "X", "O", "O", "O", "X", "X"]) is None


def test_the_first_two_members_take_the_seats_and_the_game_starts() -> None:
    """Alice takes X, bob O; with both seated the game is on, X to move, and the turn timer runs."""
    kit = RoomKit(TicTacToe, options={}, now_ms=1000)
    state = kit.join("alice")
    assert state["seats"] == {"X": "alice", "O": None}
    assert state["phase"] == "waiting"
    assert "turn" not in state.get("timers", {})
    state = kit.join("bob")
    assert state["seats"] == {"X": "alice", "O": "bob"}
    assert (state["phase"], state["turn"], state["games"]) == ("playing", "X", 1)
    assert state["timers"]["turn"] == {"at": 1000 + TURN_MS, "data": {"seat": "X"}}


def test_a_third_member_watches() -> None:
    """A member who joins when both seats are taken holds no seat and cannot move."""
    kit = game()
    state = kit.join("carol")
    assert "carol" not in state["seats"].values()
    refused = refusal(kit, "carol", "move", {"cell": 0})
    assert (refused.uri, refused.details["field"]) == (REJECTED, "member")


def test_a_seated_member_coming_back_keeps_the_seat() -> None:
    """on_join for a member already seated (back within the grace period) changes nothing."""
    kit = game()
    assert TicTacToe().on_join(kit.state, "alice") == []


def test_a_move_marks_the_cell_and_passes_the_turn() -> None:
    """X's move puts an X in the cell, O is to move, and O's turn timer replaces X's."""
    kit = game()
    kit.advance(10_000)
    play(kit, ("alice", 4))
    state = kit.state
    assert state["board"][4] == "X"
    assert (state["turn"], state["moves"], state["last"]) == ("O", 1, {"seat": "X", "cell": 4})
    assert state["timers"]["turn"] == {"at": 10_000 + TURN_MS, "data": {"seat": "O"}}


def test_a_move_out_of_turn_is_rejected() -> None:
    """O moving while it is X's turn is rejected, naming whose turn it is."""
    kit = game()
    refused = refusal(kit, "bob", "move", {"cell": 0})
    assert refused.uri == REJECTED
    assert (refused.details["field"], refused.details["expected"], refused.details["got"]) == ("turn", "O", "X")


def test_a_move_on_a_taken_cell_is_rejected() -> None:
    """A move on a cell that holds a mark is rejected, saying what the cell holds."""
    kit = game()
    play(kit, ("alice", 4))
    refused = refusal(kit, "bob", "move", {"cell": 4})
    assert (refused.uri, refused.details["field"]) == (REJECTED, "args.cell")
    assert refused.details["got"] == "cell 4 holds X"


@pytest.mark.parametrize(
    "args", [{"cell": 9}, {"cell": -1}, {"cell": "4"}, {"cell": True}, {"cell": 1.0}, {"cell": None}]
)
def test_a_bad_cell_index_is_invalid(args: dict[str, Any]) -> None:
    """A cell that is not an integer from 0 to 8 is invalid_argument on args.cell."""
    kit = game()
    refused = refusal(kit, "alice", "move", args)
    assert (refused.uri, refused.details["field"], refused.details["expected"]) == (
        INVALID,
        "args.cell",
        "an integer from 0 to 8",
    )


@pytest.mark.parametrize(("args", "field"), [({}, "args.cell"), ({"cell": 0, "mark": "X"}, "args.mark")])
def test_missing_or_unknown_move_arguments_are_invalid(args: dict[str, Any], field: str) -> None:
    """A move without a cell, or with an argument it does not take, is invalid_argument."""
    kit = game()
    refused = refusal(kit, "alice", "move", args)
    assert (refused.uri, refused.details["field"]) == (INVALID, field)


def test_no_move_before_the_game_starts() -> None:
    """A lone player cannot move: the game waits for the second player."""
    kit = RoomKit(TicTacToe, options={}, now_ms=0)
    kit.join("alice")
    refused = refusal(kit, "alice", "move", {"cell": 0})
    assert (refused.uri, refused.details["field"], refused.details["expected"]) == (REJECTED, "phase", "playing")


def test_three_in_a_row_wins_and_ends_the_game() -> None:
    """X completing the top row wins: the game is over, the line and the score are kept, the timer is gone."""
    kit = game()
    play(kit, ("alice", 0), ("bob", 3), ("alice", 1), ("bob", 4), ("alice", 2))
    state = kit.state
    assert (state["phase"], state["winner"], state["line"], state["reason"]) == ("over", "X", [0, 1, 2], "line")
    assert state["turn"] is None
    assert state["score"] == {"alice": 1}
    assert "turn" not in state.get("timers", {})


def test_no_move_after_the_game_is_over() -> None:
    """Once the game is won, any move is rejected as game over."""
    kit = game()
    play(kit, ("alice", 0), ("bob", 3), ("alice", 1), ("bob", 4), ("alice", 2))
    for member in ("alice", "bob"):
        refused = refusal(kit, member, "move", {"cell": 8})
        assert (refused.uri, refused.details["field"]) == (REJECTED, "phase")
        assert refused.details["got"].startswith("over")


def test_a_full_board_without_a_line_is_a_draw() -> None:
    """Nine moves without three in a row end the game in a draw; nobody scores."""
    kit = game()
    play(
        kit,
        ("alice", 0), ("bob", 1), ("alice", 2), ("bob", 4), ("alice", 3),
        ("bob", 5), ("alice", 7), ("bob", 6), ("alice", 8),
    )  # fmt: skip
    state = kit.state
    assert (state["phase"], state["winner"], state["line"], state["reason"]) == ("over", "draw", None, "full")
    assert state["score"] == {}


def test_a_player_who_does_not_move_in_time_loses_the_turn() -> None:
    """When X's turn timer fires, O is to move, the page learns that X timed out, and O's timer runs."""
    kit = game()
    kit.advance(TURN_MS - 1)
    assert kit.state["turn"] == "X"
    kit.advance(1)
    state = kit.state
    assert (state["turn"], state["last"]) == ("O", {"seat": "X", "timed_out": True})
    assert state["timers"]["turn"] == {"at": 2 * TURN_MS, "data": {"seat": "O"}}
    refused = refusal(kit, "alice", "move", {"cell": 0})
    assert refused.details["field"] == "turn"
    play(kit, ("bob", 0))
    assert kit.state["board"][0] == "O"


def test_the_turn_timer_follows_the_option() -> None:
    """A room opened with turn_seconds 5 passes the turn after 5 seconds, twice in 10 seconds."""
    kit = game(turn_seconds=5)
    kit.advance(5000)
    assert kit.state["turn"] == "O"
    kit.advance(5000)
    assert kit.state["turn"] == "X"


def test_each_move_restarts_the_turn_timer() -> None:
    """A move 10 s into a turn gives the next player a full turn: nothing passes until 40 s."""
    kit = game()
    kit.advance(10_000)
    play(kit, ("alice", 4))
    kit.advance(TURN_MS - 1)
    assert kit.state["turn"] == "O"
    kit.advance(1)
    assert kit.state["turn"] == "X"


def test_a_finished_game_has_no_timer_left_to_fire() -> None:
    """After a win, time passing changes nothing: the turn timer was cancelled with the last move."""
    kit = game()
    play(kit, ("alice", 0), ("bob", 3), ("alice", 1), ("bob", 4), ("alice", 2))
    before, events = kit.state, len(kit.events)
    kit.advance(10 * TURN_MS)
    assert kit.state == before
    assert len(kit.events) == events


def test_rematch_resets_the_board_and_swaps_the_seats() -> None:
    """When both players ask for a rematch the board is cleared, bob plays X and moves first."""
    kit = game()
    play(kit, ("alice", 0), ("bob", 3), ("alice", 1), ("bob", 4), ("alice", 2))
    kit.advance(1000)
    assert kit.act("alice", "rematch", {}) is None
    state = kit.state
    assert (state["phase"], state["rematch"]) == ("over", ["alice"])
    assert kit.act("bob", "rematch", {}) is None
    state = kit.state
    assert state["seats"] == {"X": "bob", "O": "alice"}
    assert state["board"] == [""] * 9
    assert (state["phase"], state["turn"], state["winner"], state["line"], state["moves"]) == (
        "playing",
        "X",
        None,
        None,
        0,
    )
    assert (state["games"], state["rematch"], state["score"]) == (2, [], {"alice": 1})
    assert state["timers"]["turn"] == {"at": 1000 + TURN_MS, "data": {"seat": "X"}}
    play(kit, ("bob", 4))
    assert kit.state["board"][4] == "X"


def test_rematch_refusals() -> None:
    """A rematch is refused during a game, to a watcher, and to a player asking twice."""
    kit = game()
    kit.join("carol")
    assert refusal(kit, "alice", "rematch", {}).details["field"] == "phase"
    play(kit, ("alice", 0), ("bob", 3), ("alice", 1), ("bob", 4), ("alice", 2))
    assert refusal(kit, "carol", "rematch", {}).details["field"] == "member"
    assert refusal(kit, "alice", "rematch", {"now": True}).uri == INVALID
    assert kit.act("alice", "rematch", {}) is None
    assert refusal(kit, "alice", "rematch", {}).details["field"] == "rematch"


def test_a_player_who_leaves_mid_game_loses_and_a_watcher_takes_the_seat() -> None:
    """When X's member is gone during a game, O wins and the first online watcher sits at X."""
    kit = game()
    kit.join("dave")
    kit.join("carol")
    play(kit, ("alice", 4))
    kit.leave("alice")
    state = kit.state
    assert (state["phase"], state["winner"], state["reason"]) == ("over", "O", "left")
    assert state["seats"] == {"X": "carol", "O": "bob"}
    assert state["score"] == {"bob": 1}
    assert "turn" not in state.get("timers", {})


def test_a_new_player_in_a_free_seat_starts_a_new_game() -> None:
    """With no watcher, the seat of a player who left stays free; the next member takes it and a game starts."""
    kit = game()
    kit.leave("bob")
    assert kit.state["seats"] == {"X": "alice", "O": None}
    assert kit.state["phase"] == "over"
    state = kit.join("erin")
    assert state["seats"] == {"X": "alice", "O": "erin"}
    assert (state["phase"], state["turn"], state["games"], state["board"]) == ("playing", "X", 2, [""] * 9)


def test_a_watcher_leaving_changes_nothing_of_the_game() -> None:
    """A watcher's presence ending leaves the seats and the board as they were."""
    kit = game()
    kit.join("carol")
    play(kit, ("alice", 4))
    before = kit.state
    kit.leave("carol")
    after = kit.state
    for key in ("seats", "board", "phase", "turn"):
        assert after[key] == before[key]
