"""The router's metrics and health endpoint, a component inside the router worker.

Serves (``kasagi up --metrics-port``) the router's own figures -- sessions joined and WAMP
messages sent/received by type, read from the realm's router -- the router worker process's
CPU and memory, and, when the room service runs in this same process (the single-node
default), its room metrics too (it registers them in the process's default Prometheus
registry). ``/health/ready`` is 200 only while some room service has ``kasagi.lobby.open``
registered on this router: a load balancer should not send clients to a router no worker
serves.
"""

from __future__ import annotations

from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from prometheus_client import REGISTRY, CollectorRegistry
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

from kasagi import wire
from kasagi.metrics import RouterCollector, metrics_site

__all__ = ["RouterMetrics"]


class RouterMetrics(ApplicationSession):
    log = Logger()

    def onJoin(self, details: Any) -> None:
        from twisted.internet import reactor

        extra = self.config.extra or {}
        own = CollectorRegistry(auto_describe=True)
        router = getattr(self._transport, "_router", None)  # in-process transport of a router component
        if router is not None:
            own.register(RouterCollector(router.stats))
        site = metrics_site([own, REGISTRY], self._ready)
        host = extra.get("host", "127.0.0.1")
        # twisted.web's Site is a ServerFactory its stubs do not describe as one.
        self._port = reactor.listenTCP(int(extra["port"]), site, interface=host)  # type: ignore[arg-type]
        self.log.info(
            "router metrics on http://{host}:{port}/metrics", host=extra.get("host", "127.0.0.1"), port=extra["port"]
        )

    def onLeave(self, details: Any) -> None:
        port = getattr(self, "_port", None)
        if port is not None:
            port.stopListening()
        self.disconnect()

    @inlineCallbacks
    def _ready(self):  # type: ignore[no-untyped-def]
        registration = yield self.call("wamp.registration.match", wire.LOBBY_OPEN)
        if registration is None:
            return (False, "no room service registered on this router")
        return (True, "")
