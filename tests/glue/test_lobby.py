"""The lobby on one node, on a Clock: listings follow commits, list pages and filters, match
seats members, and bad input is refused with a clear error that changes nothing."""

from __future__ import annotations

from typing import Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.request import Registration
from autobahn.wamp.types import CallDetails
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi import wire
from kasagi.core.commands import JoinCommand, OpenCommand
from kasagi.lobby import ListedRoom, Lobby, MemoryListingStore
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.service.registry import RoomRegistry
from kasagi.service.settings import ServiceSettings
from kasagi.testing import MemoryRoomStore, RecordingPublisher
from kasagi.wamp.procedures import RoomProcedures
from tests.lobby_types import Quad


class Node:
    """A single node's registry, lobby and procedures, without a router."""

    def __init__(self, **settings: Any) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.settings = ServiceSettings(tick=0, **settings)
        self.listings = MemoryListingStore()
        self.published = RecordingPublisher()
        self.lobby = Lobby(store=self.listings, clock=self.clock, settings=self.settings, now_ms=self.now_ms)
        self.procedures = RoomProcedures(clock=self.clock, settings=self.settings, lobby=self.lobby)
        self.procedures.publish = self.published  # type: ignore[method-assign]
        self.lobby.set_publish(self.published)
        self.registry = RoomRegistry(
            clock=self.clock,
            store=MemoryRoomStore(),
            publish=self.published,
            expose=lambda room: None,
            settings=self.settings,
            now_ms=self.now_ms,
            types={**BUILTIN_TYPES, Quad.name: Quad},
            lobby=self.lobby,
        )
        self.procedures.serve(self.registry)

    def now_ms(self) -> int:
        return int(self.clock.seconds() * 1000)

    def call(self, procedure: str, member: str, *args: Any, **kwargs: Any) -> Deferred[Any]:
        from twisted.internet.defer import maybeDeferred

        from kasagi.wamp.edge import wamp_errors

        handler = {"list": self.procedures._list, "match": self.procedures._match, "open": self.procedures._open}
        details = CallDetails(Registration(None, 1, procedure, None), caller=7, caller_authid=member)
        return maybeDeferred(wamp_errors(handler[procedure]), *args, details=details, **kwargs)

    def join(self, room: str, member: str) -> None:
        self.registry.runner(room).join(member, f"s_{member}", JoinCommand(None))
        self.clock.advance(0)


class LobbyGlueTests(SynchronousTestCase):
    def refused(self, d: Deferred[Any]) -> ApplicationError:
        failure = self.failureResultOf(d, ApplicationError)
        error = failure.value
        assert isinstance(error, ApplicationError)
        return error

    def test_a_listing_is_written_and_published_only_when_it_changes(self) -> None:
        """A room's listing is written when it opens and when a commit changes it, and published on its type's topic."""
        node = Node()
        self.successResultOf(node.registry.open(OpenCommand("q1", "quad", {})))
        node.join("q1", "alice")
        topic = wire.lobby_topic("quad")
        events = node.published.events(topic)
        assert [e["members"] for e in events] == [0, 1]
        assert events[-1] == {
            "room": "q1",
            "type": "quad",
            "meta": {"mode": "casual", "count": 1},
            "members": 1,
            "max_members": 4,
        }
        writes = node.lobby.stats["listing_writes"]
        node.registry.runner("q1").room.listing()
        node.lobby.room_changed(node.registry.runner("q1"))
        assert node.lobby.stats["listing_writes"] == writes

    def test_a_private_room_is_never_listed(self) -> None:
        """A room with a member list is neither written to the listing nor published."""
        node = Node()
        self.successResultOf(node.registry.open(OpenCommand("p1", "quad", {}, _private("alice")), "alice"))
        node.join("p1", "alice")
        page = self.successResultOf(node.call("list", "bob", "quad"))
        assert page == {"rooms": [], "next": None}
        assert node.published.events(wire.lobby_topic("quad")) == []

    def test_list_filters_by_metadata_and_pages_with_a_cursor(self) -> None:
        """list returns the rooms of a type whose metadata equals the filter, a page at a time, then next is null."""
        node = Node(lobby_page=2)
        for i, mode in enumerate(["ranked", "casual", "ranked", "ranked"]):
            self.successResultOf(node.registry.open(OpenCommand(f"q{i}", "quad", {"mode": mode})))
        first = self.successResultOf(node.call("list", "bob", "quad", {"mode": "ranked"}))
        assert [r["room"] for r in first["rooms"]] == ["q0", "q2"] and first["next"]
        second = self.successResultOf(node.call("list", "bob", "quad", {"mode": "ranked"}, first["next"]))
        assert [r["room"] for r in second["rooms"]] == ["q3"] and second["next"] is None
        assert "hidden" not in str(first) and "the private plan" not in str(first)

    def test_a_tampered_or_foreign_cursor_is_refused(self) -> None:
        """A changed cursor, or one made for another filter, is invalid_argument on cursor."""
        node = Node(lobby_page=1)
        for i in range(3):
            self.successResultOf(node.registry.open(OpenCommand(f"q{i}", "quad", {})))
        cursor = self.successResultOf(node.call("list", "bob", "quad"))["next"]
        payload, _, mac = cursor.partition(".")
        flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac
        for bad, args in ((flipped, ()), (cursor, ({"mode": "casual"},)), ("x" * 600, ()), (42, ())):
            filter_ = args[0] if args else {}
            error = self.refused(node.call("list", "bob", "quad", filter_, bad))
            assert error.error == wire.ErrorURI.INVALID_ARGUMENT and error.kwargs["field"] == "cursor", error.kwargs

    def test_bad_types_filters_and_criteria_are_refused_naming_the_field(self) -> None:
        """Unknown types, malformed filters, keys a type does not publish and private criteria are refused."""
        node = Node()
        cases = [
            ("list", ("nope",), "type"),
            ("list", (None,), "type"),
            ("list", ("quad", {"hidden": 1}), "filter.hidden"),
            ("list", ("quad", {"mode": {"deep": 1}}), "filter.mode"),
            ("list", ("quad", ["mode"]), "filter"),
            ("list", ("quad", {"Mode!": 1}), "filter"),
            ("match", ("nope",), "type"),
            ("match", ("quad", {"members": ["bob"]}), "criteria.members"),
            ("match", ("quad", {"secret": 1}), "criteria.secret"),
            ("match", ("quad", {"mode": "x" * 100}), "criteria.mode"),
            ("match", ("doc",), "type"),
        ]
        for procedure, args, field in cases:
            error = self.refused(node.call(procedure, "bob", *args))
            assert error.error == wire.ErrorURI.INVALID_ARGUMENT, (args, error.error)
            assert error.kwargs["field"] == field, (args, error.kwargs)
            assert {"expected", "got"} <= set(error.kwargs)
        assert self.successResultOf(node.listings.page("quad", "", 10, node.now_ms())) == []
        assert node.registry.runners == {}

    def test_an_unknown_type_is_refused_naming_the_served_and_the_listed_types(self) -> None:
        """A list of an unknown type names every type the node serves and, of those, the listed ones."""
        node = Node()
        error = self.refused(node.call("list", "bob", "nope"))
        assert error.kwargs["types"] == ["arena", "doc", "quad"], error.kwargs
        assert error.kwargs["listed"] == ["arena", "quad"], error.kwargs
        assert node.registry.runners == {}

    def test_match_fills_four_seat_rooms_and_joins_end_the_reservations(self) -> None:
        """Eight matchers get two rooms of four; once they joined, no reservation is left and each room is full."""
        node = Node()
        replies = [self.successResultOf(node.call("match", f"m{i}", "quad", {"mode": "ranked"})) for i in range(8)]
        rooms = sorted({r["room"] for r in replies})
        assert len(rooms) == 2 and all(r["type"] == "quad" and "epoch" in r and "seq" in r for r in replies)
        assert node.registry.runner(rooms[0]).room.type.options() == {"mode": "ranked"}
        for i, reply in enumerate(replies):
            node.join(reply["room"], f"m{i}")
        page = self.successResultOf(node.listings.page("quad", "", 10, node.now_ms()))
        assert [(r.members, r.reserved) for r in page] == [(4, 0), (4, 0)]

    def test_a_members_matches_are_rate_limited(self) -> None:
        """Beyond its burst, a member's match is refused with rate_limited and retry_after, and reserves nothing."""
        node = Node(match_rate=1, match_burst=2)
        for _ in range(2):
            self.successResultOf(node.call("match", "greedy", "quad"))
        error = self.refused(node.call("match", "greedy", "quad"))
        assert error.error == wire.ErrorURI.RATE_LIMITED and error.kwargs["retry_after"] > 0
        page = self.successResultOf(node.listings.page("quad", "", 10, node.now_ms()))
        assert sum(r.reserved for r in page) == 1

    def test_a_members_opens_are_rate_limited(self) -> None:
        """Beyond its burst, a member's open is refused with rate_limited."""
        node = Node(open_rate=1, open_burst=1)
        self.successResultOf(node.call("open", "greedy", "q1", "quad"))
        error = self.refused(node.call("open", "greedy", "q2", "quad"))
        assert error.error == wire.ErrorURI.RATE_LIMITED
        assert "q2" not in node.registry.runners

    def test_a_failed_open_releases_the_seat(self) -> None:
        """When the matched room can't be opened (the node is full), the error passes and the seat is released."""
        node = Node(max_rooms=1)
        self.successResultOf(node.registry.open(OpenCommand("busy", "arena", {})))
        error = self.refused(node.call("match", "bob", "quad"))
        assert error.error == wire.ErrorURI.FULL
        assert self.successResultOf(node.listings.page("quad", "", 10, node.now_ms())) == []

    def test_a_stale_owners_listing_is_not_published(self) -> None:
        """When a later owner's listing is stored, this owner's write is fenced: nothing written or published."""
        node = Node()
        later = ListedRoom("q1", "quad", 10**15, {"mode": "moved"}, 2, 4)
        self.successResultOf(node.listings.put(later, [], node.now_ms()))
        self.successResultOf(node.registry.open(OpenCommand("q1", "quad", {})))
        assert node.lobby.stats["listing_fenced"] == 1
        assert node.published.events(wire.lobby_topic("quad")) == []
        page = self.successResultOf(node.listings.page("quad", "", 10, node.now_ms()))
        assert [dict(r.meta) for r in page] == [{"mode": "moved"}]


def _private(*members: str) -> Any:
    from kasagi.core.access import RoomAccess

    return RoomAccess.private(members)
