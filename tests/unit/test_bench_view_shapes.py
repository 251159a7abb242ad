"""The room types of ``kasagi bench --views``: the card example's shape changes every member's
hidden hand each tick, and its public twin shows the same hands to everyone."""

from __future__ import annotations

from kasagi.bench.views import HAND, MEMBERS, SHAPES, PrivateCards, PublicCards
from kasagi.testing import RoomKit

TICK_MS = 100
MEMBER_IDS = [f"m{i}" for i in range(MEMBERS)]


def seated(room_type: type[PrivateCards]) -> RoomKit:
    kit = RoomKit(room_type)
    for member in MEMBER_IDS:
        kit.join(member)
    kit.advance(TICK_MS)  # the first tick deals
    return kit


def test_every_tick_changes_every_members_hidden_hand_and_nobody_sees_another() -> None:
    """After the deal, each tick's event holds one private op per member (a card of its hand)
    and each member's view holds its own hand of five only."""
    kit = seated(PrivateCards)
    before = {m: kit.view(m)["private"][m]["hand"] for m in MEMBER_IDS}
    events = len(kit.events)
    kit.advance(TICK_MS)
    assert len(kit.events) == events + 1
    ops = kit.events[-1]["ops"]
    assert sorted(op[1][1] for op in ops if op[1][0] == "private") == MEMBER_IDS
    for member in MEMBER_IDS:
        view = kit.view(member)
        assert set(view["private"]) == {member}
        hand = view["private"][member]["hand"]
        assert len(hand) == HAND and hand != before[member]
        mine = [op for e in kit.events_for(member) for op in e["ops"] if op[1][0] == "private"]
        assert all(op[1][1] == member for op in mine)
    assert kit.state["hands"] == dict.fromkeys(MEMBER_IDS, HAND)


def test_the_public_twin_shows_the_same_hands_to_everyone() -> None:
    """The public variant deals and changes the same cards, face up, in one public event a tick."""
    private, public = seated(PrivateCards), seated(PublicCards)
    for _ in range(3):
        private.advance(TICK_MS)
        public.advance(TICK_MS)
    shown = {m: private.state["private"][m]["hand"] for m in MEMBER_IDS}
    assert public.state["shown"] == {m: {"hand": hand} for m, hand in shown.items()}
    assert "private" not in public.view("m0") and public.view("m0") == public.view(None)
    assert SHAPES["cards"] == (PrivateCards, PublicCards)
