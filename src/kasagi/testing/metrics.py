"""Every metric :mod:`kasagi.metrics` can export, for tests of what names a scrape shows.

:func:`every_metric` builds one registry with every collector of every role (room service,
cluster worker, router) over empty stand-ins, counts each labelled counter once (a labelled
counter shows a series only once a label value has been counted), and lists the families.
"""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock

from kasagi.auth import SessionQuota
from kasagi.metrics import ClusterCollector, RoomsCollector, RouterCollector, ServiceMetrics, new_registry
from kasagi.service.admission import Admission
from router.backpressure import OutgoingBufferGuard
from router.client_limits import LimitsCollector

__all__ = ["Family", "every_metric", "every_metric_registry", "scraped_name"]


class Family(SimpleNamespace):
    """One exported family: ``name`` (as scraped: a counter's with ``_total``), ``type`` and
    ``labels`` (the label names of its samples, without a histogram's ``le``)."""

    name: str
    type: str
    labels: frozenset[str]


def scraped_name(name: str, kind: str) -> str:
    """The name a family of ``kind`` is queried by (a counter's ends in ``_total``)."""
    return name + "_total" if kind == "counter" else name


def every_metric_registry() -> CollectorRegistry:
    """A registry holding every collector of every role, each labelled counter counted once."""
    registry: CollectorRegistry = new_registry()
    observer = ServiceMetrics(registry)
    observer.refused("kasagi.error.rejected")
    observer.commit_failures.labels("StaleEpoch").inc()
    observer.joined(catch_up=False)
    registry.register(RoomsCollector(SimpleNamespace(runners={}, retired_stats={}, admission=Admission(Clock()))))
    cluster = SimpleNamespace(stats={}, workers={}, lease_ok=True)
    routers = SimpleNamespace(stats={"published": 0, "publish_failures": 0}, sessions=[])
    registry.register(ClusterCollector(cluster, routers))
    figures = {"sessions_by_role": {"client": 1}, "messages": {"sent": {"EVENT": 1}, "received": {"PUBLISH": 1}}}
    registry.register(RouterCollector(lambda: figures))
    registry.register(LimitsCollector(OutgoingBufferGuard(0), SessionQuota(0)))
    return registry


def every_metric() -> dict[str, Family]:
    """Every family :func:`every_metric_registry` exports, by the name it is queried by."""
    out: dict[str, Family] = {}
    for family in every_metric_registry().collect():
        labels = frozenset(label for sample in family.samples for label in sample.labels) - {"le"}
        name = scraped_name(family.name, family.type)
        out[name] = Family(name=name, type=family.type, labels=labels)
    return out
