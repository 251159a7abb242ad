"""The room service: the WAMP session that serves Kasagi rooms.

It only wires: builds the settings, the store and the :class:`~kasagi.service.RoomRegistry`
from its configuration, registers the lobby and the rooms' procedures, and forwards the
router's session meta events. All behaviour lives in ``kasagi.core`` and ``kasagi.service``.

Runs inside the router worker (the single-node default: no socket hop, no serialization) or
in its own container worker (then it authenticates with its backend credentials, from the
``extra`` of its component configuration).
"""

from __future__ import annotations

import os
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.types import CallDetails, PublishOptions, RegisterOptions
from twisted.internet.defer import inlineCallbacks, succeed
from twisted.logger import Logger

from kasagi import wire
from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand, parse_room_id
from kasagi.core.errors import NoSuchRoom
from kasagi.deadline import within
from kasagi.service.beacon import HeadBeacon
from kasagi.service.registry import RoomRegistry, wall_ms
from kasagi.service.settings import ServiceSettings
from kasagi.store.factory import open_store
from kasagi.wamp import caller_member, caller_session, wamp_errors

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
            self.join(self.config.realm, authmethods=["ticket"], authid=authid)
        else:
            self.join(self.config.realm)

    def onChallenge(self, challenge: Any) -> str:
        if challenge.method == "ticket":
            # The edge reads the backend secret from the environment; it is never logged.
            return os.environ[(self.config.extra or {})["ticket_env"]]
        raise ValueError(f"unexpected authentication method {challenge.method}")

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        from twisted.internet import reactor

        extra = self.config.extra or {}
        settings = ServiceSettings.from_mapping(extra.get("service"))
        store = yield open_store(
            settings.store, reactor, history_events=settings.history_events, results_per_member=settings.results_per_member
        )
        self._clock = reactor
        self._rooms_exposed: set[str] = set()
        self._registered: set[str] = set()
        self._publish_options = PublishOptions(acknowledge=False)
        self.registry = RoomRegistry(
            clock=reactor,
            store=store,
            publish=self._publish,
            expose=self._expose,
            settings=settings,
            now_ms=wall_ms,
        )
        shared = RegisterOptions(invoke="roundrobin", details_arg="details")
        yield self._register(wamp_errors(self._open), wire.LOBBY_OPEN, shared)
        fallback = RegisterOptions(match="wildcard", invoke="roundrobin", details_arg="details")
        for verb in wire.ROOM_VERBS:
            yield self._register(wamp_errors(self._unknown_room), wire.room_wildcard(verb), fallback)
        leaving = self.subscribe(self._session_left, wire.META_SESSION_ON_LEAVE)
        yield within(leaving, WAMP_DEADLINE, reactor, "subscribe to session leaves")
        registry = self.registry
        self.beacon = HeadBeacon(
            clock=reactor, runners=lambda: registry.runners.values(), publish=self._publish, interval=settings.beacon
        )
        self.beacon.start()
        self.log.info("room service ready (store {store}, tick {tick}s)", store=settings.store.split("://")[0], tick=settings.tick)

    def onLeave(self, details: Any) -> None:
        registry = getattr(self, "registry", None)
        if registry is not None:
            registry.stop()
        beacon = getattr(self, "beacon", None)
        if beacon is not None:
            beacon.stop()
        self.disconnect()

    # -- wiring --------------------------------------------------------------------------------
    def _publish(self, topic: str, event: dict[str, Any]) -> Any:
        return self.publish(topic, event, options=self._publish_options)

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
        if room in self._rooms_exposed:
            return
        options = RegisterOptions(details_arg="details")
        for verb, handler in (("join", self._join), ("act", self._act), ("leave", self._leave)):
            yield self._register(wamp_errors(_bound(handler, room)), wire.room_procedure(room, verb), options)
        self._rooms_exposed.add(room)

    def _session_left(self, session_id: Any, *args: Any, **kwargs: Any) -> None:
        self.registry.session_closed(str(session_id))

    # -- procedures ------------------------------------------------------------------------------
    def _open(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        caller_member(details)
        return self.registry.open(OpenCommand.from_wamp(args, kwargs))

    def _join(self, room: str, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        member = caller_member(details)
        cmd = JoinCommand.from_wamp(args, kwargs)
        return self.registry.runner(room).join(member, caller_session(details), cmd)

    def _act(self, room: str, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        member = caller_member(details)
        cmd = ActCommand.from_wamp(args, kwargs)
        return self.registry.runner(room).act(member, cmd)

    def _leave(self, room: str, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        member = caller_member(details)
        return self.registry.runner(room).leave(member, caller_session(details))

    def _unknown_room(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        """Calls to rooms nobody registered land here (a wildcard registration)."""
        procedure = details.procedure or ""
        room = procedure[len(wire.ROOM_PREFIX) :].rpartition(".")[0]
        parse_room_id(room)
        caller_member(details)
        verb = procedure.rpartition(".")[2]
        if room in self.registry.runners:
            return getattr(self, "_" + verb)(room, *args, details=details, **kwargs)
        self.registry.runner(room)  # raises Unavailable while loading
        raise NoSuchRoom("the room is not open; call kasagi.lobby.open first", field="room", expected="an open room", got=room)


def _bound(handler: Any, room: str) -> Any:
    def call(*args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return handler(room, *args, details=details, **kwargs)

    return call
