"""The client's connection: one WAMP session (reconnected with backoff as needed), the calls
made over it, and the rooms joined over it (each a :class:`~kasagi.client._room.RoomHandle`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

from autobahn.twisted.wamp import ApplicationSession
from autobahn.twisted.websocket import WampWebSocketClientFactory
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.error import ConnectionRefusedError as TCPConnectionRefused
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi import wire
from kasagi.client._errors import ConnectionLost, as_client_error
from kasagi.client._lobby import LobbyWatch
from kasagi.client._options import ClientOptions
from kasagi.client._retry import backoff_delay
from kasagi.client._room import RoomHandle
from kasagi.deadline import DeadlineExceeded, within

__all__ = ["KasagiClient"]

SERIALIZERS: dict[str, Any] = {"cbor": CBORSerializer, "msgpack": MsgPackSerializer, "json": JsonSerializer}


class _Session(ApplicationSession):
    """The WAMP session of a client: authenticates with its ticket and reports to it."""

    def __init__(self, config: ComponentConfig, client: KasagiClient) -> None:
        super().__init__(config)
        self._client = client

    def onConnect(self) -> None:
        self.join(self.config.realm, authmethods=["ticket"], authid=self._client.authid)

    def onChallenge(self, challenge: Any) -> str:
        return self._client.ticket or "dev"

    def onJoin(self, details: Any) -> None:
        self._client._on_join(self)

    def onLeave(self, details: Any) -> Any:
        self._client._on_leave(self, details)
        # Autobahn's own onLeave fails every call still in flight (a call in flight when the
        # transport drops would otherwise never complete) and disconnects.
        return super().onLeave(details)

    def onDisconnect(self) -> None:
        super().onDisconnect()
        self._client._on_disconnect(self)


class KasagiClient:
    """A member's connection to a Kasagi node."""

    log = Logger()

    def __init__(
        self,
        url: str,
        authid: str,
        ticket: str | None = None,
        options: ClientOptions | None = None,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.url = url
        self.authid = authid
        self.ticket = ticket
        self.options = options or ClientOptions()
        self.reactor: Any = reactor
        self.clock: IReactorTime = reactor
        self.session: _Session | None = None
        self.rooms: dict[str, RoomHandle] = {}
        self.closing = False
        self.connects = 0
        #: Fault injection and tracing seam: ``event_tap(room, event, deliver)`` sees every
        #: event from a room topic before the room does; it may deliver it at once, later, or
        #: never (tests drop and reorder events with it). ``None``: deliver at once.
        self.event_tap: Callable[[str, Any, Callable[[Any], None]], None] | None = None
        self._connection_listeners: list[Callable[[bool], None]] = []
        self._waiters: list[Deferred[_Session]] = []
        self._retry_attempt = 0
        self._retry_timer: IDelayedCall | None = None
        self._connector: Any = None
        self._last_refusal: str | None = None
        #: Set by :meth:`connect` until the first session joins: a refused TCP connection then
        #: fails at once instead of being retried until the connect deadline.
        self._refused_is_final = False

    # -- connection --------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        url: str,
        authid: str,
        ticket: str | None = None,
        *,
        serializer: str = "cbor",
        options: ClientOptions | None = None,
        reactor: Any = None,
    ) -> Deferred[KasagiClient]:
        """Connect and authenticate; fires with the client once its session has joined.

        Fails with :class:`ConnectionLost` at once, not at the ``connect_timeout``, when the
        first attempt is refused: nothing listens at ``url`` (TCP refused), or the router
        refuses the login (``kasagi.error.not_authorized`` and its reason, e.g. a bad ticket).
        Other failures (a silent network, a node still starting) are retried with backoff
        until ``connect_timeout``."""
        opts = options or ClientOptions(serializer=serializer)
        if options is not None and serializer != "cbor":
            opts = replace(opts, serializer=serializer)
        client = cls(url, authid, ticket, opts, reactor)
        client._refused_is_final = True
        client._dial()
        first: Deferred[_Session] = Deferred()
        client._waiters.append(first)
        timed = within(first, opts.connect_timeout, client.clock, "connect")

        def done(_: object) -> KasagiClient:
            return client

        def refused(failure: Failure) -> Failure:
            client.close()
            if client._last_refusal:
                return Failure(ConnectionLost(f"connection refused: {client._last_refusal}"))
            return failure

        return timed.addCallbacks(done, refused)

    def start(self) -> None:
        """Start dialling the node, reconnecting with backoff until :meth:`close`, without
        waiting for a session (:meth:`wait_connected` fires once one joins); :meth:`connect`
        is this plus the wait."""
        self._dial()

    def on_connection_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(True)`` when a session joins, ``listener(False)`` when it is lost."""
        self._connection_listeners.append(listener)

    def _tell(self, connected: bool) -> None:
        for listener in list(self._connection_listeners):
            try:
                listener(connected)
            except Exception:  # noqa: BLE001 -- a listener's bug must not break reconnection
                self.log.failure("connection listener failed")

    def _dial(self) -> None:
        if self.closing:
            return
        self._retry_timer = None
        parsed = urlparse(self.url)
        config = ComponentConfig(realm=wire.REALM)

        def make_session() -> _Session:
            return _Session(config, self)

        serializers = [_make_serializer(self.options.serializer)]
        factory = WampWebSocketClientFactory(make_session, url=self.url, serializers=serializers)
        protocol_options: dict[str, Any] = {"openHandshakeTimeout": self.options.dial_timeout}
        if self.options.ping_interval:
            protocol_options["autoPingInterval"] = self.options.ping_interval
            protocol_options["autoPingTimeout"] = self.options.ping_timeout
        factory.setProtocolOptions(**protocol_options)
        port = parsed.port or (443 if parsed.scheme == "wss" else 80)
        reactor: IReactorTCP = self.reactor
        dial: Any = _DialFactory(factory, self)  # a ClientFactory by delegation
        host = parsed.hostname or "127.0.0.1"
        bind = (self.options.bind_address, 0) if self.options.bind_address else None
        self._connector = reactor.connectTCP(host, port, dial, timeout=self.options.dial_timeout, bindAddress=bind)

    def _on_dial_failed(self, reason: Failure) -> None:
        if self._refused_is_final and self.connects == 0 and reason.check(TCPConnectionRefused):
            self._last_refusal = f"nothing listens at {self.url} ({reason.getErrorMessage()})"
        self._on_disconnect(None)

    def _on_join(self, session: _Session) -> None:
        self.session = session
        self.connects += 1
        self._retry_attempt = 0
        self._last_refusal = None
        self._refused_is_final = False
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(session)
        self._tell(True)
        if self.connects > 1:
            for handle in list(self.rooms.values()):
                handle._resume()

    def _on_leave(self, session: _Session, details: Any) -> None:
        reason = getattr(details, "reason", "")
        if reason and reason not in ("wamp.close.normal", "wamp.close.transport_lost", "wamp.close.goodbye_and_out"):
            self._last_refusal = f"{reason}: {getattr(details, 'message', '')}"

    def _on_disconnect(self, session: _Session | None) -> None:
        if session is not None and self.session is not session:
            return
        was_connected = self.session is not None
        self.session = None
        if was_connected:
            self._tell(False)
        if self.closing:
            return
        if self._last_refusal is not None and self.connects == 0:
            # Authentication refused on the first attempt: no point retrying.
            waiters, self._waiters = self._waiters, []
            for d in waiters:
                d.errback(Failure(ConnectionLost(f"connection refused: {self._last_refusal}")))
            return
        if not self.options.reconnect:
            waiters, self._waiters = self._waiters, []
            for d in waiters:
                d.errback(Failure(ConnectionLost("disconnected")))
            return
        if self._retry_timer is None:
            delay = self.next_retry_delay()
            self._retry_timer = self.clock.callLater(delay, self._dial)

    def next_retry_delay(self) -> float:
        """The wait before the next connection attempt: capped exponential backoff with
        jitter (at most ``max_retry_delay``), reset once a session joins."""
        delay = backoff_delay(self._retry_attempt, self.options.initial_retry_delay, self.options.max_retry_delay)
        self._retry_attempt += 1
        return delay

    def wait_connected(self, timeout: float | None = None) -> Deferred[_Session]:
        if self.session is not None:
            return succeed(self.session)
        if self.closing:
            return fail(ConnectionLost("client closed"))
        d: Deferred[_Session] = Deferred()
        self._waiters.append(d)
        limit = timeout if timeout is not None else self.options.connect_timeout
        return within(d, limit, self.clock, "reconnect").addErrback(
            lambda f: Failure(ConnectionLost("not connected")) if f.check(DeadlineExceeded) else f
        )

    def drop_connection(self) -> None:
        """Abort the transport (tests: simulate a network failure); the client reconnects."""
        transport: Any = self.session._transport if self.session is not None else None
        if transport is not None:
            transport.transport.abortConnection()

    def close(self) -> Deferred[None]:
        """Leave for good: no reconnection; the router marks the member's sessions gone."""
        self.closing = True
        if self._retry_timer is not None and self._retry_timer.active():
            self._retry_timer.cancel()
        self._retry_timer = None
        for handle in self.rooms.values():
            handle._stop()
        session, self.session = self.session, None
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.errback(Failure(ConnectionLost("client closed")))
        if session is not None and session.is_attached():
            session.leave()
        elif session is not None:
            session.disconnect()
        elif self._connector is not None:
            self._connector.disconnect()
        return succeed(None)

    # -- calls ---------------------------------------------------------------------------------
    def call(self, uri: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Deferred[Any]:
        """Call ``uri``; answered, or failed within the call deadline (:class:`ServerError`
        with the server's URI and details, or :class:`CallTimeout`)."""
        limit = timeout if timeout is not None else self.options.call_timeout

        def go(session: _Session) -> Deferred[Any]:
            d = within(session.call(uri, *args, **kwargs), limit, self.clock, uri)
            return d.addErrback(as_client_error)

        if self.session is not None and self.session.is_attached():
            return go(self.session)
        return self.wait_connected().addCallback(go)

    def open(self, room: str, type: str = "arena", options: dict[str, Any] | None = None) -> Deferred[dict[str, Any]]:
        return self.call(wire.LOBBY_OPEN, room, type, options or {})

    def list(
        self, type: str, filter: dict[str, Any] | None = None, cursor: str | None = None
    ) -> Deferred[dict[str, Any]]:
        """One page of the listed rooms of ``type`` whose metadata equals ``filter``:
        ``{"rooms": [...], "next": cursor | None}`` (pass ``next`` back for the next page)."""
        return self.call(wire.LOBBY_LIST, type, filter or {}, cursor)

    def match(self, type: str, criteria: dict[str, Any] | None = None) -> Deferred[dict[str, Any]]:
        """A seat in a listed room of ``type`` that fits ``criteria`` (a new room when none
        does): what ``open`` answers. Join it within the reservation's TTL."""
        return self.call(wire.LOBBY_MATCH, type, criteria or {})

    @inlineCallbacks
    def play(self, type: str, criteria: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
        """Match, then join the room: fires with its :class:`RoomHandle`."""
        seat = yield self.match(type, criteria)
        handle = yield self.join(seat["room"], type)
        return handle

    def watch(
        self,
        type: str,
        on_change: Callable[[dict[str, Any]], None],
        on_resync: Callable[[], None] | None = None,
    ) -> Deferred[LobbyWatch]:
        """Follow the listing changes of ``type`` live: ``on_change(change)`` for each;
        ``on_resync()`` after a reconnection (re-read with :meth:`list`). Fires once
        subscribed."""
        watch = LobbyWatch(self, type, on_change, on_resync)
        return self.wait_connected().addCallback(lambda _: watch._subscribe()).addCallback(lambda _: watch)

    @inlineCallbacks
    def join(self, room: str, type: str = "arena", options: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
        """Open (if needed) and join ``room``; fires with its :class:`RoomHandle` once the
        local copy is in sync."""
        yield self.open(room, type, options)
        handle = self.rooms.get(room)
        if handle is None:
            handle = RoomHandle(self, room, type, options or {})
            self.rooms[room] = handle
        try:
            yield within(handle._sync(), self.options.act_deadline, self.clock, f"join {room}")
        except Exception:
            if self.rooms.get(room) is handle and not handle.synced_once:
                handle._stop()
                del self.rooms[room]
            raise
        return handle


def _make_serializer(name: str) -> Any:
    return SERIALIZERS[name]()


class _DialFactory:
    """Wraps the WebSocket factory to learn of failed connection attempts."""

    def __init__(self, inner: WampWebSocketClientFactory, client: KasagiClient) -> None:
        self._inner = inner
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self._client._on_dial_failed(reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        if self._client.session is None:
            self._client._on_disconnect(None)
