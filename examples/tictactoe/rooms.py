"""``tictactoe``: two players, X and O, on a 3 x 3 board; everyone else in the room watches.

Written only against :mod:`kasagi.rooms`. Run it with
``kasagi up --room-type examples.tictactoe.rooms:TicTacToe`` and open ``/examples/tictactoe.html``.

State::

    {
      "board":   ["", "X", "O", "", "", "", "", "", ""],  # cells 0..8, row by row
      "seats":   {"X": "alice", "O": "bob"},     # a member id or null
      "phase":   "waiting" | "playing" | "over",
      "turn":    "X" | "O" | null,                # whose move it is (only while playing)
      "winner":  "X" | "O" | "draw" | null,       # set when the game is over
      "line":    [0, 4, 8] | null,                # the winning cells
      "reason":  "line" | "full" | "left" | null, # how it ended (a line, a full board, a player left)
      "last":    {"seat": "X", "cell": 4} | {"seat": "X", "timed_out": true} | null,
      "moves":   3,                               # moves made in this game
      "games":   1,                               # games started in this room
      "rematch": ["alice"],                       # players asking for a rematch (game over)
      "score":   {"alice": 1},                    # games won per member
      "turn_ms": 30000                            # how long a player has for a move
    }

Rules:

- A member who joins takes the X seat if it is free, else the O seat, else watches. When the
  second seat is taken, a new game starts with X to move.
- ``move {"cell": 0..8}``: only the player whose turn it is, only on an empty cell, only while
  the game is on. Three in a row wins; a full board without one is a draw.
- The turn timer: each move (and the start of a game) sets the durable timer ``turn``, which
  replaces the previous one. A player who does not move within ``turn_ms`` loses the turn to
  the other player. It lives in ``state.timers`` like every timer, so it survives a restart.
- ``rematch {}``: after a game is over, each player asks once; when both have, the board is
  cleared, the players swap seats and X moves first.
- A player whose presence ends (the grace period is over) leaves the seat to the first watcher
  still online (by member id); a game in progress is won by the other player.

Option (``lobby.open``): ``{"turn_seconds": 1..3600}``, default 30.

Lobby: every room is listed with ``{"phase": ..., "seats_free": 0..2}``; ``kasagi.lobby.match``
seats two members per room (``seats = 2``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kasagi.rooms import (
    Effect,
    InvalidArgument,
    Rejected,
    RoomType,
    cancel_timer,
    describe,
    int_option,
    require_keys,
    require_options,
    set_op,
    set_timer,
)

__all__ = ["LINES", "TicTacToe", "winner_of"]

SEATS = ("X", "O")
CELLS = 9
#: Every row, column and diagonal of the board.
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
TURN_TIMER = "turn"
DEFAULT_TURN_SECONDS = 30
MAX_TURN_SECONDS = 3600


def winner_of(board: list[str]) -> tuple[str, list[int]] | None:
    """The seat that has three in a row on ``board`` and the line's cells, or None."""
    for a, b, c in LINES:
        if board[a] and board[a] == board[b] == board[c]:
            return board[a], [a, b, c]
    return None


def _other(seat: str) -> str:
    return "O" if seat == "X" else "X"


def _seat_of(state: Mapping[str, Any], member: str) -> str | None:
    seats = state.get("seats", {})
    for seat in SEATS:
        if seats.get(seat) == member:
            return seat
    return None


class TicTacToe(RoomType):
    name: ClassVar[str] = "tictactoe"
    actions: ClassVar[frozenset[str]] = frozenset({"move", "rematch"})
    #: The lobby lists each room's phase and free seats; matchmaking seats two players.
    listing_keys: ClassVar[frozenset[str]] = frozenset({"phase", "seats_free"})
    seats: ClassVar[int] = 2

    def __init__(self, turn_seconds: int = DEFAULT_TURN_SECONDS) -> None:
        self.turn_seconds = turn_seconds

    @property
    def turn_ms(self) -> int:
        return self.turn_seconds * 1000

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TicTacToe:
        require_options(options, {"turn_seconds"}, "tictactoe")
        message = "turn_seconds must be a whole number of seconds"
        return cls(int_option(options, "turn_seconds", DEFAULT_TURN_SECONDS, 1, MAX_TURN_SECONDS, message))

    def listing(self, state: Mapping[str, Any]) -> dict[str, Any]:
        seats = state.get("seats", {})
        return {"phase": state.get("phase", "waiting"), "seats_free": sum(1 for s in SEATS if not seats.get(s))}

    def options(self) -> dict[str, Any]:
        return {"turn_seconds": self.turn_seconds}

    def initial_state(self) -> dict[str, Any]:
        return {
            "board": [""] * CELLS,
            "seats": {"X": None, "O": None},
            "phase": "waiting",
            "turn": None,
            "winner": None,
            "line": None,
            "reason": None,
            "last": None,
            "moves": 0,
            "games": 0,
            "rematch": [],
            "score": {},
            "turn_ms": self.turn_ms,
        }

    # -- actions -------------------------------------------------------------------------------

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Effect]:
        if action == "move":
            return self._move(state, member, args)
        if action == "rematch":
            return self._rematch(state, member, args)
        raise InvalidArgument(
            f"tictactoe has no action {action!r}", field="action", expected="move or rematch", got=describe(action)
        )

    def _move(self, state: Mapping[str, Any], member: str, args: Mapping[str, Any]) -> list[Effect]:
        require_keys(args, {"cell"}, set(), "move")
        cell = args["cell"]
        if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell < CELLS:
            raise InvalidArgument(
                "cell must be a cell index", field="args.cell", expected="an integer from 0 to 8", got=describe(cell)
            )
        seat = _seat_of(state, member)
        if seat is None:
            raise Rejected("only the two players move", field="member", expected="a seated player", got=member)
        phase = state["phase"]
        if phase == "waiting":
            raise Rejected("the game has not started", field="phase", expected="playing", got="waiting for a player")
        if phase == "over":
            raise Rejected("the game is over", field="phase", expected="playing", got="over (ask for a rematch)")
        if state["turn"] != seat:
            raise Rejected("it is not your turn", field="turn", expected=seat, got=str(state["turn"]))
        board = list(state["board"])
        if board[cell]:
            raise Rejected(
                "that cell is taken",
                field="args.cell",
                expected="an empty cell",
                got=f"cell {cell} holds {board[cell]}",
            )
        board[cell] = seat
        effects: list[Effect] = [
            set_op(["board", cell], seat),
            set_op(["moves"], state["moves"] + 1),
            set_op(["last"], {"seat": seat, "cell": cell}),
        ]
        won = winner_of(board)
        if won is not None:
            return effects + self._end(state, won[0], won[1], "line")
        if all(board):
            return effects + self._end(state, "draw", None, "full")
        return [*effects, set_op(["turn"], _other(seat)), self._turn_timer(_other(seat))]

    def _rematch(self, state: Mapping[str, Any], member: str, args: Mapping[str, Any]) -> list[Effect]:
        require_keys(args, set(), set(), "rematch")
        if _seat_of(state, member) is None:
            raise Rejected(
                "only the two players ask for a rematch", field="member", expected="a seated player", got=member
            )
        if state["phase"] != "over":
            raise Rejected("a rematch follows a finished game", field="phase", expected="over", got=state["phase"])
        asked = list(state["rematch"])
        if member in asked:
            raise Rejected(
                "you already asked for a rematch", field="rematch", expected="a player who has not asked", got=member
            )
        asked.append(member)
        seats = state["seats"]
        if seats["X"] is None or seats["O"] is None or not {seats["X"], seats["O"]} <= set(asked):
            return [set_op(["rematch"], asked)]
        return self._start(state, {"X": seats["O"], "O": seats["X"]})

    # -- presence and time ----------------------------------------------------------------------

    def on_join(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        seats = dict(state["seats"])
        if member in seats.values():
            return []  # back within the grace period: still seated
        free = [seat for seat in SEATS if seats[seat] is None]
        if not free:
            return []  # a watcher
        seats[free[0]] = member
        if len(free) == 1 and state["phase"] != "playing":
            return self._start(state, seats)
        return [set_op(["seats"], seats)]

    def on_leave(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        seat = _seat_of(state, member)
        if seat is None:
            return []
        seats = dict(state["seats"])
        online = state.get("members", {})
        watchers = sorted(m for m, p in online.items() if p.get("online") and m != member and m not in seats.values())
        seats[seat] = watchers[0] if watchers else None
        effects: list[Effect] = [set_op(["seats"], seats), set_op(["rematch"], [])]
        if state["phase"] == "playing":
            effects += self._end(state, _other(seat), None, "left")
        return effects

    def on_timer(self, state: Mapping[str, Any], name: str, data: Any, now_ms: int) -> list[Effect]:
        if name != TURN_TIMER or state["phase"] != "playing":
            return []
        seat = state["turn"]
        if not isinstance(data, dict) or data.get("seat") != seat:
            return []  # a timer from an older turn (never expected: each move replaces it)
        return [
            set_op(["turn"], _other(seat)),
            set_op(["last"], {"seat": seat, "timed_out": True}),
            self._turn_timer(_other(seat)),
        ]

    # -- helpers --------------------------------------------------------------------------------

    def _turn_timer(self, seat: str) -> Effect:
        return set_timer(TURN_TIMER, data={"seat": seat}, after_ms=self.turn_ms)

    def _start(self, state: Mapping[str, Any], seats: dict[str, str | None]) -> list[Effect]:
        return [
            set_op(["seats"], seats),
            set_op(["board"], [""] * CELLS),
            set_op(["phase"], "playing"),
            set_op(["turn"], "X"),
            set_op(["winner"], None),
            set_op(["line"], None),
            set_op(["reason"], None),
            set_op(["last"], None),
            set_op(["moves"], 0),
            set_op(["games"], state["games"] + 1),
            set_op(["rematch"], []),
            self._turn_timer("X"),
        ]

    def _end(self, state: Mapping[str, Any], winner: str, line: list[int] | None, reason: str) -> list[Effect]:
        effects: list[Effect] = [
            set_op(["phase"], "over"),
            set_op(["turn"], None),
            set_op(["winner"], winner),
            set_op(["line"], line),
            set_op(["reason"], reason),
            cancel_timer(TURN_TIMER),
        ]
        member = state["seats"].get(winner) if winner in SEATS else None
        if member is not None:
            effects.append(set_op(["score", member], state["score"].get(member, 0) + 1))
        return effects
