"""The metric list of ``docs/metrics.md`` against what the code exports: the same names, types
and labels, and Prometheus's naming conventions."""

from __future__ import annotations

import re
from pathlib import Path

from kasagi.testing.metrics import every_metric

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

_LINE = re.compile(r"^- `(?P<name>[a-z_:]+)(?:\{(?P<labels>[a-z_, ]*)\})?` \((?P<type>counter|gauge|histogram)\): ")


def _documented() -> dict[str, tuple[str, frozenset[str]]]:
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for line in DOC.read_text().splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        assert match["name"] not in out, f"{match['name']} is listed twice"
        labels = frozenset(part.strip() for part in (match["labels"] or "").split(",") if part.strip())
        out[match["name"]] = (match["type"], labels)
    return out


def test_the_documented_list_is_exactly_what_the_code_exports() -> None:
    """Every exported metric has one line in docs/metrics.md with its type and labels, and
    the list names nothing the code does not export."""
    exported = {name: (f.type, f.labels) for name, f in every_metric().items()}
    documented = _documented()
    assert sorted(documented) == sorted(exported)
    assert documented == exported


def test_names_follow_the_prometheus_conventions() -> None:
    """Counters end in _total, nothing else does, and time is in seconds (no _ms, no _milliseconds)."""
    for name, family in every_metric().items():
        assert name.endswith("_total") == (family.type == "counter"), name
        assert not re.search(r"_(ms|milliseconds|millis|kb|mb)(_|$)", name), name


def test_no_quantity_is_counted_under_two_names() -> None:
    """The counters a histogram's _count already gives (events committed, ticks run) and the
    per-kind join counters are not exported again, and the router's and the worker's session
    gauges have distinct names."""
    names = set(every_metric())
    for gone in (
        "kasagi_events_committed_total",
        "kasagi_room_ticks_total",
        "kasagi_failed_commits_total",
        "kasagi_catchups_served_total",
        "kasagi_snapshots_sent_total",
        "kasagi_router_sessions_joined",
        "kasagi_client_sessions",
        "kasagi_actions_refused_total",
    ):
        assert gone not in names, gone
    assert {"kasagi_store_append_seconds", "kasagi_room_tick_lateness_seconds", "kasagi_joins_total"} <= names
    assert {"kasagi_router_sessions", "kasagi_routers_joined"} <= names
