"""Raw WAMP sessions for the security tests: plain Autobahn sessions (not the Kasagi client),
so a test can do what a well-behaved client never would -- publish, register, subscribe
with patterns, call meta procedures, log in with any method, role or credential."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import txaio
from autobahn.twisted.rawsocket import WampRawSocketClientFactory
from autobahn.twisted.wamp import ApplicationSession
from autobahn.twisted.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth, message
from autobahn.wamp.request import CallRequest
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig
from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import UNIXClientEndpoint

from kasagi import wire

SERIALIZERS = {"cbor": CBORSerializer, "msgpack": MsgPackSerializer, "json": JsonSerializer}


class Refused(Exception):
    """The router ended the handshake: ``reason`` is the WAMP URI, ``message`` its text."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass
class Login:
    authid: str | None
    ticket: str | None = None
    authmethods: tuple[str, ...] = ("ticket",)
    authrole: str | None = None
    #: For WAMP-CRA: the secret the client signs the challenge with.
    secret: str | None = None


class RawSession(ApplicationSession):  # type: ignore[misc]
    def __init__(self, config: ComponentConfig, login: Login, joined: defer.Deferred) -> None:
        super().__init__(config)
        self.login = login
        self.joined = joined
        self.closed: defer.Deferred = defer.Deferred()
        self.welcome: Any = None
        #: The router's GOODBYE (reason, message) once the session was closed after joining.
        self.goodbye: tuple[str, str] | None = None

    def onConnect(self) -> None:
        self.join(
            self.config.realm,
            authmethods=list(self.login.authmethods),
            authid=self.login.authid,
            authrole=self.login.authrole,
        )

    def onChallenge(self, challenge: Any) -> str:
        if challenge.method == "wampcra":
            return auth.compute_wcs((self.login.secret or "").encode(), challenge.extra["challenge"].encode()).decode()
        return self.login.ticket or ""

    def call_raw(self, procedure: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """CALL with exactly these arguments (``call()`` would take a keyword named ``options``
        for itself)."""
        request_id = self._request_id_gen.next()
        on_reply = txaio.create_future()
        self._call_reqs[request_id] = CallRequest(request_id, procedure, on_reply, None)
        self._transport.send(message.Call(request_id, procedure, args=list(args), kwargs=dict(kwargs)))
        return on_reply

    def onJoin(self, details: Any) -> None:
        self.welcome = details
        if not self.joined.called:
            self.joined.callback(self)

    def onLeave(self, details: Any) -> None:
        self.goodbye = (details.reason or "", details.message or "")
        if not self.joined.called:
            self.joined.errback(Refused(details.reason or "", details.message or ""))
        self.disconnect()

    def onDisconnect(self) -> None:
        if not self.joined.called:
            self.joined.errback(Refused("transport closed", "the connection closed before the session joined"))
        if not self.closed.called:
            self.closed.callback(None)


def _session_factory(login: Login, joined: defer.Deferred, out: list[RawSession]) -> Callable[[], RawSession]:
    def make() -> RawSession:
        session = RawSession(ComponentConfig(realm=wire.REALM), login, joined)
        out.append(session)
        return session

    return make


def connect_ws(port: int, login: Login, serializer: str = "json", timeout: float = 15.0) -> defer.Deferred:
    """A raw session over the public WebSocket; fails with :class:`Refused` if not admitted."""
    joined: defer.Deferred = defer.Deferred()
    made: list[RawSession] = []
    factory = WampWebSocketClientFactory(
        _session_factory(login, joined, made), url=f"ws://127.0.0.1:{port}/ws", serializers=[SERIALIZERS[serializer]()]
    )
    reactor.connectTCP("127.0.0.1", port, factory, timeout=timeout)
    return _with_deadline(joined, timeout)


def connect_unix(path: str, login: Login, timeout: float = 15.0) -> defer.Deferred:
    """A raw session over the backend Unix socket (rawsocket, msgpack)."""
    joined: defer.Deferred = defer.Deferred()
    made: list[RawSession] = []
    factory = WampRawSocketClientFactory(_session_factory(login, joined, made), serializer=MsgPackSerializer())
    UNIXClientEndpoint(reactor, path, timeout=timeout).connect(factory).addErrback(
        lambda f: joined.errback(Refused("connect failed", f.getErrorMessage())) if not joined.called else None
    )
    return _with_deadline(joined, timeout)


def _with_deadline(d: defer.Deferred, timeout: float) -> defer.Deferred:
    from kasagi.deadline import within

    return within(d, timeout, reactor, "session join")


@defer.inlineCallbacks
def close(*sessions: RawSession | None):  # type: ignore[no-untyped-def]
    """Leave and wait (bounded) for the transports to close."""
    waits = []
    for s in sessions:
        if s is None:
            continue
        if s.is_attached():
            s.leave()
        elif s._transport is not None:
            s._transport.close()
        waits.append(s.closed)
    if waits:
        from kasagi.deadline import within

        yield within(defer.DeferredList(waits), 10.0, reactor, "close").addErrback(lambda _: None)  # best effort


@defer.inlineCallbacks
def when_served(call: Callable[[], defer.Deferred], timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Retry ``call()`` while nobody serves the procedure yet (a room service in its own
    process registers a few seconds after the router is up); bounded by ``timeout``."""
    from autobahn.wamp.exception import ApplicationError

    deadline = reactor.seconds() + timeout
    while True:
        try:
            result = yield call()
        except ApplicationError as exc:
            if exc.error != "wamp.error.no_such_procedure" or reactor.seconds() > deadline:
                raise
            yield task.deferLater(reactor, 0.2, lambda: None)
            continue
        return result
