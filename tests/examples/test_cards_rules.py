"""The cards example room type (crazy eights with hidden hands), driven through the real core by
the room test kit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from examples.cards.rooms import DECK, DECK_AUDIENCE, Cards, playable, shuffled
from kasagi.rooms import InvalidArgument
from kasagi.testing import RoomKit

TURN_MS = 30_000
INVALID = "kasagi.error.invalid_argument"
REJECTED = "kasagi.error.rejected"
ALICE = ["7H", "8S", "2C", "KD", "3S", "9D", "AH"]
BOB = ["7C", "QH", "5S", "6D", "JC", "4H", "10S"]


def stacked(*hands: Sequence[str], top: str, draws: Sequence[str] = ()) -> list[str]:
    """A deck order that deals ``hands`` (in seat order), turns ``top`` face up and then draws
    ``draws`` in order; the other cards lie below them."""
    named = [card for hand in hands for card in hand] + [*draws, top]
    rest = [card for card in DECK if card not in named]
    assert len(set(named)) == len(named) and len(rest) + len(named) == len(DECK)
    return [*(card for hand in hands for card in hand), *rest, *reversed(draws), top]


def kit_with(order: Sequence[str] | None = None, *, now_ms: int = 0, **options: Any) -> RoomKit:
    """A room whose first deal is ``order`` (None: the room's own shuffle, with seed 7)."""

    class Stacked(Cards):
        def arrange(self, cards: Sequence[str], key: str) -> list[str]:
            if order is not None and len(cards) == len(DECK) and key.endswith(":1"):
                return list(order)
            return shuffled(cards, key)

        def __init__(self, players: int = 2, turn_seconds: int = 30, seed: int | None = 7) -> None:
            super().__init__(players, turn_seconds, seed)

    return RoomKit(Stacked, options=options, now_ms=now_ms)


def game(top: str = "7D", draws: Sequence[str] = (), **options: Any) -> RoomKit:
    """Alice and bob at a two-seat table, dealt ALICE and BOB with ``top`` face up: alice to play."""
    kit = kit_with(stacked(ALICE, BOB, top=top, draws=draws), **options)
    kit.join("alice")
    kit.join("bob")
    return kit


def hand(kit: RoomKit, member: str) -> list[str]:
    cards: list[str] = kit.state["private"][member]["hand"]
    return cards


def refusal(kit: RoomKit, member: str, action: str, args: dict[str, Any]) -> Any:
    """Refuse an action and check that it changed nothing."""
    before, events = kit.state, len(kit.events)
    refused = kit.refused(member, action, args)
    assert kit.state == before
    assert len(kit.events) == events
    return refused


def details(refused: Any) -> tuple[str, str, str, str]:
    return refused.uri, refused.details["field"], refused.details["expected"], refused.details["got"]


# -- options and cards ----------------------------------------------------------------------------


def test_options_default_to_two_players_and_a_thirty_second_turn() -> None:
    """A room opened without options seats two players and gives each 30 seconds a turn."""
    assert Cards.from_options({}).options() == {"players": 2, "turn_seconds": 30}
    state = Cards.from_options({"players": 4, "turn_seconds": 5}).initial_state()
    assert (state["players"], state["turn_ms"]) == (4, 5000)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"players": 1}, "options.players"),
        ({"players": 5}, "options.players"),
        ({"players": "2"}, "options.players"),
        ({"players": True}, "options.players"),
        ({"turn_seconds": 0}, "options.turn_seconds"),
        ({"turn_seconds": 2.5}, "options.turn_seconds"),
        ({"seed": 7}, "options.seed"),
    ],
)
def test_bad_options_are_refused_naming_the_option(options: dict[str, Any], field: str) -> None:
    """A table of other than 2 to 4, a bad turn length or any other option (a seed above all) is invalid."""
    with pytest.raises(InvalidArgument) as caught:
        Cards.from_options(options)
    assert caught.value.field == field
    assert caught.value.expected


def test_a_shuffle_is_a_permutation_fixed_by_its_key() -> None:
    """The same key orders the deck the same way; another key another way; no card is lost."""
    first = shuffled(DECK, "7:1")
    assert first == shuffled(DECK, "7:1")
    assert sorted(first) == sorted(DECK) and first != list(DECK)
    assert first != shuffled(DECK, "7:2") != shuffled(DECK, "8:1")


def test_a_card_matches_by_suit_or_rank_and_an_eight_always() -> None:
    """On 7H with hearts to follow: any heart, any seven and any eight; nothing else."""
    assert playable("2H", "7H", "H") and playable("7C", "7H", "H") and playable("8S", "7H", "H")
    assert not playable("2C", "7H", "H")
    assert playable("2C", "8H", "C") and not playable("2H", "8H", "C")


def test_every_room_draws_its_own_secret_seed() -> None:
    """Two rooms opened the same way keep different seeds, out of sight of every member."""
    one, two = Cards.from_options({}).initial_state(), Cards.from_options({}).initial_state()
    assert one["private"][DECK_AUDIENCE]["seed"] != two["private"][DECK_AUDIENCE]["seed"]


# -- seats and dealing ----------------------------------------------------------------------------


def test_the_first_round_is_dealt_when_the_table_is_full() -> None:
    """Alice waits alone; bob's join deals seven cards each, turns one face up and starts alice's turn."""
    kit = kit_with(now_ms=1000)
    state = kit.join("alice")
    assert (state["seats"], state["phase"], state["hands"]) == (["alice"], "waiting", {})
    state = kit.join("bob")
    assert (state["phase"], state["round"], state["turn"]) == ("playing", 1, "alice")
    assert state["hands"] == {"alice": 7, "bob": 7}
    assert (state["stock"], state["pile"], state["suit"]) == (37, [state["top"]], state["top"][-1])
    dealt = hand(kit, "alice") + hand(kit, "bob") + state["pile"] + state["private"][DECK_AUDIENCE]["stock"]
    assert sorted(dealt) == sorted(DECK)
    assert state["timers"]["turn"] == {"at": 1000 + TURN_MS, "data": {"member": "alice", "round": 1}}


def test_the_same_seed_deals_the_same_cards() -> None:
    """Two rooms with the same seed deal the same hands (a room reloaded elsewhere deals alike)."""
    first, second = kit_with(), kit_with()
    for kit in (first, second):
        kit.join("alice")
        kit.join("bob")
    assert first.state["private"] == second.state["private"]


def test_three_players_get_five_cards_each() -> None:
    """At a three-seat table the round is dealt at the third join, five cards each."""
    kit = kit_with(players=3)
    kit.join("alice")
    kit.join("bob")
    assert kit.state["phase"] == "waiting"
    state = kit.join("carol")
    assert state["hands"] == {"alice": 5, "bob": 5, "carol": 5}
    assert state["stock"] == 52 - 15 - 1


def test_a_member_beyond_the_table_watches() -> None:
    """Carol joining a full table holds no seat and no hand, and cannot play, draw or deal."""
    kit = game()
    state = kit.join("carol")
    assert "carol" not in state["seats"] and "carol" not in state["private"]
    for action, args in (("play", {"card": "7C"}), ("draw", {}), ("deal", {})):
        assert details(refusal(kit, "carol", action, args))[:2] == (REJECTED, "member")


def test_a_seated_member_coming_back_keeps_the_seat() -> None:
    """on_join for a member already seated (back within the grace period) changes nothing."""
    kit = game()
    assert Cards().on_join(kit.state, "alice") == []


# -- playing ----------------------------------------------------------------------------------


def test_a_matching_card_goes_on_the_pile_and_the_turn_passes() -> None:
    """Alice plays 7H on 7D: it leaves her hand, tops the pile with hearts to follow, bob is to play."""
    kit = game()
    kit.advance(10_000)
    assert kit.act("alice", "play", {"card": "7H"}) is None
    state = kit.state
    assert "7H" not in hand(kit, "alice") and len(hand(kit, "alice")) == 6
    assert (state["top"], state["suit"], state["pile"]) == ("7H", "H", ["7D", "7H"])
    assert (state["hands"], state["turn"]) == ({"alice": 6, "bob": 7}, "bob")
    assert state["last"] == {"member": "alice", "played": "7H"}
    assert state["timers"]["turn"] == {"at": 10_000 + TURN_MS, "data": {"member": "bob", "round": 1}}


def test_playing_out_of_turn_is_rejected() -> None:
    """Bob playing while it is alice's turn is rejected, naming whose turn it is."""
    kit = game()
    assert details(refusal(kit, "bob", "play", {"card": "7C"})) == (REJECTED, "turn", "bob", "alice")


def test_a_card_not_in_the_hand_is_rejected_without_saying_where_it_is() -> None:
    """Alice playing bob's 7C is rejected as not in her hand; the refusal names only her own input."""
    kit = game()
    refused = refusal(kit, "alice", "play", {"card": "7C"})
    assert details(refused) == (REJECTED, "args.card", "a card in your hand", "7C")
    assert "bob" not in json.dumps([refused.message, dict(refused.details)])


def test_a_card_that_does_not_match_is_rejected_naming_what_would() -> None:
    """2C on 7D is rejected: the refusal says a diamond, a seven or an eight would do."""
    kit = game()
    refused = refusal(kit, "alice", "play", {"card": "2C"})
    assert details(refused) == (REJECTED, "args.card", "a card of suit D, of rank 7, or an eight", "2C")


def test_an_eight_names_the_suit_the_next_player_follows() -> None:
    """Alice's 8S naming clubs makes clubs the suit: bob's QH is refused, his JC goes."""
    kit = game()
    assert kit.act("alice", "play", {"card": "8S", "suit": "C"}) is None
    assert (kit.state["top"], kit.state["suit"]) == ("8S", "C")
    assert kit.state["last"] == {"member": "alice", "played": "8S", "suit": "C"}
    refused = refusal(kit, "bob", "play", {"card": "QH"})
    assert details(refused)[:3] == (REJECTED, "args.card", "a card of suit C, of rank 8, or an eight")
    assert kit.act("bob", "play", {"card": "JC"}) is None


def test_an_eight_without_a_suit_and_a_suit_without_an_eight_are_rejected() -> None:
    """An eight must name a suit, and no other card may."""
    kit = game()
    assert details(refusal(kit, "alice", "play", {"card": "8S"})) == (REJECTED, "args.suit", "C, D, H or S", "missing")
    assert details(refusal(kit, "alice", "play", {"card": "7H", "suit": "C"}))[:2] == (REJECTED, "args.suit")


@pytest.mark.parametrize(
    ("action", "args", "field"),
    [
        ("play", {}, "args.card"),
        ("play", {"card": "1H"}, "args.card"),
        ("play", {"card": 7}, "args.card"),
        ("play", {"card": "8S", "suit": "X"}, "args.suit"),
        ("play", {"card": "7H", "face": "up"}, "args.face"),
        ("draw", {"n": 2}, "args.n"),
        ("deal", {"seed": 1}, "args.seed"),
        ("peek", {}, "action"),
    ],
)
def test_malformed_actions_are_invalid_and_change_nothing(action: str, args: dict[str, Any], field: str) -> None:
    """A missing or unknown card, suit or argument, or an unknown action, is invalid_argument naming the field."""
    kit = game()
    refused = refusal(kit, "alice", action, args)
    assert (refused.uri, refused.details["field"]) == (INVALID, field)
    assert refused.details["expected"]


def test_drawing_takes_the_top_of_the_stock_and_passes_the_turn() -> None:
    """Alice draws: the stock's top card joins her hand (only there), the stock shrinks, bob is to play."""
    kit = game(draws=["QS"])
    assert kit.act("alice", "draw") is None
    state = kit.state
    assert hand(kit, "alice") == [*ALICE, "QS"]
    assert (state["hands"]["alice"], state["stock"], state["turn"]) == (8, 36, "bob")
    assert state["last"] == {"member": "alice", "drew": True}
    assert "QS" not in json.dumps(kit.view(None))


def drain(kit: RoomKit) -> None:
    """Draw the whole stock, turn by turn (37 draws from a two-player deal: bob is to play next)."""
    for _ in range(37):
        assert kit.act(kit.state["turn"], "draw") is None
    assert (kit.state["stock"], kit.state["turn"]) == (0, "bob")


def test_an_empty_stock_is_refilled_from_the_pile_but_its_top() -> None:
    """When the stock runs out, the discard pile under its top card is shuffled into a new stock."""
    kit = game()
    drain(kit)
    assert kit.act("bob", "play", {"card": "6D"}) is None
    assert kit.state["pile"] == ["7D", "6D"]
    assert kit.act("alice", "draw") is None
    state = kit.state
    assert (state["pile"], state["stock"], hand(kit, "alice")[-1]) == (["6D"], 0, "7D")
    assert state["private"][DECK_AUDIENCE]["shuffles"] == 1


def test_with_nothing_to_draw_the_player_passes() -> None:
    """An empty stock and a pile of one card: a draw passes the turn and changes no hand."""
    kit = game()
    drain(kit)
    sizes = kit.state["hands"]
    turn = kit.state["turn"]
    assert kit.act(turn, "draw") is None
    assert kit.state["hands"] == sizes
    assert kit.state["last"] == {"member": turn, "passed": True}
    assert kit.state["turn"] != turn


# -- the turn timer -----------------------------------------------------------------------------


def test_a_player_who_does_not_play_in_time_draws_and_loses_the_turn() -> None:
    """Alice idle for the turn length draws a card by the timer; bob is to play with a fresh timer."""
    kit = game(draws=["QS"])
    kit.advance(TURN_MS - 1)
    assert kit.state["turn"] == "alice"
    kit.advance(1)
    state = kit.state
    assert state["last"] == {"member": "alice", "drew": True, "timed_out": True}
    assert state["turn"] == "bob" and hand(kit, "alice")[-1] == "QS"
    assert state["timers"]["turn"] == {"at": 2 * TURN_MS, "data": {"member": "bob", "round": 1}}


def test_a_play_restarts_the_turn_timer() -> None:
    """A play just before the deadline gives the next player a whole turn."""
    kit = game()
    kit.advance(TURN_MS - 1)
    assert kit.act("alice", "play", {"card": "7H"}) is None
    kit.advance(TURN_MS - 1)
    assert kit.state["turn"] == "bob" and kit.state["hands"]["bob"] == 7
    kit.advance(1)
    assert kit.state["turn"] == "alice" and kit.state["hands"]["bob"] == 8


def test_a_stale_timer_does_nothing() -> None:
    """A turn timer naming another member or round than the current turn changes nothing."""
    kit = game()
    cards = Cards()
    assert cards.on_timer(kit.state, "turn", {"member": "bob", "round": 1}, 0) == []
    assert cards.on_timer(kit.state, "turn", {"member": "alice", "round": 0}, 0) == []
    assert cards.on_timer(kit.state, "other", {"member": "alice", "round": 1}, 0) == []


# -- winning and new rounds ---------------------------------------------------------------------


#: A hand alice can play out on 7D, one card a turn, while bob only draws.
RUN = ["7H", "2H", "2C", "3C", "3S", "KS", "KD"]


def test_playing_the_last_card_wins_the_round() -> None:
    """Alice plays out her hand while bob draws: she wins and scores, the timer stops, nobody plays."""
    kit = kit_with(stacked(RUN, BOB, top="7D"))
    kit.join("alice")
    kit.join("bob")
    for n, card in enumerate(RUN):
        assert kit.act("alice", "play", {"card": card}) is None
        if n < len(RUN) - 1:
            assert kit.act("bob", "draw") is None
    state = kit.state
    assert (state["phase"], state["winner"], state["reason"], state["turn"]) == ("over", "alice", "out", None)
    assert state["score"] == {"alice": 1}
    assert state["hands"] == {"alice": 0, "bob": 13}
    assert "turn" not in state["timers"]
    assert details(refusal(kit, "bob", "draw", {}))[:2] == (REJECTED, "phase")
    kit.advance(10 * TURN_MS)
    assert kit.state["phase"] == "over"


def test_a_player_deals_the_next_round_and_the_next_seat_starts() -> None:
    """After a round, a deal by a player gives fresh hands from a new shuffle, bob starting round 2."""
    kit = kit_with(stacked(RUN, BOB, top="7D"))
    kit.join("alice")
    kit.join("bob")
    assert details(refusal(kit, "alice", "deal", {})) == (REJECTED, "phase", "waiting or over", "playing")
    for n, card in enumerate(RUN):
        kit.act("alice", "play", {"card": card})
        if n < len(RUN) - 1:
            kit.act("bob", "draw")
    assert kit.act("bob", "deal") is None
    state = kit.state
    assert (state["phase"], state["round"], state["turn"], state["winner"]) == ("playing", 2, "bob", None)
    assert state["hands"] == {"alice": 7, "bob": 7} and state["stock"] == 37
    assert hand(kit, "bob") != BOB
    assert state["score"] == {"alice": 1}


def test_a_watcher_takes_a_free_seat_at_the_next_deal() -> None:
    """Carol watches; bob leaves in the middle of a round so alice wins; alice's deal seats carol."""
    kit = game()
    kit.join("carol")
    kit.leave("bob")
    state = kit.state
    assert (state["phase"], state["winner"], state["reason"], state["seats"]) == ("over", "alice", "left", ["alice"])
    assert "bob" not in state["private"] and "bob" not in state["hands"]
    assert kit.act("alice", "deal") is None
    assert kit.state["seats"] == ["alice", "carol"] and kit.state["hands"] == {"alice": 7, "carol": 7}


def test_a_deal_needs_two_players() -> None:
    """A player alone at the table cannot deal."""
    kit = game()
    kit.leave("bob")
    assert details(refusal(kit, "alice", "deal", {})) == (REJECTED, "seats", "at least 2 players", "1 player")


def test_a_player_leaving_a_round_puts_its_cards_under_the_stock() -> None:
    """At a three-seat table, alice leaving on her turn: her cards go under the stock, bob is to play."""
    kit = kit_with(players=3)
    for member in ("alice", "bob", "carol"):
        kit.join(member)
    cards = hand(kit, "alice")
    kit.leave("alice")
    state = kit.state
    assert (state["seats"], state["phase"], state["turn"]) == (["bob", "carol"], "playing", "bob")
    assert state["stock"] == 36 + 5 and state["private"][DECK_AUDIENCE]["stock"][:5] == cards
    assert state["last"] == {"member": "alice", "left": True}
    assert state["timers"]["turn"]["data"] == {"member": "bob", "round": 1}


# -- who sees what ------------------------------------------------------------------------------


def strings(value: Any) -> set[str]:
    """Every string in a JSON value (keys included)."""
    if isinstance(value, dict):
        return {s for k, v in value.items() for s in {k} | strings(v)}
    if isinstance(value, list):
        return {s for item in value for s in strings(item)}
    return {value} if isinstance(value, str) else set()


def test_each_member_sees_only_its_own_hand() -> None:
    """Alice's view holds her hand only, bob's his, a watcher's none; no view holds the seed or stock."""
    kit = game(draws=["QS"])
    kit.join("carol")
    kit.act("alice", "play", {"card": "7H"})
    kit.act("bob", "draw")
    assert kit.view("alice")["private"] == {"alice": {"hand": hand(kit, "alice")}}
    assert kit.view("bob")["private"] == {"bob": {"hand": hand(kit, "bob")}}
    watcher = kit.view("carol")
    assert "private" not in watcher and kit.view(None) == watcher
    public = {k: v for k, v in kit.state.items() if k != "private"}
    assert watcher == public
    hidden = set(hand(kit, "alice")) | set(hand(kit, "bob")) | set(kit.state["private"][DECK_AUDIENCE]["stock"])
    for member, own in (("carol", set()), ("alice", set(hand(kit, "alice"))), ("bob", set(hand(kit, "bob")))):
        seen = strings(kit.view(member)) & set(DECK)
        assert seen <= own | set(kit.state["pile"]), member
        assert not (seen & (hidden - own)), member
        assert DECK_AUDIENCE not in strings(kit.view(member))


def test_events_for_a_member_carry_only_its_own_private_ops() -> None:
    """Every event as alice receives it changes public state or her own hand; a watcher's events touch
    no private state at all, and no card of a hand or the stock is in them."""
    kit = game(draws=["QS", "JS"])
    kit.join("carol")
    kit.act("alice", "draw")
    kit.act("bob", "draw")
    kit.advance(TURN_MS)  # alice's timer draws for her
    for member in ("alice", "bob"):
        for event in kit.events_for(member):
            for op in event["ops"]:
                path = op[1]
                assert path[0] != "private" or path[1] == member, (member, op)
    assert any(op[1][:2] == ["private", "alice"] for e in kit.events_for("alice") for op in e["ops"])
    carol = kit.events_for("carol")
    assert all(op[1][0] != "private" for event in carol for op in event["ops"])
    hidden = set(hand(kit, "alice")) | set(hand(kit, "bob")) | set(kit.state["private"][DECK_AUDIENCE]["stock"])
    assert not (strings(carol) & hidden)
    assert kit.events_for("carol") == kit.events_for(None)


# -- the lobby ----------------------------------------------------------------------------------


def test_the_listing_shows_the_phase_the_free_seats_and_the_table_size() -> None:
    """A two-seat table is listed waiting with 2 free seats, then 1, then playing and full; a
    player leaving mid-round lists the round over with a seat free again."""
    kit = kit_with()
    assert kit.room.listing() == {"phase": "waiting", "seats_free": 2, "players": 2}
    kit.join("alice")
    assert kit.room.listing() == {"phase": "waiting", "seats_free": 1, "players": 2}
    kit.join("bob")
    assert kit.room.listing() == {"phase": "playing", "seats_free": 0, "players": 2}
    kit.join("carol")  # a watcher takes no seat
    assert kit.room.listing() == {"phase": "playing", "seats_free": 0, "players": 2}
    kit.leave("bob")
    assert kit.room.listing() == {"phase": "over", "seats_free": 1, "players": 2}


def test_a_bigger_table_lists_its_size_and_matchmaking_seats_two() -> None:
    """A four-seat table with one player is listed with 3 free seats of 4, under the keys the
    type declares; matchmaking fills two seats a room."""
    kit = kit_with(players=4)
    kit.join("alice")
    listing = kit.room.listing()
    assert listing == {"phase": "waiting", "seats_free": 3, "players": 4}
    assert set(listing) == Cards.listing_keys and Cards.seats == 2


def test_the_listing_shows_nothing_hidden() -> None:
    """During a round the listing holds no card, no member id and nothing of the deck."""
    kit = game()
    listing = kit.room.listing()
    assert listing is not None
    shown = strings(listing) | {str(v) for v in listing.values()}
    assert not shown & (set(DECK) | {"alice", "bob", DECK_AUDIENCE, str(kit.state["private"][DECK_AUDIENCE]["seed"])})
