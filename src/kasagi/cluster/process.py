"""A worker process: the room service of a cluster, joined to every router.

``kasagi up --role worker --router rs://HOST:PORT [--router ...] --store redis://...`` runs
this (no Crossbar in the process: Autobahn components, one per router, reconnecting with
:func:`~kasagi.wamp.reconnect.component_transport`, sharing one
:class:`~kasagi.cluster.rooms.ClusterRooms` and its
:class:`~kasagi.cluster.routers.WorkerProcedures`; the start-up shared with a single node is
:class:`~kasagi.service.assembly.Assembly`). It serves ``/metrics`` and ``/health/*`` on
``--metrics-port``. SIGTERM hands every room over to the other workers, then exits; SIGKILL
leaves them to be taken over when the lease expires.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks, maybeDeferred
from twisted.logger import Logger

from kasagi import wire
from kasagi.cluster.leases import Leases, MemoryLeases
from kasagi.cluster.redis_leases import RedisLeases
from kasagi.cluster.rooms import ClusterRooms, ClusterSettings
from kasagi.cluster.routers import WorkerProcedures, WorkerSession
from kasagi.cluster.sqlite_leases import SqliteLeases
from kasagi.deadline import within
from kasagi.health import Check
from kasagi.metrics import ClusterCollector, metrics_site, new_registry
from kasagi.service.admission import Admission
from kasagi.service.assembly import Assembly
from kasagi.service.inspect import RoomWatch
from kasagi.service.registry import wall_ms
from kasagi.service.room_types import load_room_types
from kasagi.service.settings import ServiceSettings
from kasagi.wamp.admin import RoomAdmin
from kasagi.wamp.reconnect import component_transport

__all__ = ["WorkerOptions", "new_worker_id", "router_transport", "run_worker", "start_worker"]

log = Logger()


def new_worker_id(name: str = "") -> str:
    """A worker id unique to this process start (a restarted worker is a new worker)."""
    base = re.sub(r"[^a-z0-9_]", "_", (name or socket.gethostname()).lower())[:40] or "worker"
    return f"{base}_{os.getpid()}_{secrets.token_hex(3)}"


@dataclass(frozen=True)
class WorkerOptions:
    """What ``kasagi up --role worker`` configures."""

    #: The routers' backend endpoints, ``rs://host:port`` (rawsocket, msgpack), or
    #: ``unix:PATH`` for a router's Unix socket on this machine.
    routers: Sequence[str]
    #: Room service settings (``store`` is the rooms' store).
    service: Mapping[str, Any] = field(default_factory=dict)
    #: The backend ticket (the routers' ``KASAGI_BACKEND_SECRET``).
    secret: str = ""
    authid: str = "kasagi_backend"
    #: ``redis://...`` holding leases; default: the store's Redis. ``sqlite:PATH``: a leases
    #: file shared by the workers of one machine (``kasagi up --routers N``). Without either,
    #: leases are kept in memory: fine for one worker, wrong for several.
    coordination: str = ""
    worker_id: str = ""
    name: str = ""
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    #: ``--room-type`` specs and the directory they load from (see kasagi.service.room_types).
    room_types: Sequence[str] = ()
    app_dir: str | None = None
    lease_ttl: float = 1.2
    heartbeat: float = 0.3


class Worker:
    """The parts of a running worker (kept for tests and shutdown)."""

    def __init__(
        self,
        cluster: ClusterRooms,
        routers: WorkerProcedures,
        components: list[Any],
        parts: Assembly,
        leases: Any,
    ) -> None:
        self.cluster = cluster
        self.parts = parts
        self.beacon = parts.beacon
        self.routers = routers
        self.components = components
        self.store = parts.store
        self.leases = leases
        self.expected_routers = len(components)

    @inlineCallbacks
    def ready(self):  # type: ignore[no-untyped-def]
        """Joined to every router, the lease renewed and the store answering (each a
        :class:`~kasagi.health.Check`)."""
        joined = len(self.routers.sessions)
        routers = Check(
            "routers", joined >= self.expected_routers, f"joined {joined} of {self.expected_routers} routers"
        )
        lease = Check("lease", bool(self.cluster.lease_ok), "renewed" if self.cluster.lease_ok else "lease not renewed")
        try:
            yield within(maybeDeferred(self.store.load, "kasagi_health"), 1.0, self.parts.clock, "store check")
        except Exception as exc:  # noqa: BLE001 -- any failure means "not ready"
            store = Check("store", False, f"store: {exc}")
        else:
            store = Check("store", True, "answering")
        return [routers, lease, store]

    @inlineCallbacks
    def stop(self):  # type: ignore[no-untyped-def]
        """Graceful: stop taking lobby calls, hand the rooms over, leave the routers."""
        yield self.routers.stop_taking_calls()
        self.parts.stop_beacon()
        if self.routers.admin is not None:
            self.routers.admin.stop()
        yield self.cluster.shutdown()
        yield DeferredList([maybeDeferred(c.stop) for c in self.components], consumeErrors=True)
        yield self.parts.close()
        close = getattr(self.leases, "close", None)
        if close is not None:
            yield maybeDeferred(close).addErrback(lambda f: None)


@inlineCallbacks
def start_worker(reactor: Any, options: WorkerOptions):  # type: ignore[no-untyped-def]
    """Open the store and leases, join every router; returns the running :class:`Worker`."""
    from autobahn.twisted.component import Component

    service = ServiceSettings.from_mapping(options.service)
    worker_id = options.worker_id or new_worker_id(options.name)
    if not wire.WORKER_ID_RE.match(worker_id):
        raise ValueError(f"worker id {worker_id!r} must match {wire.WORKER_ID_RE.pattern}")
    registry = new_registry()
    parts: Assembly = yield Assembly.open(reactor, service, metrics=registry)
    coordination = options.coordination or (service.store if service.store.startswith("redis://") else "")
    leases: Leases
    if coordination.startswith("sqlite:"):
        leases = yield SqliteLeases.open(coordination[len("sqlite:") :], reactor, ttl=options.lease_ttl)
    elif coordination:
        leases = RedisLeases.connect(coordination, reactor, ttl=options.lease_ttl)
    else:
        log.warn("worker {worker}: no Redis for leases; ownership is local (run one worker only)", worker=worker_id)
        leases = MemoryLeases(reactor, ttl=options.lease_ttl)
    lobby = parts.make_lobby(wall_ms)
    limits = service.admission_limits()
    admission = Admission(reactor, limits) if limits is not None else None
    if admission is not None:
        admission.start()  # for the life of the worker process
    routers = WorkerProcedures(worker_id, clock=reactor, settings=service, refused=parts.refused, lobby=lobby)
    # The monitor's view of the rooms, in front of the metrics.
    watch = RoomWatch(parts.observer, now=reactor.seconds)
    cluster = ClusterRooms(
        settings=ClusterSettings(worker_id=worker_id, lease_ttl=options.lease_ttl, heartbeat=options.heartbeat),
        service=service,
        clock=reactor,
        store=parts.store,
        leases=leases,
        publish=routers.publish,
        expose=routers.expose,
        withdraw=routers.withdraw,
        forward=routers.forward,
        observer=watch,
        now_ms=wall_ms,
        rng=random.Random(),
        types=load_room_types(options.room_types, options.app_dir),
        lobby=lobby,
        admission=admission,
    )
    routers.serve(cluster)
    routers.admin = worker_admin(reactor, worker_id, cluster, routers, watch, service.store)
    registry.register(ClusterCollector(cluster, routers))
    yield cluster.start()
    parts.watch(cluster.registry, routers.publish)
    routers.admin.start()

    components = []
    for url in options.routers:
        name = url  # the same on every worker: session ids are namespaced by it
        component = Component(
            transports=[router_transport(url)],
            realm=wire.REALM,
            # WAMP-CRA: the backend secret itself never crosses the socket.
            authentication={"wampcra": {"authid": options.authid, "secret": options.secret}},
            session_factory=WorkerSession,
        )
        component.on("join", _joined(routers, name))
        component.on("leave", _left(routers, name))
        d = component.start(reactor)
        d.addErrback(lambda f, n=name: log.failure("worker session to router {router} ended", f, router=n))
        components.append(component)
    worker = Worker(cluster, routers, components, parts, leases)
    if options.metrics_port:
        reactor.listenTCP(options.metrics_port, metrics_site(registry, worker.ready), interface=options.metrics_host)
    log.info(
        "worker {worker} up: routers {routers}, store {store}, metrics {port}",
        worker=worker_id,
        routers=", ".join(options.routers),
        store=service.store.split("://")[0],
        port=options.metrics_port or "off",
    )
    return worker


def router_transport(url: str) -> dict[str, Any]:
    """The reconnecting transport to a router's backend: ``rs://host:port`` over TCP, or
    ``unix:PATH`` over a Unix socket."""
    if url.startswith("unix:"):
        return component_transport("rs://localhost", unix_path=url[len("unix:") :])
    return component_transport(url)


def worker_admin(
    reactor: Any, worker_id: str, cluster: ClusterRooms, routers: WorkerProcedures, watch: RoomWatch, store: str
) -> RoomAdmin:
    """The worker's admin surface (the monitor): its summary and admin procedures."""
    return RoomAdmin.for_process(
        process=worker_id,
        kind="worker",
        runners=lambda: cluster.runners,
        runner=cluster.runner,
        close_room=cluster.registry.close_room,
        links=lambda: len(routers.sessions),
        publish=routers.publish_admin,
        watch=watch,
        store=store,
        clock=reactor,
    )


def _joined(routers: WorkerProcedures, name: str) -> Any:
    def on_join(session: Any, details: Any) -> Deferred[Any]:
        d: Deferred[Any] = routers.attach(name, session)
        return d.addErrback(lambda f: log.failure("registering on router {router} failed", f, router=name))

    return on_join


def _left(routers: WorkerProcedures, name: str) -> Any:
    def on_leave(session: Any, details: Any) -> None:
        routers.detach(name)

    return on_leave


def run_worker(options: WorkerOptions) -> int:
    """Run a worker until SIGTERM/SIGINT (then hand its rooms over) -- blocks."""
    from twisted.internet import reactor
    from twisted.internet.task import react

    def main(reactor_: Any) -> Deferred[None]:
        done: Deferred[None] = Deferred()
        d = start_worker(reactor_, options)

        def started(worker: Worker) -> None:
            def graceful() -> Deferred[Any]:
                stop = within(worker.stop(), worker.cluster.settings.drain_timeout + 5.0, reactor_, "graceful stop")
                return stop.addErrback(lambda f: log.failure("graceful stop did not finish", f))

            reactor_.addSystemEventTrigger("before", "shutdown", graceful)

        d.addCallback(started)
        d.addErrback(done.errback)
        return done

    del reactor
    react(main)
    return 0
