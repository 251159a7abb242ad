"""The auction example (the room type of docs/rooms.md), driven with RoomKit."""

from __future__ import annotations

import pytest

from examples.auction.rooms import Auction
from kasagi.rooms import InvalidArgument
from kasagi.testing import RoomKit


def test_the_highest_bid_wins_at_the_deadline() -> None:
    """The first join starts a 60 s deadline; bids must go up; at the deadline the lot is sold
    to the highest bidder, once, and later bids are rejected."""
    kit = RoomKit(Auction, {"seconds": 60})
    kit.join("alice")
    kit.join("bob")
    assert kit.state["timers"]["deadline"]["at"] == 60_000
    assert kit.act("alice", "bid", {"amount": 10}) is None
    assert kit.refused("bob", "bid", {"amount": 10}).uri == "kasagi.error.rejected"
    assert kit.act("bob", "bid", {"amount": 12}) is None
    kit.advance(59_999)
    assert kit.state["sold"] is None
    kit.advance(1)
    assert kit.state["sold"] == {"to": "bob", "price": 12, "at": 60_000}
    assert kit.state["timers"] == {}
    assert kit.refused("alice", "bid", {"amount": 20}).details["field"] == "sold"
    kit.advance(3_600_000)
    assert sum(1 for e in kit.events for op in e["ops"] if op[1] == ["sold"]) == 1


def test_bad_options_and_bids_are_invalid_arguments_or_rejections() -> None:
    """A deadline out of range is an invalid argument; a bid that is not a whole number is rejected."""
    kit = RoomKit(Auction)
    kit.join("alice")
    assert kit.refused("alice", "bid", {"amount": "lots"}).uri == "kasagi.error.rejected"
    assert kit.refused("alice", "bid", {}).uri == "kasagi.error.invalid_argument"
    with pytest.raises(InvalidArgument) as info:
        RoomKit(Auction, {"seconds": 0})
    assert info.value.details()["field"] == "options.seconds"


def test_an_unknown_action_is_an_invalid_argument() -> None:
    """An action other than bid is refused as an invalid argument and changes nothing."""
    kit = RoomKit(Auction)
    kit.join("alice")
    before = kit.state
    assert kit.refused("alice", "steal", {"amount": 1}).details["field"] == "action"
    assert kit.state == before
