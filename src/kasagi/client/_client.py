"""The client: one WAMP session (reconnected as needed) and the rooms joined over it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlparse

from autobahn.twisted.wamp import ApplicationSession
from autobahn.twisted.websocket import WampWebSocketClientFactory
from autobahn.wamp.exception import ApplicationError, TransportLost
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi import wire
from kasagi.client._errors import CallTimeout, ConnectionLost
from kasagi.core.replica import RoomReplica, Verdict
from kasagi.deadline import DeadlineExceeded, within

__all__ = ["ClientOptions", "KasagiClient", "RoomHandle"]

SERIALIZERS: dict[str, Any] = {"cbor": CBORSerializer, "msgpack": MsgPackSerializer, "json": JsonSerializer}

#: Errors after which the same call (same cseq) may succeed: nothing was applied, or it
#: was applied and the retry returns the first result.
RETRYABLE_URIS = frozenset(
    {
        wire.ErrorURI.UNAVAILABLE,
        wire.ErrorURI.RATE_LIMITED,
        "wamp.error.no_such_procedure",
        # The router's authorizer could not decide (the room service did not answer): the
        # subscription was not made; a later attempt may be.
        "wamp.error.authorization_failed",
        "wamp.error.canceled",
        "wamp.error.timeout",
        "wamp.close.transport_lost",
    }
)
#: Errors after which the room must be opened again (its owner restarted or moved).
REOPEN_URIS = frozenset({wire.ErrorURI.NO_SUCH_ROOM, "wamp.error.no_such_procedure"})
#: Errors after which the room must be joined again (its owner forgot this session, e.g.
#: after a restart), then the same call retried.
REJOIN_URIS = frozenset({wire.ErrorURI.NOT_MEMBER})


@dataclass(frozen=True)
class ClientOptions:
    """Deadlines and reconnection of a client (seconds)."""

    serializer: str = "cbor"
    #: Every single call is answered or failed within this.
    call_timeout: float = 5.0
    #: ``act`` keeps retrying (same cseq) across reconnects for this long in all.
    act_deadline: float = 20.0
    #: Wait this long for a connection before failing a call with ConnectionLost.
    connect_timeout: float = 10.0
    #: Give up one TCP connection attempt after this long (a silent network can hold a SYN
    #: for minutes); the next attempt follows the backoff.
    dial_timeout: float = 5.0
    #: Local address to connect from (a multi-homed host; tests use it to partition one
    #: client's address). None: the system's choice.
    bind_address: str | None = None
    reconnect: bool = True
    initial_retry_delay: float = 0.2
    #: Reconnection waits grow from ``initial_retry_delay`` to at most this (with jitter):
    #: short enough that a client is back within 3 s of its router coming back.
    max_retry_delay: float = 2.5
    #: Client-side WebSocket pings, to notice a dead router (0 = off).
    ping_interval: float = 10.0
    ping_timeout: float = 10.0
    #: A joined room that delivers nothing (no event, no repeated head) for this long is
    #: joined again from its position -- a cheap catch-up. Rooms with members repeat their
    #: last event every few seconds when quiet (the head beacon), so such silence means a
    #: lost subscription or a room owner that restarted and forgot this session. 0 = off.
    quiet_rejoin: float = 20.0


def _is_retryable(failure: Failure) -> bool:
    if failure.check(CallTimeout, ConnectionLost, TransportLost, DeadlineExceeded):
        return True
    if failure.check(ApplicationError):
        error: ApplicationError = failure.value  # type: ignore[assignment]
        if error.error == wire.ErrorURI.UNAVAILABLE and (error.kwargs or {}).get("retryable") is False:
            return False  # final: a room whose stored data is damaged
        return error.error in RETRYABLE_URIS or error.error in REOPEN_URIS
    return False


def _needs_reopen(failure: Failure) -> bool:
    return bool(failure.check(ApplicationError)) and failure.value.error in REOPEN_URIS  # type: ignore[union-attr]


def _needs_rejoin(failure: Failure) -> bool:
    return bool(failure.check(ApplicationError)) and failure.value.error in REJOIN_URIS | REOPEN_URIS  # type: ignore[union-attr]


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with jitter: ``[0.5, 1] x min(cap, initial * 2**attempt)``
    (attempt 0 is the first retry). Never more than ``cap``."""
    base = min(cap, initial * float(2 ** min(attempt, 32)))
    jitter: float = (rng or random).uniform(0.5, 1.0)
    return base * jitter


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
        """Connect and authenticate; fires with the client once its session has joined."""
        opts = options or ClientOptions(serializer=serializer)
        if options is not None and serializer != "cbor":
            opts = replace(opts, serializer=serializer)
        client = cls(url, authid, ticket, opts, reactor)
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

    def _on_join(self, session: _Session) -> None:
        self.session = session
        self.connects += 1
        self._retry_attempt = 0
        self._last_refusal = None
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
        """Call ``uri``; answered or failed (CallTimeout) within the call deadline."""
        limit = timeout if timeout is not None else self.options.call_timeout

        def go(session: _Session) -> Deferred[Any]:
            d = within(session.call(uri, *args, **kwargs), limit, self.clock, uri)
            return d.addErrback(_timeout_to_call_timeout)

        if self.session is not None and self.session.is_attached():
            return go(self.session)
        return self.wait_connected().addCallback(go)

    def open(self, room: str, type: str = "arena", options: dict[str, Any] | None = None) -> Deferred[dict[str, Any]]:
        return self.call(wire.LOBBY_OPEN, room, type, options or {})

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


def _timeout_to_call_timeout(failure: Failure) -> Failure:
    if failure.check(DeadlineExceeded):
        return Failure(CallTimeout(str(failure.value)))
    return failure


class _DialFactory:
    """Wraps the WebSocket factory to learn of failed connection attempts."""

    def __init__(self, inner: WampWebSocketClientFactory, client: KasagiClient) -> None:
        self._inner = inner
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self._client._on_disconnect(None)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        if self._client.session is None:
            self._client._on_disconnect(None)


class RoomHandle:
    """A joined room: its local state, its events, and the member's actions in it.

    One sync loop per room keeps it joined: it (re)subscribes on the current session and calls
    ``join(since)``, retrying with backoff through disconnects, owner restarts (re-opening the
    room) and timeouts, until the local copy is in sync; gaps, new epochs and reconnects all
    go through it.
    """

    log = Logger()

    def __init__(self, client: KasagiClient, room: str, type: str, options: dict[str, Any]) -> None:
        self.client = client
        self.room = room
        self.type = type
        self.options = options
        self.replica = RoomReplica(room)
        # Time-seeded (microseconds), so a member's cseqs stay unique across reloads and tabs.
        self._cseq = int(time.time() * 1_000_000)
        self._listeners: list[Callable[[Any], None]] = []
        #: Fast-path inputs waiting for their acknowledgement: cseq -> Deferred.
        self._inputs: dict[int, Deferred[dict[str, Any]]] = {}
        self._subscription: Any = None
        self._subscribed_on: _Session | None = None
        #: The session on which the room was last joined (acts wait until it is the current one).
        self._joined_on: _Session | None = None
        self._syncing = False
        self._resync_again = False
        #: The backoff a sync loop is sleeping in: (wake-up Deferred, its timer).
        self._waking: tuple[Deferred[None], IDelayedCall] | None = None
        self._sync_waiters: list[Deferred[None]] = []
        self._stopped = False
        self.synced_once = False
        self._last_heard = client.clock.seconds()
        self._watchdog: IDelayedCall | None = None
        self.stats = dict.fromkeys(
            ("events", "dropped", "resyncs", "snapshots", "catchups", "sync_retries", "act_retries", "quiet_rejoins"), 0
        )

    # -- views -------------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        return self.replica.state

    @property
    def seq(self) -> int:
        return self.replica.seq

    @property
    def epoch(self) -> int | None:
        return self.replica.epoch

    @property
    def member(self) -> str | None:
        return self.replica.member

    @property
    def in_sync(self) -> bool:
        """Joined on the current session, with no gap or resync outstanding."""
        return (
            self._joined_on is not None
            and self._joined_on is self.client.session
            and not self._syncing
            and not self.replica.needs_snapshot
        )

    def on_change(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(event)`` after each applied event (``None`` after a snapshot)."""
        self._listeners.append(listener)

    def _notify(self, event: Any) -> None:
        if self._inputs and isinstance(event, dict):
            mine = (event.get("acks") or {}).get(self.member)
            for cseq in mine or ():
                d = self._inputs.pop(cseq, None)
                if d is not None:
                    d.callback({"seq": event["seq"], "cseq": cseq})
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 -- a listener's bug must not break syncing
                self.log.failure("room {room}: change listener failed", room=self.room)

    # -- syncing -------------------------------------------------------------------------------
    def _resume(self) -> None:
        """After a reconnect: subscribe again and catch up from the last position."""
        if not self._stopped:
            self._sync().addErrback(self._sync_failed)

    def _sync_failed(self, failure: Failure) -> None:
        if not self._stopped and not self.client.closing:
            self.log.warn("room {room}: sync failed: {why}", room=self.room, why=failure.getErrorMessage())

    def _on_event(self, event: Any = None, *args: Any, **kwargs: Any) -> None:
        if event is None and isinstance(kwargs.get("reply"), dict):
            # The owner's answer to one of this session's fast-path inputs (not an event).
            self._on_reply(kwargs["reply"])
            return
        tap = self.client.event_tap
        if tap is not None:
            tap(self.room, event, self._take_event)
        else:
            self._take_event(event)

    def _take_event(self, event: Any) -> None:
        if self._stopped:
            return
        self._last_heard = self.client.clock.seconds()
        verdict = self.replica.offer(event)
        for applied in self.replica.pop_applied():
            self.stats["events"] += 1
            self._notify(applied)
        if verdict is Verdict.DROPPED:
            self.stats["dropped"] += 1
        elif verdict is Verdict.RESYNC and self.replica.synced:
            self.stats["resyncs"] += 1
            self._sync().addErrback(self._sync_failed)

    def _sync(self) -> Deferred[None]:
        """Fires once the room is joined on the current session and in sync (join(since):
        catch up from the replica's position, or take a snapshot). Concurrent requests share
        one loop; fails only on an error that retrying can't fix, or when the room stops."""
        d: Deferred[None] = Deferred()
        self._sync_waiters.append(d)
        if self._syncing:
            self._resync_again = True
            self._wake_up()  # news (e.g. an event of a new owner): no need to finish a backoff
        else:
            self._syncing = True
            self._sync_loop().addBoth(self._sync_done)
        return d

    def _backoff(self, delay: float) -> Deferred[None]:
        """Wait ``delay`` seconds before retrying a sync, or less if :meth:`_wake_up` is called."""
        wake: Deferred[None] = Deferred()
        timer = self.client.clock.callLater(delay, self._wake_up)
        self._waking = (wake, timer)
        return wake

    def _wake_up(self) -> None:
        waking, self._waking = self._waking, None
        if waking is not None:
            wake, timer = waking
            if timer.active():
                timer.cancel()
            wake.callback(None)

    def _sync_done(self, outcome: Any) -> None:
        self._syncing = False
        waiters, self._sync_waiters = self._sync_waiters, []
        for d in waiters:
            if isinstance(outcome, Failure):
                d.errback(outcome)
            else:
                d.callback(None)

    @inlineCallbacks
    def _sync_loop(self):  # type: ignore[no-untyped-def]
        options, clock = self.client.options, self.client.clock
        attempt = 0
        while True:
            if self._stopped or self.client.closing:
                raise ConnectionLost("the room was left or the client closed")
            self._resync_again = False
            try:
                session = yield self.client.wait_connected()
                if self._subscribed_on is not session:
                    subscribing = session.subscribe(self._on_event, wire.room_topic(self.room))
                    self._subscription = yield within(subscribing, options.call_timeout, clock, "subscribe")
                    self._subscribed_on = session
                since = self.replica.position
                since_arg = None if since is None else {"epoch": since.epoch, "seq": since.seq}
                reply = yield self.client.call(wire.room_procedure(self.room, "join"), since_arg)
            except _RETRY_ERRORS:
                failure = Failure()
                if not (_is_retryable(failure) or _needs_reopen(failure)):
                    raise
                self.stats["sync_retries"] += 1
                if _needs_reopen(failure):
                    try:
                        yield self.client.open(self.room, self.type, self.options)
                    except _RETRY_ERRORS:
                        if not _is_retryable(Failure()):
                            raise
                delay = backoff_delay(attempt, options.initial_retry_delay, options.max_retry_delay)
                yield self._backoff(delay)
                attempt += 1
                continue
            self.stats["snapshots" if "state" in reply else "catchups"] += 1
            try:
                applied = self.replica.load(reply)
            except ValueError:
                self.replica.needs_snapshot = True
                continue
            self._joined_on = session
            self.synced_once = True
            self._last_heard = clock.seconds()
            self._watch()
            if "state" in reply:
                self._notify(None)
            for event in applied:
                self._notify(event)
            if not self._resync_again and not self.replica.needs_snapshot:
                return

    # -- actions -------------------------------------------------------------------------------
    def next_cseq(self) -> int:
        self._cseq += 1
        return self._cseq

    def act(
        self, action: str, args: dict[str, Any] | None = None, *, cseq: int | None = None
    ) -> Deferred[dict[str, Any]]:
        """Send an action; fires with ``{"seq", "cseq"}`` once it is durable, or fails with
        the server's ``ApplicationError`` (``.error`` is the ``kasagi.error.*`` URI).
        Retries with the same cseq (applied once) through disconnects and failovers until
        the act deadline; each attempt waits until the room is joined on the current session."""
        if cseq is None:
            cseq = self.next_cseq()
        clock, options = self.client.clock, self.client.options
        deadline = clock.seconds() + options.act_deadline
        result: Deferred[dict[str, Any]] = Deferred()
        attempt = [0]
        uri = wire.room_procedure(self.room, "act")

        def send() -> None:
            attempt[0] += 1
            if self._joined_on is not None and self._joined_on is self.client.session:
                d = self.client.call(uri, action, args or {}, cseq)
            else:
                remaining = max(0.1, deadline - clock.seconds())
                d = within(self._sync(), remaining, clock, "rejoin")
                d.addCallback(lambda _: self.client.call(uri, action, args or {}, cseq))
            d.addCallbacks(result.callback, retry)

        def retry(failure: Failure) -> None:
            now = clock.seconds()
            if self._stopped or not (_is_retryable(failure) or _needs_rejoin(failure)) or now >= deadline:
                result.errback(failure)
                return
            self.stats["act_retries"] += 1
            if _needs_rejoin(failure) and self._joined_on is self.client.session:
                self._joined_on = None  # the owner forgot this session: join again first
            delay = backoff_delay(attempt[0] - 1, 0.1, options.max_retry_delay)
            clock.callLater(min(delay, max(0.0, deadline - now)), send)

        send()
        return result

    def send(
        self, action: str, args: dict[str, Any] | None = None, *, cseq: int | None = None, timeout: float | None = None
    ) -> Deferred[dict[str, Any]]:
        """The fast input path: publish the action on ``kasagi.input.<room>``. Fires with
        ``{"seq", "cseq"}`` when an event acknowledges it, fails with the owner's
        ``ApplicationError`` if it is refused, or with :class:`CallTimeout` if neither arrives
        within ``timeout`` (then sending it again with the same ``cseq`` is safe)."""
        if cseq is None:
            cseq = self.next_cseq()
        pending: Deferred[dict[str, Any]] = Deferred()
        self._inputs[cseq] = pending

        def publish(session: _Session) -> None:
            session.publish(wire.input_topic(self.room), action, args or {}, cseq)

        def forget(result: Any) -> Any:
            self._inputs.pop(cseq, None)
            return result

        self.client.wait_connected().addCallbacks(publish, lambda f: pending.errback(f) if not pending.called else None)
        limit = timeout if timeout is not None else self.client.options.call_timeout
        return within(pending, limit, self.client.clock, "input").addBoth(forget).addErrback(_timeout_to_call_timeout)

    def _on_reply(self, reply: dict[str, Any]) -> None:
        d = self._inputs.pop(reply.get("cseq"), None)  # type: ignore[arg-type]
        if d is None:
            return
        if "error" in reply:
            details = reply.get("details") or {}
            d.errback(Failure(ApplicationError(reply["error"], reply.get("message", ""), **details)))
        else:
            d.callback({"seq": reply.get("seq"), "cseq": reply.get("cseq")})

    def leave(self) -> Deferred[Any]:
        """Leave the room (the member goes offline for the grace period)."""
        self._stop()
        self.client.rooms.pop(self.room, None)
        d = self.client.call(wire.room_procedure(self.room, "leave"))
        subscription = self._subscription
        if subscription is not None and subscription.active:
            clock, limit = self.client.clock, self.client.options.call_timeout

            def unsubscribe(result: Any) -> Deferred[Any]:
                done = within(subscription.unsubscribe(), limit, clock, "unsubscribe")
                return done.addBoth(lambda _: result)

            d.addBoth(unsubscribe)
        return d

    def _stop(self) -> None:
        self._stopped = True
        if self._watchdog is not None and self._watchdog.active():
            self._watchdog.cancel()
        self._watchdog = None

    # -- silence -------------------------------------------------------------------------------
    def _watch(self) -> None:
        quiet = self.client.options.quiet_rejoin
        if quiet > 0 and self._watchdog is None and not self._stopped:
            self._watchdog = self.client.clock.callLater(quiet / 2, self._check_quiet)

    def _check_quiet(self) -> None:
        self._watchdog = None
        if self._stopped or self.client.closing:
            return
        silent_for = self.client.clock.seconds() - self._last_heard
        if not self._syncing and self.client.session is not None and silent_for >= self.client.options.quiet_rejoin:
            self.stats["quiet_rejoins"] += 1
            self._last_heard = self.client.clock.seconds()
            self._joined_on = None
            self._sync().addErrback(self._sync_failed)
        self._watch()


#: What a sync attempt may fail with and still be retried (classified by _is_retryable).
_RETRY_ERRORS = (ApplicationError, CallTimeout, ConnectionLost, TransportLost, DeadlineExceeded)
