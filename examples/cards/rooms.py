"""``cards``: crazy eights for 2 to 4 players, each holding a hand nobody else sees.

Written only against :mod:`kasagi.rooms`. Run it with
``kasagi up --room-type examples.cards.rooms:Cards`` and open ``/examples/cards.html``.

Public state (every member's view)::

    {
      "seats":   ["alice", "bob"],           # the players, in turn order
      "players": 2,                          # seats at the table (the first round starts when full)
      "phase":   "waiting" | "playing" | "over",
      "round":   1,                          # rounds dealt in this room
      "turn":    "alice" | null,             # whose turn it is (only while playing)
      "top":     "7H" | null,                # the face-up card on the discard pile
      "suit":    "H" | null,                 # the suit to follow (the top's, or the one an eight named)
      "pile":    ["QH", "7H"],               # the discard pile, face up, oldest first
      "stock":   37,                         # cards left to draw (face down)
      "hands":   {"alice": 6, "bob": 7},     # how many cards each player holds
      "last":    {"member": "alice", "played": "7H"} | {"member": "bob", "drew": true} | null,
      "winner":  "alice" | null,             # who went out (the round is over)
      "reason":  "out" | "left" | null,      # how the round ended
      "score":   {"alice": 1},               # rounds won per member
      "turn_ms": 30000                       # how long a player has for a turn
    }

Hidden state, in the server-owned ``private`` subtree: ``private.<member> = {"hand": [...]}``
is seen by that member only, and ``private["#deck"] = {"seed", "stock", "shuffles"}`` (the
shuffle seed and the face-down stock, top card last) by nobody: ``#`` is not allowed in a
member id, so no member can ever be that audience. A card is its rank and suit: ``"AS"``,
``"10D"``, ``"QH"`` (ranks ``A 2 .. 10 J Q K``, suits ``C D H S``).

Rules:

- The first ``players`` members to join take the seats, in join order; the first round is
  dealt when the table is full. Everyone else watches (and takes a free seat between rounds).
- Dealing shuffles the 52 cards with the room's secret seed and the round number, deals 7
  cards each to two players (5 each to three or four) and turns the top of the stock face up.
  Round ``r`` starts with the player in seat ``(r - 1) mod n``.
- ``play {"card", "suit"?}``: on your turn, a card from your hand that matches the suit to
  follow or the top card's rank; an eight is wild and names the next suit (``"suit"``, only
  with an eight). The turn passes to the next seat. A player who plays the last card wins
  the round and scores one.
- ``draw {}``: on your turn, take the top card of the stock (when the stock is empty the
  discard pile but its top is shuffled into a new stock; when there is nothing to draw, the
  player passes). The turn passes.
- The turn timer: every turn sets the durable timer ``turn``, which replaces the previous one.
  A player who does not play or draw within ``turn_ms`` draws a card and loses the turn. It
  lives in ``state.timers`` (public: it names whose turn it is and the round, nothing hidden),
  so it survives a restart.
- ``deal {}``: a seated player starts the next round once one is over (free seats are filled
  with online watchers first, by member id); two players at least.
- A player whose presence ends leaves the table; during a round its cards go to the bottom of
  the stock, and the last player left wins the round.

Lobby: every room is listed with ``{"phase": ..., "seats_free": 0..4, "players": 2..4}``
(``players``: the table's seats). ``kasagi.lobby.match`` seats two members per room
(``seats = 2``) at two-player tables, the default; a table of three or four is opened by name
(option ``players``) and found in the list by filtering on ``players``.

The seed is drawn once, when the room is created (``initial_state``), and kept with the
state; every hook is a pure function of the state, so a room reloaded elsewhere deals the same
cards. Options (``lobby.open``): ``{"players": 2..4, "turn_seconds": 1..3600}``, default 2 and 30.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from kasagi.rooms import (
    PRIVATE_KEY,
    Effect,
    InvalidArgument,
    Rejected,
    RoomType,
    cancel_timer,
    del_op,
    describe,
    int_option,
    private_path,
    require_keys,
    require_options,
    set_op,
    set_timer,
)

__all__ = [
    "DECK",
    "DECK_AUDIENCE",
    "RANKS",
    "SUITS",
    "Cards",
    "playable",
    "rank_of",
    "shuffled",
    "suit_of",
]

RANKS = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
SUITS = ("C", "D", "H", "S")
#: The 52 cards, unshuffled.
DECK = tuple(rank + suit for suit in SUITS for rank in RANKS)
WILD = "8"
#: The private audience that holds the seed and the stock: not a member id (``#`` is not
#: allowed in one), so nobody ever sees it.
DECK_AUDIENCE = "#deck"
TURN_TIMER = "turn"
MIN_PLAYERS = 2
MAX_PLAYERS = 4
DEFAULT_TURN_SECONDS = 30
MAX_TURN_SECONDS = 3600


def rank_of(card: str) -> str:
    return card[:-1]


def suit_of(card: str) -> str:
    return card[-1]


def playable(card: str, top: str, suit: str) -> bool:
    """Whether ``card`` may go on ``top`` when ``suit`` is the suit to follow."""
    return rank_of(card) == WILD or suit_of(card) == suit or rank_of(card) == rank_of(top)


def shuffled(cards: Iterable[str], key: str) -> list[str]:
    """``cards`` in an order fixed by ``key`` (Fisher-Yates on SHA-256 of the key): the same
    key gives the same order on every machine and Python version."""
    deck = list(cards)
    for i in range(len(deck) - 1, 0, -1):
        digest = hashlib.sha256(f"{key}:{i}".encode()).digest()
        j = int.from_bytes(digest[:8], "big") % (i + 1)
        deck[i], deck[j] = deck[j], deck[i]
    return deck


def hand_size(players: int) -> int:
    return 7 if players == 2 else 5


def _hand(state: Mapping[str, Any], member: str) -> list[str]:
    hand: list[str] = list(state.get(PRIVATE_KEY, {}).get(member, {}).get("hand", []))
    return hand


def _deck(state: Mapping[str, Any]) -> dict[str, Any]:
    deck: dict[str, Any] = state[PRIVATE_KEY][DECK_AUDIENCE]
    return deck


def _after(seats: Sequence[str], member: str) -> str:
    return seats[(seats.index(member) + 1) % len(seats)]


class Cards(RoomType):
    name: ClassVar[str] = "cards"
    actions: ClassVar[frozenset[str]] = frozenset({"play", "draw", "deal"})
    #: The lobby lists each room's phase, free seats and table size; matchmaking seats two.
    listing_keys: ClassVar[frozenset[str]] = frozenset({"phase", "seats_free", "players"})
    seats: ClassVar[int] = MIN_PLAYERS

    def __init__(self, players: int = MIN_PLAYERS, turn_seconds: int = DEFAULT_TURN_SECONDS, seed: int | None = None):
        self.players = players
        self.turn_seconds = turn_seconds
        #: A fixed seed (tests); None: a secret one drawn when the room is created.
        self.seed = seed

    @property
    def turn_ms(self) -> int:
        return self.turn_seconds * 1000

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Cards:
        require_options(options, {"players", "turn_seconds"}, "cards")
        players = int_option(options, "players", MIN_PLAYERS, MIN_PLAYERS, MAX_PLAYERS)
        seconds = int_option(options, "turn_seconds", DEFAULT_TURN_SECONDS, 1, MAX_TURN_SECONDS)
        return cls(players, seconds)

    def options(self) -> dict[str, Any]:
        return {"players": self.players, "turn_seconds": self.turn_seconds}

    def listing(self, state: Mapping[str, Any]) -> dict[str, Any]:
        players = state.get("players", self.players)
        free = max(0, players - len(state.get("seats", [])))
        return {"phase": state.get("phase", "waiting"), "seats_free": free, "players": players}

    def initial_state(self) -> dict[str, Any]:
        seed = self.seed if self.seed is not None else secrets.randbits(63)
        return {
            "seats": [],
            "players": self.players,
            "phase": "waiting",
            "round": 0,
            "turn": None,
            "top": None,
            "suit": None,
            "pile": [],
            "stock": 0,
            "hands": {},
            "last": None,
            "winner": None,
            "reason": None,
            "score": {},
            "turn_ms": self.turn_ms,
            PRIVATE_KEY: {DECK_AUDIENCE: {"seed": seed, "stock": [], "shuffles": 0}},
        }

    # -- actions -------------------------------------------------------------------------------

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Effect]:
        if action == "play":
            return self._play(state, member, args)
        if action == "draw":
            require_keys(args, set(), set(), "draw")
            self._require_turn(state, member)
            return self._draw(state, member)
        if action == "deal":
            return self._deal(state, member, args)
        raise InvalidArgument(
            f"cards has no action {action!r}", field="action", expected="play, draw or deal", got=describe(action)
        )

    def _play(self, state: Mapping[str, Any], member: str, args: Mapping[str, Any]) -> list[Effect]:
        require_keys(args, {"card"}, {"suit"}, "play")
        card = args["card"]
        if not isinstance(card, str) or card not in DECK:
            raise InvalidArgument(
                "card must name a card", field="args.card", expected="a card such as 7H, 10S or QD", got=describe(card)
            )
        named = args.get("suit")
        if named is not None and named not in SUITS:
            raise InvalidArgument(
                "suit must name a suit", field="args.suit", expected="C, D, H or S", got=describe(named)
            )
        self._require_turn(state, member)
        hand = _hand(state, member)
        if card not in hand:
            raise Rejected("that card is not in your hand", field="args.card", expected="a card in your hand", got=card)
        top, suit = state["top"], state["suit"]
        if rank_of(card) == WILD:
            if named is None:
                raise Rejected(
                    "an eight names the next suit", field="args.suit", expected="C, D, H or S", got="missing"
                )
        elif named is not None:
            raise Rejected(
                "only an eight names a suit", field="args.suit", expected="no suit with this card", got=named
            )
        elif not playable(card, top, suit):
            raise Rejected(
                "that card does not match",
                field="args.card",
                expected=f"a card of suit {suit}, of rank {rank_of(top)}, or an eight",
                got=card,
            )
        pile = state["pile"]
        last: dict[str, Any] = {"member": member, "played": card}
        if named is not None:
            last["suit"] = named
        effects: list[Effect] = [
            del_op(private_path(member, "hand", hand.index(card))),
            set_op(["pile", len(pile)], card),
            set_op(["top"], card),
            set_op(["suit"], named or suit_of(card)),
            set_op(["hands", member], len(hand) - 1),
            set_op(["last"], last),
        ]
        if len(hand) == 1:
            return effects + self._end(state, member, "out")
        return effects + self._pass_turn(state, member)

    def _draw(self, state: Mapping[str, Any], member: str, *, timed_out: bool = False) -> list[Effect]:
        """``member`` takes the top card of the stock (reshuffling the pile when the stock is
        empty) and the turn passes."""
        deck = _deck(state)
        stock = list(deck["stock"])
        pile = state["pile"]
        effects: list[Effect] = []
        reshuffled = not stock and len(pile) > 1
        if reshuffled:
            shuffles = deck["shuffles"] + 1
            stock = self.arrange(pile[:-1], f"{deck['seed']}:{state['round']}:{shuffles}")
            effects += [set_op(["pile"], pile[-1:]), set_op(private_path(DECK_AUDIENCE, "shuffles"), shuffles)]
        last: dict[str, Any] = {"member": member}
        if stock:
            card = stock.pop()
            hand = _hand(state, member)
            if reshuffled:
                effects.append(set_op(private_path(DECK_AUDIENCE, "stock"), stock))
            else:
                effects.append(del_op(private_path(DECK_AUDIENCE, "stock", len(stock))))
            effects += [
                set_op(private_path(member, "hand", len(hand)), card),
                set_op(["hands", member], len(hand) + 1),
                set_op(["stock"], len(stock)),
            ]
            last["drew"] = True
        else:
            last["passed"] = True
        if timed_out:
            last["timed_out"] = True
        return [*effects, set_op(["last"], last), *self._pass_turn(state, member)]

    def _deal(self, state: Mapping[str, Any], member: str, args: Mapping[str, Any]) -> list[Effect]:
        require_keys(args, set(), set(), "deal")
        if member not in state["seats"]:
            raise Rejected("only players deal", field="member", expected="a player at the table", got=member)
        if state["phase"] == "playing":
            raise Rejected("a round is being played", field="phase", expected="waiting or over", got="playing")
        seats = self._filled(state, list(state["seats"]))
        if len(seats) < MIN_PLAYERS:
            raise Rejected(
                "a round needs two players",
                field="seats",
                expected=f"at least {MIN_PLAYERS} players",
                got=f"{len(seats)} player",
            )
        return self._start(state, seats)

    # -- presence and time ----------------------------------------------------------------------

    def on_join(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        seats = list(state["seats"])
        if member in seats or state["phase"] == "playing" or len(seats) >= self.players:
            return []  # back within the grace period, or a watcher
        seats.append(member)
        if state["phase"] == "waiting" and len(seats) == self.players:
            return self._start(state, seats)
        return [set_op(["seats"], seats)]

    def on_leave(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        seats = list(state["seats"])
        if member not in seats:
            return []
        rest = [seat for seat in seats if seat != member]
        effects: list[Effect] = []
        if member in state["hands"]:
            effects.append(del_op(["hands", member]))
        if member in state.get(PRIVATE_KEY, {}):
            effects.append(del_op(private_path(member)))
        if state["phase"] != "playing":
            return [*effects, set_op(["seats"], self._filled(state, rest, leaving=member))]
        # The leaver's cards go face down under the stock.
        stock = _hand(state, member) + list(_deck(state)["stock"])
        effects += [
            set_op(["seats"], rest),
            set_op(private_path(DECK_AUDIENCE, "stock"), stock),
            set_op(["stock"], len(stock)),
            set_op(["last"], {"member": member, "left": True}),
        ]
        if len(rest) < MIN_PLAYERS:
            return effects + self._end(state, rest[0] if rest else None, "left")
        if state["turn"] == member:
            following = _after(seats, member)
            effects += [set_op(["turn"], following), self._turn_timer(following, state["round"])]
        return effects

    def on_timer(self, state: Mapping[str, Any], name: str, data: Any, now_ms: int) -> list[Effect]:
        if name != TURN_TIMER or state["phase"] != "playing":
            return []
        member = state["turn"]
        if not isinstance(data, dict) or data.get("member") != member or data.get("round") != state["round"]:
            return []  # a timer of an older turn (never expected: each turn replaces it)
        return self._draw(state, member, timed_out=True)

    # -- helpers --------------------------------------------------------------------------------

    def arrange(self, cards: Sequence[str], key: str) -> list[str]:
        """The order a shuffle keyed by ``key`` puts ``cards`` in (the last card is the top of
        the stock). A test stacks the deck by overriding it."""
        return shuffled(cards, key)

    def _require_turn(self, state: Mapping[str, Any], member: str) -> None:
        if member not in state["seats"]:
            raise Rejected("only the players play", field="member", expected="a player at the table", got=member)
        phase = state["phase"]
        if phase != "playing":
            got = "waiting for players" if phase == "waiting" else "over (deal the next round)"
            raise Rejected("no round is being played", field="phase", expected="playing", got=got)
        if state["turn"] != member:
            raise Rejected("it is not your turn", field="turn", expected=member, got=str(state["turn"]))

    def _filled(self, state: Mapping[str, Any], seats: list[str], leaving: str | None = None) -> list[str]:
        """``seats`` with free seats taken by online watchers, by member id."""
        online = state.get("members", {})
        watchers = sorted(m for m, p in online.items() if p.get("online") and m != leaving and m not in seats)
        return seats + watchers[: max(0, self.players - len(seats))]

    def _turn_timer(self, member: str, round_: int) -> Effect:
        return set_timer(TURN_TIMER, data={"member": member, "round": round_}, after_ms=self.turn_ms)

    def _pass_turn(self, state: Mapping[str, Any], member: str) -> list[Effect]:
        following = _after(state["seats"], member)
        return [set_op(["turn"], following), self._turn_timer(following, state["round"])]

    def _start(self, state: Mapping[str, Any], seats: list[str]) -> list[Effect]:
        """Deal a new round to ``seats``."""
        deck = _deck(state)
        round_ = state["round"] + 1
        cards = self.arrange(DECK, f"{deck['seed']}:{round_}")
        size = hand_size(len(seats))
        hands = {member: cards[i * size : (i + 1) * size] for i, member in enumerate(seats)}
        stock = cards[len(seats) * size :]
        top = stock.pop()
        first = seats[(round_ - 1) % len(seats)]
        gone = [m for m in state.get(PRIVATE_KEY, {}) if m != DECK_AUDIENCE and m not in hands]
        return [
            *(del_op(private_path(m)) for m in gone),
            *(set_op(private_path(m, "hand"), hand) for m, hand in hands.items()),
            set_op(private_path(DECK_AUDIENCE, "stock"), stock),
            set_op(private_path(DECK_AUDIENCE, "shuffles"), 0),
            set_op(["seats"], seats),
            set_op(["phase"], "playing"),
            set_op(["round"], round_),
            set_op(["turn"], first),
            set_op(["top"], top),
            set_op(["suit"], suit_of(top)),
            set_op(["pile"], [top]),
            set_op(["stock"], len(stock)),
            set_op(["hands"], {m: size for m in seats}),
            set_op(["last"], None),
            set_op(["winner"], None),
            set_op(["reason"], None),
            self._turn_timer(first, round_),
        ]

    def _end(self, state: Mapping[str, Any], winner: str | None, reason: str) -> list[Effect]:
        effects: list[Effect] = [
            set_op(["phase"], "over"),
            set_op(["turn"], None),
            set_op(["winner"], winner),
            set_op(["reason"], reason),
            cancel_timer(TURN_TIMER),
        ]
        if winner is not None:
            effects.append(set_op(["score", winner], state["score"].get(winner, 0) + 1))
        return effects
