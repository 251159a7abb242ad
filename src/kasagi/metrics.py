"""Prometheus metrics and health endpoints, built on the counters the service already keeps.

The service itself never imports Prometheus: the runner and registry report through
:class:`~kasagi.service.observer.ServiceObserver` (implemented here by
:class:`ServiceMetrics`) and keep plain ``stats`` counters that the collectors below read
when Prometheus scrapes. Everything is served from the reactor thread (the stock Twisted
resource of ``prometheus_client`` collects in a thread pool, which would read the service's
dicts while the reactor changes them).

Endpoints of :func:`metrics_site`:

- ``/metrics``: the Prometheus text format;
- ``/health/live``: 200 while the process runs;
- ``/health/ready``: 200 only when the process can do its job (a worker: joined to its
  routers, its store and lease answering; a router: a room service registered on it), else
  503 with the reason; ``text/plain``, or JSON when asked (:mod:`kasagi.health`).

Every metric is listed, one line each, in ``docs/metrics.md``; one quantity has one name (a
histogram's ``_count`` is the count of what it observes: events committed are
``kasagi_store_append_seconds_count``, ticks run ``kasagi_room_tick_lateness_seconds_count``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.process_collector import ProcessCollector
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from kasagi import wire
from kasagi.core import Batch
from kasagi.health import HealthResource, Readiness

__all__ = [
    "ClusterCollector",
    "RoomsCollector",
    "RouterCollector",
    "ServiceMetrics",
    "metrics_site",
    "new_registry",
]

#: The roles whose router sessions are counted (the node's own components and workers are not).
COUNTED_ROLES = (wire.CLIENT_ROLE, wire.ADMIN_ROLE)


def new_registry() -> CollectorRegistry:
    """A registry with the process's CPU, memory and file descriptors."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    return registry


def _reason(uri: str) -> str:
    return uri.rpartition(".")[2] or uri


class ServiceMetrics:
    """The :class:`~kasagi.service.observer.ServiceObserver` that feeds Prometheus."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_actions = Histogram(
            "kasagi_batch_actions",
            "Actions acknowledged by one event (group commit size).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )
        self.batch_ops = Histogram(
            "kasagi_batch_ops", "Ops in one event.", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024), registry=registry
        )
        self.store_latency = Histogram(
            "kasagi_store_append_seconds",
            "Time for the store to confirm one event (ack after durable).",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
            registry=registry,
        )
        self.commit_failures = Counter(
            "kasagi_commit_failures", "Store writes refused or not confirmed, by reason.", ["reason"], registry=registry
        )
        self.refusals = Counter(
            "kasagi_calls_refused", "Calls refused with a kasagi.error.*, by reason.", ["reason"], registry=registry
        )
        self.joins = Counter(
            "kasagi_joins", "Joins answered, by kind (catch_up or snapshot).", ["kind"], registry=registry
        )
        self.action_latency = Histogram(
            "kasagi_action_seconds",
            "Time from an act received by its room to its answer (durable: the tick and the store write included).",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )

    def committed(self, batch: Batch, seconds: float) -> None:
        self.batch_actions.observe(len(batch.acks))
        self.batch_ops.observe(len(batch.ops))
        self.store_latency.observe(seconds)

    def commit_failed(self, batch: Batch, seconds: float, reason: str) -> None:
        self.commit_failures.labels(reason).inc()

    def refused(self, uri: str) -> None:
        self.refusals.labels(_reason(uri)).inc()

    def joined(self, catch_up: bool) -> None:
        self.joins.labels("catch_up" if catch_up else "snapshot").inc()

    def acknowledged(self, seconds: float) -> None:
        self.action_latency.observe(seconds)


class RoomsCollector:
    """Rooms, members and the runners' counters of one process, read at scrape time
    (``registry`` is a :class:`~kasagi.service.registry.RoomRegistry`)."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        runners = list(self._registry.runners.values())
        totals: dict[str, int] = dict(self._registry.retired_stats)
        members = sessions = 0
        for runner in runners:
            for key, value in runner.stats.items():
                totals[key] = totals.get(key, 0) + value
            members += runner.room.online_count
            sessions += len(runner.room.sessions())
        yield GaugeMetricFamily("kasagi_rooms", "Rooms served by this process.", value=len(runners))
        yield GaugeMetricFamily("kasagi_members_online", "Members online in the rooms of this process.", value=members)
        yield GaugeMetricFamily(
            "kasagi_room_sessions", "Sessions joined to the rooms of this process (once per room).", value=sessions
        )
        # Events committed, commit failures, joins and ticks run are counted once, by
        # ServiceMetrics and the lateness histogram; the runners' own counters of them are not
        # exported again.
        counters = {
            "actions": ("kasagi_actions_accepted", "Actions accepted (applied, then committed or failed)."),
            "ticks_skipped": ("kasagi_room_ticks_skipped", "Ticks skipped: a room loop lagged behind its rate."),
            "timers_fired": ("kasagi_room_timers_fired", "Durable timers fired (on_timer)."),
            "hook_failures": ("kasagi_room_hook_failures", "Room-type hooks that raised unexpectedly (contained)."),
        }
        for key, (name, doc) in counters.items():
            yield CounterMetricFamily(name, doc, value=totals.get(key, 0))
        unloaded = getattr(self._registry, "stats", {}).get("rooms_unloaded", 0)
        yield CounterMetricFamily("kasagi_rooms_unloaded", "Idle rooms unloaded from memory.", value=unloaded)
        yield _lateness_histogram(totals)
        admission = getattr(self._registry, "admission", None)
        if admission is not None:
            yield from _overload_gauges(admission)


def _overload_gauges(admission: Any) -> Iterator[Metric]:
    """The admission state of the process (``docs/protocol.md``, Overload)."""
    control = admission.control
    yield GaugeMetricFamily(
        "kasagi_overload_lag_seconds", "Smoothed reactor lag of the room service.", value=control.lag
    )
    yield GaugeMetricFamily(
        "kasagi_overload_standing_lag_seconds",
        "Smallest reactor lag of the last five samples (what refusals go by).",
        value=control.standing_lag,
    )
    yield GaugeMetricFamily(
        "kasagi_overload_standing_delay_seconds",
        "Fastest arrival-to-acknowledgement time of an action over the last five samples with acks.",
        value=control.standing_delay,
    )
    yield GaugeMetricFamily(
        "kasagi_overload_ack_rate", "Actions acknowledged per second (last half second).", value=control.ack_rate
    )
    yield GaugeMetricFamily("kasagi_overload_waiting", "Actions waiting for their commit.", value=control.in_flight)
    yield GaugeMetricFamily(
        "kasagi_overload_max_waiting",
        "Most actions that may wait for their commit now (ack rate x (tick + overload delay)).",
        value=control.max_waiting,
    )
    yield GaugeMetricFamily(
        "kasagi_overload_shed_ratio", "Fraction of arriving actions refused for overload.", value=control.shed
    )
    yield GaugeMetricFamily(
        "kasagi_commit_tick_seconds",
        "A busy room's commit tick now (on the commit grid: whole base ticks, rounded down).",
        value=control.tick(),
    )
    refused = CounterMetricFamily(
        "kasagi_overload_refused", "Actions refused by admission control, by reason.", labels=["reason"]
    )
    for reason, count in sorted(control.refused.items()):
        refused.add_metric([reason], count)
    yield refused


def _lateness_histogram(totals: Mapping[str, int]) -> Metric:
    """The server loops' tick lateness (``kasagi.service.loop`` counts it per bucket)."""
    from kasagi.service.loop import LATENESS_BUCKETS_MS, lateness_key

    buckets: list[tuple[str, float]] = []
    running = 0
    for bound in LATENESS_BUCKETS_MS:
        running += totals.get(lateness_key(bound), 0)
        buckets.append((str(bound / 1000), running))
    running += totals.get(lateness_key(None), 0)
    buckets.append(("+Inf", running))
    return HistogramMetricFamily(
        "kasagi_room_tick_lateness_seconds",
        "How long after its due time each server-loop tick ran.",
        buckets=buckets,
        sum_value=totals.get("tick_late_ms", 0) / 1000,
    )


class ClusterCollector:
    """A worker's ownership and router-session counters
    (:class:`~kasagi.cluster.rooms.ClusterRooms` and
    :class:`~kasagi.wamp.procedures.RoomProcedures` stats)."""

    def __init__(self, cluster: Any, routers: Any) -> None:
        self._cluster = cluster
        self._routers = routers

    def collect(self) -> Iterator[Metric]:
        stats: Mapping[str, int] = self._cluster.stats
        described = {
            "lease_renewals": "Lease renewals (heartbeats) that succeeded.",
            "lease_failures": "Lease renewals that failed or timed out.",
            "lease_lapses": "Times this worker found its own lease had expired.",
            "failovers": "Rooms taken over from a dead or stale owner (new epoch).",
            "handovers_in": "Rooms taken over after a graceful handover (same epoch).",
            "handovers_out": "Rooms handed over by a graceful stop.",
            "rooms_lost": "Rooms this worker stopped serving because another took them.",
            "forwards": "Lobby opens forwarded to the owning or chosen worker.",
            "reaped_workers": "Dead workers whose rooms this worker redistributed.",
        }
        for key, doc in described.items():
            yield CounterMetricFamily(f"kasagi_{key}", doc, value=stats.get(key, 0))
        r = self._routers.stats
        yield CounterMetricFamily(
            "kasagi_events_published", "Events published (once per router).", value=r["published"]
        )
        yield CounterMetricFamily("kasagi_publish_failures", "Publishes that raised.", value=r["publish_failures"])
        yield GaugeMetricFamily(
            "kasagi_routers_joined", "Routers this worker is joined to.", value=len(self._routers.sessions)
        )
        workers = self._cluster.workers
        yield GaugeMetricFamily(
            "kasagi_workers_alive",
            "Workers holding a lease (as of the last heartbeat).",
            value=sum(1 for w in workers.values() if w.alive),
        )
        yield GaugeMetricFamily(
            "kasagi_lease_ok", "1 when the last lease renewal succeeded.", value=1 if self._cluster.lease_ok else 0
        )


class RouterCollector:
    """Router-level figures: sessions by role and WAMP messages by type, from the router's own
    counters (``stats()`` of the realm's router: messages sent/received by type; plus
    ``sessions_by_role``, sessions joined per authrole). Only client and admin sessions are
    counted: the router's own components (authenticator, tuning, metrics), the in-router room
    service and cluster workers are not clients."""

    def __init__(self, stats: Callable[[], Mapping[str, Any]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        try:
            stats = self._stats()
        except Exception:  # noqa: BLE001 -- a scrape must not fail because the router is starting
            return
        by_role: Mapping[str, int] = stats.get("sessions_by_role", {})
        sessions = GaugeMetricFamily(
            "kasagi_router_sessions", "Client and admin sessions joined to the realm, by role.", labels=["role"]
        )
        for role in COUNTED_ROLES:
            sessions.add_metric([role], by_role.get(role, 0))
        yield sessions
        messages = stats.get("messages", {})
        for direction in ("sent", "received"):
            family = CounterMetricFamily(
                f"kasagi_router_messages_{direction}",
                f"WAMP messages {direction} by the router, by type.",
                labels=["type"],
            )
            for kind, count in sorted(messages.get(direction, {}).items()):
                family.add_metric([str(kind).lower()], count)
            yield family


class _MetricsResource(Resource):
    isLeaf = True

    def __init__(self, registries: Sequence[CollectorRegistry]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web is unannotated
        self._registries = registries

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return b"".join(generate_latest(r) for r in self._registries)


def metrics_site(registry: CollectorRegistry | Sequence[CollectorRegistry], ready: Readiness) -> Site:
    """The HTTP site serving ``/metrics`` (one registry, or several concatenated) and
    ``/health/live|ready``."""
    registries = [registry] if isinstance(registry, CollectorRegistry) else list(registry)
    root = Resource()
    root.putChild(b"metrics", _MetricsResource(registries))
    root.putChild(b"health", HealthResource(ready))
    site = Site(root)
    site.noisy = False
    return site
