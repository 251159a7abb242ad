"""The room service: the WAMP session that serves Kasagi rooms.

It only wires: builds the settings, the store and the :class:`~kasagi.service.RoomRegistry`
from its configuration, registers the lobby and the rooms' procedures, and forwards the
router's session meta events. All behaviour lives in ``kasagi.core`` and ``kasagi.service``.

Runs inside the router worker (the single-node default: no socket hop, no serialization) or
in its own container worker (then it authenticates with WAMP-CRA as the backend principal:
its authid is in the ``extra`` of its component configuration, the secret in the environment
variable ``extra["secret_env"]``; the secret itself never crosses the socket).

A private room's events are published to its members only (``eligible_authid``), in
addition to the router's client authorizer refusing other members' subscriptions.
"""

from __future__ import annotations

import os
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.types import CallDetails, EventDetails, PublishOptions, RegisterOptions, SubscribeOptions
from twisted.internet.defer import inlineCallbacks, succeed
from twisted.logger import Logger

from kasagi import wire
from kasagi.core.commands import AccessQuery, ActCommand, JoinCommand, LeaveCommand, OpenCommand, parse_room_id
from kasagi.core.errors import NoSuchRoom
from kasagi.deadline import within
from kasagi.service.beacon import HeadBeacon
from kasagi.service.registry import RoomRegistry, wall_ms
from kasagi.service.room_types import load_room_types
from kasagi.service.settings import ServiceSettings
from kasagi.store.factory import describe_store, open_store
from kasagi.wamp import caller_member, caller_session, screen_invocation, wamp_errors
from kasagi.wamp.inputs import handle_input
from kasagi.wamp.refusals import counting_refusals

__all__ = ["RoomService"]

#: Seconds a registration or subscription with the router may take (an Autobahn request in
#: flight when the transport drops never completes by itself).
WAMP_DEADLINE = 10.0


class RoomService(ApplicationSession):  # type: ignore[misc]
    log = Logger()

    def onConnect(self) -> None:
        extra = self.config.extra or {}
        authid = extra.get("authid")
        if authid:
            self.join(self.config.realm, authmethods=["wampcra"], authid=authid)
        else:
            self.join(self.config.realm)

    def onChallenge(self, challenge: Any) -> str:
        if challenge.method == "wampcra":
            # The edge reads the backend secret from the environment; it is never logged nor sent.
            secret = os.environ[(self.config.extra or {})["secret_env"]].encode("utf-8")
            signature: bytes = auth.compute_wcs(secret, challenge.extra["challenge"].encode("utf-8"))
            return signature.decode("ascii")
        raise ValueError(f"unexpected authentication method {challenge.method}")

    def onMessage(self, msg: Any) -> None:
        refusal = screen_invocation(msg)
        if refusal is not None:
            self._transport.send(refusal)
            return
        super().onMessage(msg)

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        from twisted.internet import reactor

        extra = self.config.extra or {}
        settings = ServiceSettings.from_mapping(extra.get("service"))
        try:
            store = yield open_store(
                settings.store,
                reactor,
                limits=settings.store_limits(),
                data_dir=settings.data_dir,
                deadline=settings.store_deadline,
            )
        except Exception as exc:
            # A store that is not ours (or damaged) is left untouched; say so plainly.
            self.log.critical(
                "room service NOT started: store {store} refused: {why}", store=describe_store(settings.store), why=exc
            )
            raise
        self._store = store
        self._clock = reactor
        self._settings = settings
        self._limits = settings.value_limits()
        self._rooms_exposed: set[str] = set()
        self._registered: set[str] = set()
        self._publish_options = PublishOptions(acknowledge=False)
        #: topic -> options of a private room (its members only).
        self._private_publish: dict[str, PublishOptions] = {}
        observer = None
        if extra.get("metrics"):
            # Served by the router's metrics component (router/metrics.py) from this process.
            from prometheus_client import REGISTRY

            from kasagi.metrics import RoomsCollector, ServiceMetrics

            observer = ServiceMetrics(REGISTRY)
        self.registry = RoomRegistry(
            clock=reactor,
            store=store,
            publish=self._publish,
            expose=self._expose,
            settings=settings,
            now_ms=wall_ms,
            observer=observer,
            types=load_room_types(extra.get("room_types") or (), extra.get("app_dir")),
        )
        if observer is not None:
            REGISTRY.register(RoomsCollector(self.registry))
        shared = RegisterOptions(invoke="roundrobin", details_arg="details")
        self._refused = observer.refused if observer is not None else None
        yield self._register(wamp_errors(counting_refusals(self._open, self._refused)), wire.LOBBY_OPEN, shared)
        yield self._register(wamp_errors(self._access), wire.ROOM_ACCESS, shared)
        fallback = RegisterOptions(match="wildcard", invoke="roundrobin", details_arg="details")
        for verb in wire.ROOM_VERBS:
            unknown = counting_refusals(self._unknown_room, self._refused)
            yield self._register(wamp_errors(unknown), wire.room_wildcard(verb), fallback)
        leaving = self.subscribe(self._session_left, wire.META_SESSION_ON_LEAVE)
        yield within(leaving, WAMP_DEADLINE, reactor, "subscribe to session leaves")
        inputs = self.subscribe(self._input, wire.INPUT_PREFIX, SubscribeOptions(match="prefix", details_arg="details"))
        yield within(inputs, WAMP_DEADLINE, reactor, "subscribe to the input topics")
        registry = self.registry
        self.beacon = HeadBeacon(
            clock=reactor, runners=lambda: registry.runners.values(), publish=self._publish, interval=settings.beacon
        )
        self.beacon.start()
        self.log.info(
            "room service ready (store {store}, tick {tick}s)", store=settings.store.split("://")[0], tick=settings.tick
        )

    def onLeave(self, details: Any) -> None:
        registry = getattr(self, "registry", None)
        if registry is not None:
            registry.stop()
        beacon = getattr(self, "beacon", None)
        if beacon is not None:
            beacon.stop()
        store = getattr(self, "_store", None)
        if store is not None:
            store.close().addErrback(lambda f: self.log.failure("closing the room store", f))
        self.disconnect()

    # -- wiring --------------------------------------------------------------------------------
    def _publish(self, topic: str, event: dict[str, Any]) -> Any:
        return self.publish(topic, event, options=self._private_publish.get(topic, self._publish_options))

    def _register(self, fn: Any, uri: str, options: RegisterOptions) -> Any:
        """Register within a deadline; a registration that completes after it still counts
        (it is remembered, so a retry does not register twice)."""
        if uri in self._registered:
            return succeed(None)
        d = self.register(fn, uri, options)
        d.addCallback(lambda reg: self._registered.add(uri) or reg)
        return within(d, WAMP_DEADLINE, self._clock, f"register {uri}")

    @inlineCallbacks
    def _expose(self, room: str):  # type: ignore[no-untyped-def]
        runner = self.registry.runners.get(room)
        members = runner.room.access.to_wire() if runner is not None else None
        if members is not None:
            self._private_publish[wire.room_topic(room)] = PublishOptions(acknowledge=False, eligible_authid=members)
        if room in self._rooms_exposed:
            return
        # invoke="last": a new owner takes the calls even while an old one is still registered.
        options = RegisterOptions(details_arg="details", invoke="last")
        for verb, handler in (("join", self._join), ("act", self._act), ("leave", self._leave)):
            bound = counting_refusals(_bound(handler, room), self._refused)
            yield self._register(wamp_errors(bound), wire.room_procedure(room, verb), options)
        self._rooms_exposed.add(room)

    def _session_left(self, session_id: Any, *args: Any, **kwargs: Any) -> None:
        self.registry.session_closed(str(session_id))

    # -- procedures ------------------------------------------------------------------------------
    # Client arguments travel as one tuple and one dict from here on: a client keyword that
    # happens to be named like a parameter (``room``) can't collide with it.
    def _open(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        member = caller_member(details)
        cmd = OpenCommand.from_wamp(args, kwargs, self._limits, self._settings.max_members)
        return self.registry.open(cmd, member)

    def _access(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return self.registry.access(AccessQuery.from_wamp(args, kwargs).room)

    def _join(self, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        member = caller_member(details)
        cmd = JoinCommand.from_wamp(args, kwargs)
        return self.registry.runner(room).join(member, caller_session(details), cmd)

    def _act(self, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        member = caller_member(details)
        cmd = ActCommand.from_wamp(args, kwargs, self._limits)
        return self.registry.runner(room).act(member, cmd)

    def _leave(self, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        member = caller_member(details)
        LeaveCommand.from_wamp(args, kwargs)
        return self.registry.runner(room).leave(member, caller_session(details))

    # -- the fast input path ----------------------------------------------------------------------
    def _input(self, *args: Any, details: EventDetails, **kwargs: Any) -> None:
        handle_input(args, kwargs, details, runner_for=self.registry.runner, limits=self._limits, reply=self._reply)

    def _reply(self, room: str, session: int, reply: dict[str, Any]) -> None:
        options = PublishOptions(acknowledge=False, eligible=[session])
        self.publish(wire.room_topic(room), reply=reply, options=options)

    def _unknown_room(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        """Calls to rooms nobody registered land here (a wildcard registration)."""
        procedure = details.procedure or ""
        room = procedure[len(wire.ROOM_PREFIX) :].rpartition(".")[0]
        parse_room_id(room)
        caller_member(details)
        verb = procedure.rpartition(".")[2]
        handlers = {"join": self._join, "act": self._act, "leave": self._leave}
        if room in self.registry.runners and verb in handlers:
            return handlers[verb](room, args, kwargs, details)
        self.registry.runner(room)  # raises Unavailable while loading
        raise NoSuchRoom(
            "the room is not open; call kasagi.lobby.open first", field="room", expected="an open room", got=room
        )


def _bound(handler: Any, room: str) -> Any:
    def call(*args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return handler(room, args, kwargs, details)

    return call
