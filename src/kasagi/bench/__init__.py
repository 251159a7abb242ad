"""``kasagi bench``: the workload "room-sync v1" against a Kasagi node (``docs/benchmarks.md``).

- :mod:`._workload` -- load points A-E, phases, the moves;
- :mod:`._wamp` -- a lean WAMP-over-WebSocket client for the generator;
- :mod:`._bot` -- one simulated client and what it checks;
- :mod:`._worker` -- a generator process running a share of the bots;
- :mod:`._node` -- the same, with the bots as Autobahn JS clients in a Node child
  (``_node_worker.mjs``; ``--generator node``, the default);
- :mod:`._server` -- a fresh node per point, and the CPU/RSS meters;
- :mod:`._runner` -- the orchestration of points, runs and steps;
- :mod:`._results` -- figures, targets, medians; :mod:`._report` -- JSON, table, plot;
- :mod:`._profile` -- the node's CPU profile under load, summarised.

The simulated client (:class:`Bot`, :class:`Tally`, :class:`SentMove`) and the profile
summary (:func:`summarize_stacks`) are exported too, for checking what they count.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import Any

from kasagi.bench._bot import Bot, SentMove, Tally
from kasagi.bench._profile import summarize_stacks
from kasagi.bench._report import plot, summary_markdown, summary_table, write_json
from kasagi.bench._results import TARGETS, RunResult, StepResult, summarize
from kasagi.bench._runner import BenchConfig, Progress, machine_info, run_point
from kasagi.bench._server import Variant
from kasagi.bench._workload import POINTS, SMOKE, SMOKE_PHASES, LoadPoint, Phases

__all__ = [
    "POINTS",
    "SMOKE",
    "SMOKE_PHASES",
    "TARGETS",
    "BenchConfig",
    "Bot",
    "LoadPoint",
    "Phases",
    "Progress",
    "RunResult",
    "SentMove",
    "StepResult",
    "Tally",
    "Variant",
    "machine_info",
    "plot",
    "run_bench",
    "summarize_stacks",
    "summary_markdown",
    "summary_table",
    "write_json",
]


def run_bench(config: BenchConfig, progress: Progress, command: str = "") -> dict[str, Any]:
    """Run every point x repeat x variant (variants side by side within each repeat); return
    the results document (``meta``, ``runs``, ``summary``)."""
    if config.generator_cpus:
        try:
            os.sched_setaffinity(0, config.generator_cpus)
        except OSError:
            progress.log("could not pin the generator to its core")
    started = datetime.datetime.now(datetime.UTC)
    runs: list[RunResult] = []
    errors: list[str] = []
    for point in config.points:
        for run in range(1, config.repeats + 1):
            for variant in config.variants:
                try:
                    runs.append(run_point(config, variant, point, run, progress))
                except (RuntimeError, TimeoutError, OSError) as exc:
                    errors.append(f"{point.name} {variant.name} #{run}: {exc}")
                    progress.log(f"[red]{point.name} {variant.name} #{run} failed: {exc}")
    return {
        "meta": {
            "workload": "room-sync v1",
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": command,
            "machine": machine_info(),
            "points": [p.name for p in config.points],
            "variants": [v.__dict__ for v in config.variants],
            "repeats": config.repeats,
            "phases": config.phases.__dict__,
            "ramp_phases": config.ramp_phases.__dict__,
            "serializer": config.serializer,
            "generator": config.generator,
            "workers": config.workers,
            "server_cpus": config.server_cpus,
            "generator_cpus": sorted(config.generator_cpus or []),
            "url": config.url,
        },
        "runs": [r.to_json() for r in runs],
        "summary": summarize(runs),
        "errors": errors,
        "_runs": runs,
    }


def points_named(names: Sequence[str]) -> list[LoadPoint]:
    return [POINTS[n.upper()] for n in names]
