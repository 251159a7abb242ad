"""What the Python client's callers see when something goes wrong: server errors whose
``str()`` shows their details, and a refused first connection that fails at once instead of
at the connect deadline (driven by a fake reactor, no router)."""

from __future__ import annotations

from typing import Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CloseDetails
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionRefusedError, TimeoutError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kasagi import wire
from kasagi.client import ClientOptions, ConnectionLost, KasagiClient, ServerError
from kasagi.client._retry import recovery_of

URL = "ws://127.0.0.1:9/ws"


def _rejected() -> ApplicationError:
    return ApplicationError(
        wire.ErrorURI.REJECTED,
        "move is faster than the speed limit",
        field="args.dx",
        expected="|dx| <= 10",
        got="int 50",
        retryable=False,
    )


class _RefusingSession:
    """A joined session whose every call the server answers with ``error``."""

    def __init__(self, error: ApplicationError) -> None:
        self.error = error

    def is_attached(self) -> bool:
        return True

    def call(self, uri: str, *args: Any, **kwargs: Any) -> Deferred[Any]:
        return fail(self.error)


def _active_timers(reactor: MemoryReactorClock) -> list[Any]:
    return [c for c in reactor.getDelayedCalls() if c.active()]


class ServerErrorTests(SynchronousTestCase):
    def test_str_shows_the_uri_the_message_and_the_details(self) -> None:
        """A server error reads as its URI, its message and its field, expected and got."""
        error = ServerError.from_application_error(_rejected())
        self.assertEqual(
            str(error),
            "kasagi.error.rejected: move is faster than the speed limit"
            " (field=args.dx, expected=|dx| <= 10, got=int 50)",
        )

    def test_other_details_follow_and_retryable_is_a_word(self) -> None:
        """Details beyond field, expected and got follow them; a retryable error says so."""
        error = ServerError(wire.ErrorURI.RATE_LIMITED, "slow down", retry_after=0.2, field="act", retryable=True)
        self.assertEqual(str(error), "kasagi.error.rate_limited: slow down (field=act, retry_after=0.2, retryable)")
        self.assertEqual(str(ServerError("wamp.error.no_such_procedure")), "wamp.error.no_such_procedure")

    def test_it_is_still_an_application_error_with_the_same_details(self) -> None:
        """A server error keeps Autobahn's ApplicationError interface: .error, .kwargs, and the
        same recovery from the error table."""
        original = _rejected()
        error = ServerError.from_application_error(original)
        self.assertIsInstance(error, ApplicationError)
        self.assertEqual((error.error, error.kwargs, error.args), (original.error, original.kwargs, original.args))
        self.assertEqual(error.details, original.kwargs)
        self.assertEqual(error.message, "move is faster than the speed limit")
        self.assertFalse(error.retryable)
        self.assertIs(recovery_of(Failure(error)), recovery_of(Failure(original)))

    def test_a_refused_call_fails_with_a_server_error(self) -> None:
        """A call the server refuses fails with a ServerError whose str() names the field."""
        reactor = MemoryReactorClock()
        client = KasagiClient(URL, "alice", reactor=reactor)
        client.session = _RefusingSession(_rejected())  # type: ignore[assignment]
        failure = self.failureResultOf(client.call("kasagi.room.r1.act", "move", {"dx": 50}, 1), ServerError)
        self.assertIn("field=args.dx", str(failure.value))
        self.assertEqual(_active_timers(reactor), [])


class RefusedConnectionTests(SynchronousTestCase):
    def connect(self, **options: Any) -> tuple[Deferred[KasagiClient], MemoryReactorClock]:
        reactor = MemoryReactorClock()
        d = KasagiClient.connect(URL, "alice", options=ClientOptions(**options), reactor=reactor)
        return d, reactor

    def test_nothing_listening_fails_connect_at_once(self) -> None:
        """connect() to a port where nothing listens fails at once with ConnectionLost naming
        the URL, makes no second attempt and leaves no timer."""
        d, reactor = self.connect()
        factory = reactor.tcpClients[-1][2]
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        failure = self.failureResultOf(d, ConnectionLost)
        self.assertIn(f"nothing listens at {URL}", str(failure.value))
        reactor.advance(60)
        self.assertEqual(len(reactor.tcpClients), 1)
        self.assertEqual(_active_timers(reactor), [])

    def test_a_refused_login_fails_connect_at_once(self) -> None:
        """connect() whose login the router refuses (a bad ticket) fails at once with the
        router's URI and reason, and makes no second attempt."""
        d, reactor = self.connect()
        client: Any = reactor.tcpClients[-1][2]._client
        client._on_leave(None, CloseDetails(reason="kasagi.error.not_authorized", message="bad ticket signature"))
        client._on_disconnect(None)
        failure = self.failureResultOf(d, ConnectionLost)
        self.assertEqual(str(failure.value), "connection refused: kasagi.error.not_authorized: bad ticket signature")
        reactor.advance(60)
        self.assertEqual(len(reactor.tcpClients), 1)
        self.assertEqual(_active_timers(reactor), [])

    def test_a_connection_attempt_that_times_out_is_retried_until_the_deadline(self) -> None:
        """An attempt that gets no answer (a silent network, not a refusal) is retried with
        backoff, and connect() fails only at its deadline."""
        d, reactor = self.connect(connect_timeout=10.0)
        reactor.tcpClients[-1][2].clientConnectionFailed(None, Failure(TimeoutError()))
        self.assertNoResult(d)
        reactor.advance(3)
        self.assertEqual(len(reactor.tcpClients), 2, "a second attempt followed the backoff")
        reactor.advance(7)
        self.failureResultOf(d)
        self.assertEqual(_active_timers(reactor), [])

    def test_a_refusal_after_the_first_session_is_retried(self) -> None:
        """Once a session has joined, a refused connection (the router restarting) is retried
        with backoff instead of giving up."""
        d, reactor = self.connect()
        client: Any = reactor.tcpClients[-1][2]._client
        client._on_join(object())
        self.assertIs(self.successResultOf(d), client)
        client._on_disconnect(client.session)
        reactor.advance(3)
        reactor.tcpClients[-1][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        reactor.advance(3)
        self.assertEqual(len(reactor.tcpClients), 3)
        client.close()
        self.assertEqual(_active_timers(reactor), [])
