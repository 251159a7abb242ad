"""Results: one step's figures from the merged tallies of the generator processes, the
targets of each point, and medians over repeated runs (pure; no I/O)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kasagi.bench._bot import new_histogram
from kasagi.bench._workload import INVALID_EVERY, LoadPoint

__all__ = ["TARGETS", "RunResult", "StepResult", "meets_target", "merge_step", "ramp_step_passes", "summarize"]

#: The targets per point (``docs/benchmarks.md``; set from Colyseus's figures on the same machine).
TARGETS: dict[str, dict[str, float]] = {
    "A": {"accepted_fraction": 0.995, "violations": 0, "p99_ms": 60, "server_cpu_pct": 20},
    # 50,000 deliveries/s offered, of which 1% are invalid moves that must not be delivered.
    "B": {"deliveries_s": 49_500, "violations": 0, "p99_ms": 80, "server_cpu_pct": 15},
    "C": {"accepted_s": 7_900, "violations": 0, "p99_ms": 100},
    "D": {"accepted_s": 11_000, "p99_ms": 100},
    "E": {"kb_per_connection": 21},
}

#: Generator CPU above this means the generator, not the server, may be the limit.
GENERATOR_SATURATED_PCT = 90.0


@dataclass
class StepResult:
    rate: float
    window_s: float
    offered_moves_s: float
    sent_moves_s: float
    accepted_moves_s: float
    deliveries_s: float
    #: WebSocket messages between clients and router per second (both ways) ...
    client_messages_s: float
    #: ... and the server's CPU time per such message: a cost per routed message that stays
    #: comparable when a busy machine makes Kasagi coalesce more.
    server_cpu_us_per_message: float | None
    expected_deliveries_s: float
    latency_ms: dict[str, float]
    bytes_per_delivery: float | None
    violations: dict[str, int]
    violating_clients: int
    server_cpu_pct: float | None
    server_rss_mb: float | None
    generator_cpu_pct: float
    generator_saturated: bool
    late_sends: int
    max_send_lag_ms: float
    gaps_repaired: int
    clients_moving: int
    #: Moves/s refused with ``kasagi.error.rate_limited`` (clear refusals with ``retry_after``,
    #: not violations) ...
    throttled_moves_s: float = 0.0
    #: ... and moves/s not sent because they fell due while such a refusal held their client.
    held_moves_s: float = 0.0
    passed: bool | None = None

    @property
    def violation_count(self) -> int:
        return sum(self.violations.values())


@dataclass
class RunResult:
    variant: str
    point: str
    run: int
    clients: int
    clients_joined: int
    join_seconds: float
    steps: list[StepResult] = field(default_factory=list)
    #: Point E: (peak RSS - RSS before connecting) / clients, KiB; and idle server CPU%.
    kb_per_connection: float | None = None
    rss_before_mb: float | None = None
    notes: list[str] = field(default_factory=list)
    #: Load of the shared machine just before the run (1-minute load average, % busy per core).
    machine_before: dict[str, Any] = field(default_factory=dict)

    def last_passing(self) -> StepResult | None:
        passing = [s for s in self.steps if s.passed]
        return passing[-1] if passing else None

    def headline(self) -> StepResult | None:
        """The step that stands for the run: the last passing ramp step, else the only one."""
        if self.point == "D":
            return self.last_passing()
        return self.steps[0] if self.steps else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = [asdict(s) | {"violation_count": s.violation_count} for s in self.steps]
        return out


def merge_step(
    point: LoadPoint,
    rate: float,
    window_s: float,
    parts: Sequence[Mapping[str, Any]],
    server_cpu_s: float | None,
    server_rss: int | None,
    generator_cpu_s: float,
) -> StepResult:
    """One step's result from the generator processes' tallies and the meters' readings."""
    hist = new_histogram()
    sent = accepted = throttled = held = deliveries = messages = nbytes = late = violating = gaps = moving = 0
    lag = 0.0
    violations: dict[str, int] = {}
    for part in parts:
        sent += part["sent"]
        accepted += part["accepted"]
        throttled += part.get("throttled", 0)
        held += part.get("held", 0)
        deliveries += part["deliveries"]
        messages += part.get("messages_in", 0)
        nbytes += part["bytes"]
        late += part["late_sends"]
        lag = max(lag, part["max_send_lag_ms"])
        violating += part["violating_clients"]
        gaps += part["gaps_repaired"]
        moving += part["moving"]
        for k, v in part["violations"].items():
            violations[k] = violations.get(k, 0) + v
        hist.decode_and_add(part["latency"])
    latency = {
        "p50": hist.get_value_at_percentile(50) / 1000.0,
        "p90": hist.get_value_at_percentile(90) / 1000.0,
        "p99": hist.get_value_at_percentile(99) / 1000.0,
        "max": hist.get_max_value() / 1000.0,
        "samples": hist.get_total_count(),
    }
    gen_pct = 100.0 * generator_cpu_s / window_s
    return StepResult(
        rate=rate,
        window_s=window_s,
        offered_moves_s=point.offered_moves(rate),
        sent_moves_s=sent / window_s,
        accepted_moves_s=accepted / window_s,
        deliveries_s=deliveries / window_s,
        client_messages_s=(messages + sent) / window_s,
        server_cpu_us_per_message=(1e6 * server_cpu_s / (messages + sent))
        if server_cpu_s is not None and messages + sent
        else None,
        expected_deliveries_s=point.expected_deliveries(rate) * (1 - 1 / INVALID_EVERY),
        latency_ms=latency,
        bytes_per_delivery=(nbytes / deliveries) if deliveries else None,
        violations=violations,
        violating_clients=violating,
        server_cpu_pct=None if server_cpu_s is None else 100.0 * server_cpu_s / window_s,
        server_rss_mb=None if server_rss is None else server_rss / 2**20,
        generator_cpu_pct=gen_pct,
        generator_saturated=gen_pct > GENERATOR_SATURATED_PCT,
        late_sends=late,
        max_send_lag_ms=lag,
        gaps_repaired=gaps,
        clients_moving=moving,
        throttled_moves_s=throttled / window_s,
        held_moves_s=held / window_s,
    )


def ramp_step_passes(step: StepResult) -> bool:
    """``docs/benchmarks.md``: a ramp step fails on p99 > 100 ms, any lost move or violation,
    accepted < 97% of offered valid moves, or a saturated generator."""
    offered_valid = step.offered_moves_s * (1 - 1 / INVALID_EVERY)
    return (
        step.latency_ms["p99"] <= 100.0
        and step.violation_count == 0
        and step.accepted_moves_s >= 0.97 * offered_valid
        and not step.generator_saturated
    )


def meets_target(point: str, run: Mapping[str, Any]) -> dict[str, bool]:
    """Which of the point's targets a (median) summary row meets."""
    target = TARGETS.get(point, {})
    out: dict[str, bool] = {}
    for key, goal in target.items():
        got = run.get(key)
        if got is None:
            continue
        if key in ("p99_ms", "server_cpu_pct", "violations", "kb_per_connection"):
            out[key] = got <= goal
        else:
            out[key] = got >= goal
    return out


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarize(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Median over the repeated runs of each (variant, point)."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for run in runs:
        groups.setdefault((run.variant, run.point), []).append(run)
    rows = []
    for (variant, point), group in groups.items():
        heads = [r.headline() for r in group]
        steps = [h for h in heads if h is not None]
        row: dict[str, Any] = {"variant": variant, "point": point, "runs": len(group)}
        if steps:
            offered = steps[0].offered_moves_s
            row |= {
                "rate": _median([s.rate for s in steps]),
                "offered_s": offered,
                "accepted_s": _median([s.accepted_moves_s for s in steps]),
                "throttled_s": _median([s.throttled_moves_s for s in steps]),
                "held_s": _median([s.held_moves_s for s in steps]),
                "accepted_fraction": (_median([s.accepted_moves_s for s in steps]) or 0)
                / (offered * (1 - 1 / INVALID_EVERY))
                if offered
                else None,
                "deliveries_s": _median([s.deliveries_s for s in steps]),
                "expected_deliveries_s": steps[0].expected_deliveries_s,
                "p50_ms": _median([s.latency_ms["p50"] for s in steps]),
                "p90_ms": _median([s.latency_ms["p90"] for s in steps]),
                "p99_ms": _median([s.latency_ms["p99"] for s in steps]),
                "max_ms": _median([s.latency_ms["max"] for s in steps]),
                "bytes_per_delivery": _median([s.bytes_per_delivery for s in steps]),
                "violations": _median([s.violation_count for s in steps]),
                "server_cpu_pct": _median([s.server_cpu_pct for s in steps]),
                "client_messages_s": _median([s.client_messages_s for s in steps]),
                "cpu_us_per_message": _median([s.server_cpu_us_per_message for s in steps]),
                "server_rss_mb": _median([s.server_rss_mb for s in steps]),
                "generator_cpu_pct": _median([s.generator_cpu_pct for s in steps]),
                "generator_saturated_runs": sum(1 for s in steps if s.generator_saturated),
            }
        if point == "D":
            row["failed_at_rate"] = _median([_first_failing_rate(r) for r in group])
            row["passing_runs"] = len(steps)
        if point == "E":
            row["kb_per_connection"] = _median([r.kb_per_connection for r in group])
        row["meets"] = meets_target(point, row)
        rows.append(row)
    return rows


def _first_failing_rate(run: RunResult) -> float | None:
    for step in run.steps:
        if step.passed is False:
            return step.rate
    return None
