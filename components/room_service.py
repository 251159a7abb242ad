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
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

from kasagi import wire
from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand, parse_room_id
from kasagi.core.errors import NoSuchRoom
from kasagi.service.registry import RoomRegistry, wall_ms
from kasagi.service.settings import ServiceSettings
from kasagi.store.factory import describe_store, open_store
from kasagi.wamp import caller_member, caller_session, wamp_errors
from kasagi.wamp.refusals import counting_refusals

__all__ = ["RoomService"]


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
        self._rooms_exposed: set[str] = set()
        self._publish_options = PublishOptions(acknowledge=False)
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
        )
        if observer is not None:
            REGISTRY.register(RoomsCollector(self.registry))
        shared = RegisterOptions(invoke="roundrobin", details_arg="details")
        self._refused = observer.refused if observer is not None else None
        yield self.register(wamp_errors(counting_refusals(self._open, self._refused)), wire.LOBBY_OPEN, shared)
        fallback = RegisterOptions(match="wildcard", invoke="roundrobin", details_arg="details")
        for verb in wire.ROOM_VERBS:
            unknown = counting_refusals(self._unknown_room, self._refused)
            yield self.register(wamp_errors(unknown), wire.room_wildcard(verb), fallback)
        yield self.subscribe(self._session_left, wire.META_SESSION_ON_LEAVE)
        self.log.info("room service ready (store {store}, tick {tick}s)", store=settings.store.split("://")[0], tick=settings.tick)

    def onLeave(self, details: Any) -> None:
        registry = getattr(self, "registry", None)
        if registry is not None:
            registry.stop()
        store = getattr(self, "_store", None)
        if store is not None:
            store.close().addErrback(lambda f: self.log.failure("closing the room store", f))
        self.disconnect()

    # -- wiring --------------------------------------------------------------------------------
    def _publish(self, topic: str, event: dict[str, Any]) -> Any:
        return self.publish(topic, event, options=self._publish_options)

    @inlineCallbacks
    def _expose(self, room: str):  # type: ignore[no-untyped-def]
        if room in self._rooms_exposed:
            return
        # invoke="last": a new owner takes the calls even while an old one is still registered.
        options = RegisterOptions(details_arg="details", invoke="last")
        for verb, handler in (("join", self._join), ("act", self._act), ("leave", self._leave)):
            bound = counting_refusals(_bound(handler, room), self._refused)
            yield self.register(wamp_errors(bound), wire.room_procedure(room, verb), options)
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
