"""The room service: the WAMP session that serves Kasagi rooms on a single node.

It only wires: the start-up every deployment shares (:class:`~kasagi.service.assembly.Assembly`:
the store, metrics, head beacon), a :class:`~kasagi.service.RoomRegistry` for the rooms, and
the room procedures of every deployment (:class:`~kasagi.wamp.procedures.RoomProcedures`) on
this one session. All behaviour lives in ``kasagi.core``, ``kasagi.service`` and ``kasagi.wamp``.

Runs inside the router worker (the single-node default: no socket hop, no serialization) or
in its own container worker (then it authenticates with WAMP-CRA as the backend principal:
its authid is in the ``extra`` of its component configuration, the secret in the environment
variable ``extra["secret_env"]``; the secret itself never crosses the socket).
"""

from __future__ import annotations

import os
from typing import Any

from autobahn.wamp import auth
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

from kasagi.readiness import FAILED_TO_START
from kasagi.service.admission import Admission
from kasagi.service.assembly import Assembly
from kasagi.service.inspect import RoomWatch
from kasagi.service.registry import RoomRegistry, wall_ms
from kasagi.service.room_types import load_room_types
from kasagi.service.settings import ServiceSettings
from kasagi.wamp.admin import NODE_PROCESS, RoomAdmin
from kasagi.wamp.local_calls import LocalCalls
from kasagi.wamp.procedures import RoomProcedures
from kasagi.wamp.session import ScreenedSession

__all__ = ["RoomService"]

#: The name of this node's one link to its router (its client sessions keep their ids).
LINK = ""


class RoomService(ScreenedSession):
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

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        """Serve the rooms; if that fails, stop the node (a node without its room service
        would serve the demo page but no rooms): the worker's reactor stops, and Crossbar
        stops the node when a worker exits (``kasagi up`` then prints the reason)."""
        from twisted.internet import reactor

        try:
            yield self._serve(reactor)
        except Exception as exc:  # noqa: BLE001 -- any failure to start is fatal to the node
            reason = f"{type(exc).__name__}: {exc}"[:400]
            self.log.critical(FAILED_TO_START + "{reason}", reason=reason)
            reactor.callLater(0, reactor.stop)

    @inlineCallbacks
    def _serve(self, reactor: Any):  # type: ignore[no-untyped-def]
        extra = self.config.extra or {}
        settings = ServiceSettings.from_mapping(extra.get("service"))
        metrics = None
        if extra.get("metrics"):
            # Served by the router's metrics component (router/metrics.py) from this process.
            from prometheus_client import REGISTRY

            metrics = REGISTRY
        parts: Assembly = yield Assembly.open(reactor, settings, metrics=metrics)
        self.parts = parts
        lobby = parts.make_lobby(wall_ms)
        limits = settings.admission_limits()
        self.admission = Admission(reactor, limits) if limits is not None else None
        if self.admission is not None:
            self.admission.start()
        # The router of this worker may call the rooms' acts directly (router/local_calls.py);
        # in a worker of its own nothing reads the table.
        self.local_calls = LocalCalls().host()
        self.procedures = RoomProcedures(
            clock=reactor, settings=settings, refused=parts.refused, lobby=lobby, local_calls=self.local_calls
        )
        # The monitor's view of the rooms, in front of the metrics.
        watch = RoomWatch(parts.observer, now=reactor.seconds)
        self.registry = RoomRegistry(
            clock=reactor,
            store=parts.store,
            publish=self.procedures.publish,
            expose=self.procedures.expose,
            withdraw=self.procedures.withdraw,
            settings=settings,
            now_ms=wall_ms,
            observer=watch,
            types=load_room_types(extra.get("room_types") or (), extra.get("app_dir")),
            lobby=lobby,
            admission=self.admission,
        )
        self.procedures.serve(self.registry)
        registry, procedures = self.registry, self.procedures
        self.admin = RoomAdmin.for_process(
            process=NODE_PROCESS,
            kind="node",
            runners=lambda: registry.runners,
            runner=registry.runner,
            close_room=registry.close_room,
            links=lambda: len(procedures.sessions),
            publish=procedures.publish_admin,
            watch=watch,
            store=settings.store,
            clock=reactor,
        )
        self.procedures.admin = self.admin
        yield self.procedures.attach(LINK, self)
        self.admin.start()
        parts.watch(self.registry, self.procedures.publish)
        self.beacon = parts.beacon
        self.log.info(
            "room service ready (store {store}, tick {tick}s)", store=settings.store.split("://")[0], tick=settings.tick
        )

    def onLeave(self, details: Any) -> None:
        admin = getattr(self, "admin", None)
        if admin is not None:
            admin.stop()
        admission = getattr(self, "admission", None)
        if admission is not None:
            admission.stop()
        local_calls = getattr(self, "local_calls", None)
        if local_calls is not None:
            local_calls.unhost()
        registry = getattr(self, "registry", None)
        if registry is not None:
            registry.stop()
        parts = getattr(self, "parts", None)
        if parts is not None:
            parts.close()
        self.disconnect()
