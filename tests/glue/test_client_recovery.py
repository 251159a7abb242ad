"""How the Python client's room recovers an action from each kind of error, driven on a Clock
against a scripted room (no router): the recovery comes from kasagi.wire.ERROR_POLICY."""

from __future__ import annotations

from typing import Any

from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi import wire
from kasagi.client import ClientOptions, RoomHandle


class _Subscription:
    active = True


class _Session:
    def subscribe(self, handler: Any, topic: str) -> Deferred[Any]:
        return succeed(_Subscription())


class _ScriptedClient:
    """The part of a KasagiClient a room uses; ``act_errors`` are the act answers to fail with
    (one per attempt) before the room accepts the action."""

    def __init__(self, act_errors: list[ApplicationError]) -> None:
        self.clock = Clock()
        self.options = ClientOptions()
        self.session = _Session()
        self.closing = False
        self.event_tap = None
        self.act_errors = act_errors
        self.join_errors: list[ApplicationError] = []
        self.open_errors: list[ApplicationError] = []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def wait_connected(self) -> Deferred[_Session]:
        return succeed(self.session)

    def open(self, room: str, type: str, options: dict[str, Any]) -> Deferred[Any]:
        self.calls.append((wire.LOBBY_OPEN, (room,)))
        if self.open_errors:
            return fail(self.open_errors.pop(0))
        return succeed({"room": room})

    def call(self, uri: str, *args: Any) -> Deferred[Any]:
        self.calls.append((uri, args))
        if uri.endswith(".join"):
            if self.join_errors:
                return fail(self.join_errors.pop(0))
            return succeed({"room": "r1", "epoch": 1, "seq": 0, "member": "alice", "state": {}})
        if self.act_errors:
            return fail(self.act_errors.pop(0))
        return succeed({"seq": 1, "cseq": args[2]})

    def acts(self) -> list[tuple[Any, ...]]:
        return [args for uri, args in self.calls if uri.endswith(".act")]

    def verbs(self) -> list[str]:
        return [uri.rsplit(".", 1)[-1] for uri, _ in self.calls]


def _act(errors: list[ApplicationError]) -> tuple[_ScriptedClient, Deferred[dict[str, Any]]]:
    client = _ScriptedClient(errors)
    room = RoomHandle(client, "r1", "arena", {})  # type: ignore[arg-type]
    done = room.act("move", {"dx": 1, "dy": 0})
    client.clock.advance(30)
    return client, done


class RecoveryTests(SynchronousTestCase):
    def test_full_reaches_the_caller_at_once(self) -> None:
        """An act refused with kasagi.error.full (a capacity limit: retryable later, by the
        caller's choice) fails at once with that error instead of being retried silently."""
        client, done = _act([ApplicationError(wire.ErrorURI.FULL, "full", field="members", retryable=True)])
        failure = self.failureResultOf(done, ApplicationError)
        self.assertEqual(failure.value.error, wire.ErrorURI.FULL)
        self.assertEqual(len(client.acts()), 1)

    def test_not_member_joins_again_before_the_retry(self) -> None:
        """An act refused with kasagi.error.not_member joins the room again, then lands with
        the same cseq."""
        client, done = _act([ApplicationError(wire.ErrorURI.NOT_MEMBER, "join first", retryable=False)])
        self.successResultOf(done)
        self.assertEqual(client.verbs(), ["join", "act", "join", "act"])
        self.assertEqual(len({args[2] for args in client.acts()}), 1)

    def test_no_such_room_opens_the_room_again(self) -> None:
        """An act refused with kasagi.error.no_such_room makes the room be joined again (and
        opened when that join says so), then lands with the same cseq."""
        client, done = _act([ApplicationError(wire.ErrorURI.NO_SUCH_ROOM, "open it", retryable=False)])
        self.successResultOf(done)
        self.assertEqual(client.verbs(), ["join", "act", "join", "act"])

    def test_a_refusal_is_final(self) -> None:
        """An act refused with kasagi.error.rejected fails at once with that error, unretried."""
        client, done = _act([ApplicationError(wire.ErrorURI.REJECTED, "too fast", retryable=False)])
        self.assertEqual(self.failureResultOf(done, ApplicationError).value.error, wire.ErrorURI.REJECTED)
        self.assertEqual(len(client.acts()), 1)

    def test_unavailable_marked_final_is_final(self) -> None:
        """An act refused with kasagi.error.unavailable and retryable false (a damaged room)
        fails at once."""
        client, done = _act([ApplicationError(wire.ErrorURI.UNAVAILABLE, "damaged", retryable=False)])
        self.failureResultOf(done, ApplicationError)
        self.assertEqual(len(client.acts()), 1)


def _overloaded(retry_after: float) -> ApplicationError:
    return ApplicationError(
        wire.ErrorURI.RATE_LIMITED, "overloaded", field="service", retry_after=retry_after, retryable=True
    )


class RetryAfterTests(SynchronousTestCase):
    """A ``kasagi.error.rate_limited`` with ``retry_after`` holds the room for that long."""

    def room(self, errors: list[ApplicationError]) -> tuple[_ScriptedClient, RoomHandle]:
        client = _ScriptedClient(errors)
        return client, RoomHandle(client, "r1", "arena", {})  # type: ignore[arg-type]

    def test_a_refused_act_waits_retry_after_then_lands_with_the_same_cseq(self) -> None:
        """Refused with retry_after 2 s, the act is not sent again before 2 s have passed, then lands once."""
        client, room = self.room([_overloaded(2.0)])
        done = room.act("move", {"dx": 1, "dy": 0})
        client.clock.advance(1.9)
        self.assertEqual(len(client.acts()), 1)
        self.assertNoResult(done)
        client.clock.advance(0.2)
        self.successResultOf(done)
        self.assertEqual(len(client.acts()), 2)
        self.assertEqual(len({args[2] for args in client.acts()}), 1)

    def test_an_act_whose_deadline_ends_within_the_hold_fails_at_once_unsent(self) -> None:
        """A move worth nothing after 0.25 s fails at once when refused with retry_after 1.5 s; the next one is
        refused by the client itself (details.held), unsent; a patient act waits for the hold and lands."""
        client, room = self.room([_overloaded(1.5)])
        first = self.failureResultOf(room.act("move", {"dx": 1, "dy": 0}, deadline=0.25), ApplicationError)
        self.assertEqual(first.value.kwargs["retry_after"], 1.5)
        client.clock.advance(0.5)
        second = self.failureResultOf(room.act("move", {"dx": 1, "dy": 0}, deadline=0.25), ApplicationError)
        self.assertEqual(second.value.error, wire.ErrorURI.RATE_LIMITED)
        self.assertTrue(second.value.kwargs["held"])
        self.assertAlmostEqual(second.value.kwargs["retry_after"], 1.0, places=3)
        self.assertEqual((len(client.acts()), room.stats["held"]), (1, 1))
        patient = room.act("move", {"dx": 1, "dy": 0})
        client.clock.advance(0.9)
        self.assertEqual(len(client.acts()), 1)
        client.clock.advance(0.2)
        self.successResultOf(patient)
        self.assertEqual(len(client.acts()), 2)
        with self.assertRaises(ValueError):
            room.act("move", {}, deadline=0)

    def test_a_fast_input_refused_with_retry_after_holds_the_next_ones(self) -> None:
        """A fast input refused with retry_after makes the next fast input fail at once, unpublished."""
        client, room = self.room([])
        published: list[Any] = []
        client.session.publish = lambda topic, *args: published.append(args)  # type: ignore[attr-defined]
        pending = room.send("move", {"dx": 1, "dy": 0}, cseq=5)
        room._on_reply({"cseq": 5, "error": wire.ErrorURI.RATE_LIMITED, "message": "overloaded",
                        "details": {"field": "service", "retry_after": 1.0, "retryable": True}})  # fmt: skip
        self.assertEqual(self.failureResultOf(pending, ApplicationError).value.error, wire.ErrorURI.RATE_LIMITED)
        held = self.failureResultOf(room.send("move", {"dx": 1, "dy": 0}, cseq=6), ApplicationError)
        self.assertTrue(held.value.kwargs["held"])
        self.assertEqual(len(published), 1)
        client.clock.advance(1.1)
        room.send("move", {"dx": 1, "dy": 0}, cseq=7)
        self.assertEqual(len(published), 2)

    def test_a_rate_limited_reopen_waits_retry_after_before_the_next_join(self) -> None:
        """When re-opening a room is refused with retry_after 2 s, the room joins again only after those 2 s."""
        client, room = self.room([])
        client.join_errors = [ApplicationError(wire.ErrorURI.NO_SUCH_ROOM, "open it", retryable=False)]
        client.open_errors = [_overloaded(2.0)]
        done = room.act("move", {"dx": 1, "dy": 0})
        client.clock.advance(1.9)
        self.assertEqual(client.verbs(), ["join", wire.LOBBY_OPEN.rsplit(".", 1)[-1]])
        self.assertNoResult(done)
        client.clock.advance(0.2)
        self.successResultOf(done)
        self.assertEqual(client.verbs()[2:], ["join", "act"])


class _SlowRoomClient(_ScriptedClient):
    """A scripted client whose acts are answered only when the test says so."""

    def __init__(self, max_unanswered: int) -> None:
        super().__init__([])
        self.options = ClientOptions(max_unanswered=max_unanswered)
        self.answers: list[Deferred[Any]] = []

    def call(self, uri: str, *args: Any) -> Deferred[Any]:
        if not uri.endswith(".act"):
            return super().call(uri, *args)
        self.calls.append((uri, args))
        answer: Deferred[Any] = Deferred()
        self.answers.append(answer)
        return answer


class WindowTests(SynchronousTestCase):
    """A room keeps at most ``max_unanswered`` acts sent and unanswered; the next ones wait."""

    def test_the_next_acts_wait_in_order_and_go_as_answers_come(self) -> None:
        """With two unanswered, a third and fourth act are not sent until an answer comes; then
        they go in the order they were made, and every one lands."""
        client = _SlowRoomClient(max_unanswered=2)
        room = RoomHandle(client, "r1", "arena", {})  # type: ignore[arg-type]
        done = [room.act("set", {"n": n}) for n in (1, 2, 3, 4)]
        client.clock.advance(0.01)
        self.assertEqual([args[1]["n"] for args in client.acts()], [1, 2])
        client.answers[0].callback({"seq": 1, "cseq": client.acts()[0][2]})
        self.assertEqual([args[1]["n"] for args in client.acts()], [1, 2, 3])
        client.answers[1].errback(ApplicationError(wire.ErrorURI.REJECTED, "no", retryable=False))
        self.assertEqual([args[1]["n"] for args in client.acts()], [1, 2, 3, 4], "a refusal passes the turn on")
        for answer, args in zip(client.answers[2:], client.acts()[2:], strict=True):
            answer.callback({"seq": 2, "cseq": args[2]})
        self.successResultOf(done[0])
        self.failureResultOf(done[1], ApplicationError)
        self.assertEqual([self.successResultOf(d)["seq"] for d in done[2:]], [2, 2])
        self.assertEqual(room.stats["held"], 0)

    def test_an_act_whose_deadline_ends_while_it_waits_fails_unsent(self) -> None:
        """A move worth nothing after 0.25 s, made while the window is full, fails after 0.25 s
        with rate_limited (details held, field window) and is never sent; the window is intact."""
        client = _SlowRoomClient(max_unanswered=1)
        room = RoomHandle(client, "r1", "arena", {})  # type: ignore[arg-type]
        first = room.act("set", {"n": 1})
        stale = room.act("move", {"dx": 1}, deadline=0.25)
        client.clock.advance(0.2)
        self.assertNoResult(stale)
        client.clock.advance(0.1)
        refused = self.failureResultOf(stale, ApplicationError).value
        self.assertEqual(refused.error, wire.ErrorURI.RATE_LIMITED)
        self.assertEqual((refused.kwargs["held"], refused.kwargs["field"]), (True, "window"))
        self.assertEqual((len(client.acts()), room.stats["held"]), (1, 1))
        patient = room.act("set", {"n": 3})
        client.answers[0].callback({"seq": 1, "cseq": client.acts()[0][2]})
        self.successResultOf(first)
        self.assertEqual([args[1].get("n") for args in client.acts()], [1, 3])
        self.assertNoResult(patient)
        # Left while an act waits: it fails at once, unsent, and no timer is left behind.
        waiting = room.act("set", {"n": 4})
        room._stop()
        self.failureResultOf(waiting)
        self.assertEqual(len(client.acts()), 2)
        self.assertEqual(client.clock.getDelayedCalls(), [])

    def test_a_fast_input_past_the_window_fails_at_once_unpublished(self) -> None:
        """With two fast inputs waiting for their acknowledgement, a third fails at once with
        rate_limited (field window), unpublished; an acknowledgement makes room again."""
        client = _SlowRoomClient(max_unanswered=2)
        room = RoomHandle(client, "r1", "arena", {})  # type: ignore[arg-type]
        published: list[Any] = []
        client.session.publish = lambda topic, *args: published.append(args)  # type: ignore[attr-defined]
        first = room.send("move", {"dx": 1}, cseq=5)
        room.send("move", {"dx": 1}, cseq=6).addErrback(lambda _: None)
        third = self.failureResultOf(room.send("move", {"dx": 1}, cseq=7), ApplicationError).value
        self.assertEqual((third.error, third.kwargs["field"]), (wire.ErrorURI.RATE_LIMITED, "window"))
        self.assertEqual((len(published), room.stats["held"]), (2, 1))
        room._on_reply({"cseq": 5, "seq": 3})
        self.assertEqual(self.successResultOf(first)["seq"], 3)
        room.send("move", {"dx": 1}, cseq=8).addErrback(lambda _: None)
        self.assertEqual(len(published), 3)
        client.clock.advance(10)

    def test_thousands_of_waiting_acts_all_fail_at_once_when_the_room_is_left(self) -> None:
        """However many acts wait for their turn, leaving the room fails every one of them at
        once, unsent, and the window is whole again."""
        client = _SlowRoomClient(max_unanswered=1)
        room = RoomHandle(client, "r1", "arena", {})  # type: ignore[arg-type]
        room.act("set", {"n": 0}).addErrback(lambda _: None)
        waiting = [room.act("set", {"n": n}) for n in range(1, 3001)]
        room._stop()
        for d in waiting:
            self.failureResultOf(d)
        self.assertEqual((len(client.acts()), room._unanswered), (1, 1))
        self.assertEqual(client.clock.getDelayedCalls(), [])

    def test_max_unanswered_must_be_a_positive_integer(self) -> None:
        for bad in (0, -1, 1.5, True):
            with self.assertRaises(ValueError):
                ClientOptions(max_unanswered=bad)  # type: ignore[arg-type]
