"""Twisted glue of the limits and private rooms: registry and runners on a Clock."""

from __future__ import annotations

from typing import Any

from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.access import RoomAccess
from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.errors import Full, InvalidArgument, NotAuthorized, RateLimited, Unavailable
from kasagi.service.settings import ServiceSettings
from kasagi.store.interface import StoreError
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import make_registry
from kasagi.wamp.edge import to_application_error

MOVE = {"dx": 1, "dy": 0}


class RateLimitTests(SynchronousTestCase):
    def setUp(self) -> None:
        settings = ServiceSettings(action_rate=2, action_burst=2, tick=0.01)
        self.registry, self.clock, self.publish, _ = make_registry(settings=settings)
        self.successResultOf(self.registry.open(OpenCommand("r1", "arena", {})))
        self.runner = self.registry.runner("r1")
        joined = self.runner.join("alice", "s1", JoinCommand(None))
        self.clock.advance(0.01)
        self.successResultOf(joined)

    def tearDown(self) -> None:
        self.registry.stop()
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])

    def act(self, cseq: int) -> Deferred[dict[str, int]]:
        return self.runner.act("alice", ActCommand("move", MOVE, cseq))

    def test_actions_beyond_the_bucket_are_refused_until_it_refills(self) -> None:
        """A member acting faster than its rate gets kasagi.error.rate_limited with retry_after, then
        succeeds once that time has passed."""
        first, second = self.act(1), self.act(2)
        with self.assertRaises(RateLimited) as info:
            self.act(3)
        error = to_application_error(info.exception)
        self.assertEqual(error.error, "kasagi.error.rate_limited")
        self.assertEqual(error.kwargs["retryable"], True)
        self.assertAlmostEqual(error.kwargs["retry_after"], 0.5, places=3)
        self.clock.advance(0.01)
        self.assertEqual(self.successResultOf(first)["seq"], self.successResultOf(second)["seq"])
        seq, players = self.runner.room.seq, dict(self.runner.room.committed["players"])
        self.clock.advance(0.49)
        self.assertEqual((self.runner.room.seq, self.runner.room.committed["players"]), (seq, players))
        third = self.act(3)
        self.clock.advance(0.01)
        self.assertEqual(self.successResultOf(third)["seq"], seq + 1)

    def test_the_limit_is_per_member_across_rooms(self) -> None:
        """One member's bucket is shared by all rooms of the process; other members are unaffected."""
        self.successResultOf(self.registry.open(OpenCommand("r2", "arena", {})))
        other = self.registry.runner("r2")
        joins = other.join("alice", "s1", JoinCommand(None)), other.join("bob", "s2", JoinCommand(None))
        self.clock.advance(0.01)
        for joined in joins:
            self.successResultOf(joined)
        self.act(1)
        other.act("alice", ActCommand("move", MOVE, 2))
        with self.assertRaises(RateLimited):
            other.act("alice", ActCommand("move", MOVE, 3))
        bob = other.act("bob", ActCommand("move", MOVE, 1))
        self.clock.advance(0.01)
        self.successResultOf(bob)


class RoomLimitTests(SynchronousTestCase):
    def test_a_process_serves_at_most_max_rooms(self) -> None:
        """Opening a room beyond max_rooms is refused with kasagi.error.full; open rooms still open."""
        registry, _clock, _, exposed = make_registry(settings=ServiceSettings(max_rooms=2))
        self.successResultOf(registry.open(OpenCommand("r1", "arena", {})))
        self.successResultOf(registry.open(OpenCommand("r2", "arena", {})))
        failure = self.failureResultOf(registry.open(OpenCommand("r3", "arena", {})), Full)
        self.assertEqual(to_application_error(failure.value).error, "kasagi.error.full")
        self.successResultOf(registry.open(OpenCommand("r1", "arena", {})))
        self.assertEqual(exposed, ["r1", "r2"])
        registry.stop()


class PrivateRoomTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = MemoryRoomStore()
        self.registry, self.clock, _, _ = make_registry(store=self.store)
        self.cmd = OpenCommand("secret", "arena", {}, RoomAccess.private(["alice", "bob"]))

    def tearDown(self) -> None:
        self.registry.stop()

    def test_members_open_a_private_room_others_are_refused(self) -> None:
        """A listed member opens the room (the reply lists members); an outsider gets not_authorized."""
        reply = self.successResultOf(self.registry.open(self.cmd, "alice"))
        self.assertEqual(reply["members"], ["alice", "bob"])
        self.successResultOf(self.registry.open(OpenCommand("secret", "arena", {}), "bob"))
        self.failureResultOf(self.registry.open(OpenCommand("secret", "arena", {}), "mallory"), NotAuthorized)

    def test_the_member_list_cannot_change_or_be_added_later(self) -> None:
        """Reopening with another list, or making a public room private, is refused."""
        self.successResultOf(self.registry.open(self.cmd, "alice"))
        other = OpenCommand("secret", "arena", {}, RoomAccess.private(["alice"]))
        self.failureResultOf(self.registry.open(other, "alice"), InvalidArgument)
        self.successResultOf(self.registry.open(OpenCommand("public", "arena", {}), "alice"))
        late = OpenCommand("public", "arena", {}, RoomAccess.private(["alice"]))
        failure = self.failureResultOf(self.registry.open(late, "alice"), InvalidArgument)
        self.assertEqual(failure.value.field, "options.members")

    def test_a_list_without_the_caller_is_refused_and_creates_nothing(self) -> None:
        """Opening a private room for others only is refused before anything is stored."""
        cmd = OpenCommand("elsewhere", "arena", {}, RoomAccess.private(["bob"]))
        self.failureResultOf(self.registry.open(cmd, "alice"), InvalidArgument)
        self.assertIsNone(self.successResultOf(self.store.load("elsewhere")))

    def test_the_member_list_survives_a_reload_from_the_store(self) -> None:
        """A new process loading the room from the store keeps it private."""
        self.successResultOf(self.registry.open(self.cmd, "alice"))
        stored = self.successResultOf(self.store.load("secret"))
        self.assertEqual(stored.options, {"members": ["alice", "bob"]})
        fresh, _, _, _ = make_registry(store=self.store)
        self.successResultOf(fresh.open(OpenCommand("secret", "arena", {}), "bob"))
        self.assertEqual(fresh.runner("secret").room.access, RoomAccess.private(["alice", "bob"]))
        self.failureResultOf(fresh.open(OpenCommand("secret", "arena", {}), "mallory"), NotAuthorized)
        fresh.stop()

    def test_access_is_answered_from_the_live_room_or_the_store(self) -> None:
        """room_access names the members of live and stored private rooms, and says when a room does not exist."""
        self.successResultOf(self.registry.open(self.cmd, "alice"))
        self.assertEqual(self.successResultOf(self.registry.access("secret"))["members"], ["alice", "bob"])
        other, _, _, _ = make_registry(store=self.store)
        self.assertEqual(
            self.successResultOf(other.access("secret")),
            {"room": "secret", "exists": True, "members": ["alice", "bob"]},
        )
        self.assertEqual(self.successResultOf(other.access("nope")), {"room": "nope", "exists": False, "members": None})

    def test_access_fails_closed_when_the_store_fails(self) -> None:
        """If the store can't answer, access fails (the authorizer then refuses)."""

        class Broken(MemoryRoomStore):
            def load(self, room: str) -> Deferred[None]:  # type: ignore[override]
                return fail(StoreError("down"))

        registry, _, _, _ = make_registry(store=Broken())
        self.failureResultOf(registry.access("secret"), Unavailable)


class AuthorizerTests(SynchronousTestCase):
    """The router-side client authorizer, with the room service's answer faked."""

    def authorizer(self, answer: Deferred[Any]) -> Any:
        from autobahn.wamp.types import ComponentConfig
        from twisted.internet.task import Clock

        from kasagi.auth import CacheBudget
        from router.authorizer import ClientAuthorizer

        authorizer = ClientAuthorizer(ComponentConfig(realm="kasagi"))
        self.clock = Clock()
        authorizer.use(self.clock, CacheBudget(10))
        authorizer.call = lambda *args, **kwargs: answer  # type: ignore[method-assign]
        return authorizer

    def test_a_subscription_is_not_made_when_the_room_service_fails_or_is_silent(self) -> None:
        """No answer (an error, or none within 5 s) makes no subscription (fail closed), and
        says so with kasagi.error.unavailable -- Crossbar turns an authorizer that fails into
        wamp.error.authorization_failed, which clients retry, where a refusal would be
        wamp.error.not_authorized, which they must not."""
        session = {"authid": "alice"}
        failing = self.authorizer(fail(Exception("no callee")))
        failure = self.failureResultOf(failing.authorize(session, "kasagi.room.r1", "subscribe", {}), ApplicationError)
        self.assertEqual(failure.value.error, "kasagi.error.unavailable")
        self.assertIn("no callee", failure.value.args[0])
        silent = self.authorizer(Deferred())
        d = silent.authorize(session, "kasagi.room.r1", "subscribe", {})
        self.assertNoResult(d)
        self.clock.advance(5)
        self.assertEqual(self.failureResultOf(d, ApplicationError).value.error, "kasagi.error.unavailable")

    def test_a_subscription_follows_the_member_list(self) -> None:
        """A listed member is admitted (uncached); anyone else is refused."""
        answer = succeed({"room": "r1", "exists": True, "members": ["alice"]})
        authorizer = self.authorizer(answer)
        allowed = self.successResultOf(authorizer.authorize({"authid": "alice"}, "kasagi.room.r1", "subscribe", {}))
        self.assertEqual(allowed, {"allow": True, "cache": False})
        refused = self.successResultOf(authorizer.authorize({"authid": "mallory"}, "kasagi.room.r1", "subscribe", {}))
        self.assertEqual(refused, {"allow": False, "cache": False})
