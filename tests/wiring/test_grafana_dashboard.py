"""The Grafana dashboard (``deploy/grafana/kasagi.json``) against the metrics the code
exports: every series a panel queries is one that some collector of ``kasagi.metrics`` defines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from kasagi.testing.metrics import every_metric_registry

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "kasagi.json"

#: The series names a family of each type is scraped as (the Prometheus text format).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}

#: Words of PromQL (functions, keywords) that look like series names.
_PROMQL_WORDS = {"sum", "max", "min", "count", "rate", "increase", "histogram_quantile", "vector", "or"}


def _exported_series() -> dict[str, set[str]]:
    """Every series name the code can export, with the label names of its family."""
    registry: CollectorRegistry = every_metric_registry()
    series: dict[str, set[str]] = {}
    for family in registry.collect():
        labels = {label for sample in family.samples for label in sample.labels}
        for suffix in _SUFFIXES[family.type]:
            series[family.name + suffix] = labels
    return series


def _targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_every_series_the_dashboard_queries_is_exported_by_the_code() -> None:
    """Each series name in a panel's query is a metric the code defines (a renamed metric
    fails here, not on a blank panel)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported_series()
    queried: set[str] = set()
    for title, expr in _targets(dashboard):
        # Drop what is not a series name: selectors {...}, ranges [...], groupings by (...).
        bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\bby \([^)]*\)", "", expr)
        for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare):
            if name in _PROMQL_WORDS:
                continue
            assert name in exported, f"panel {title!r} queries {name!r}, which no collector exports"
            queried.add(name)
    assert {"kasagi_rooms", "kasagi_actions_accepted_total", "kasagi_store_append_seconds_bucket"} <= queried


def test_grouping_labels_are_labels_of_the_queried_series() -> None:
    """A ``by (label)`` in a query names a label of the series it groups (or the scrape's own
    ``job``/``instance``, or ``le`` of a histogram)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported_series()
    for title, expr in _targets(dashboard):
        for labels, inner in re.findall(r"by \(([^)]*)\) \((.*)\)", expr):
            names = re.findall(r"(kasagi_\w+|process_\w+)", inner)
            for label in (part.strip() for part in labels.split(",")):
                if label in {"job", "instance"}:
                    continue
                assert all(label in exported[n] for n in names), f"panel {title!r} groups {names} by {label!r}"


def test_the_dashboard_is_importable() -> None:
    """The dashboard has a uid, a Prometheus data source variable, and unique panel ids."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "kasagi" and dashboard["title"] == "Kasagi"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
