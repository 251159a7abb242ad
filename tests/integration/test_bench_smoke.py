"""``kasagi bench --smoke``: the benchmark runs end to end and writes well-formed results.

It asserts the shape of what the command produces, never a timing: figures from this
machine are not a test outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kasagi.bench._node import node_available

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
STEP_NUMBERS = ("offered_moves_s", "sent_moves_s", "accepted_moves_s", "deliveries_s", "generator_cpu_pct", "window_s")


def test_smoke_run_writes_results_table_and_plot(tmp_path: Path) -> None:
    """A smoke run of Kasagi (act and fast input path) and the raw baseline with the Python generator writes JSON, a
    table and a PNG."""
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "kasagi.cli", "bench", "--smoke", "--out", str(out)]
    cmd += [
        "--variant",
        "act:input=act",
        "--variant",
        "fast:input=publish",
        "--baseline",
        "raw",
        "--generator",
        "python",
    ]
    if (os.cpu_count() or 1) < 2:
        cmd.append("--no-pin")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "medians per load point" in proc.stderr

    document = json.loads((out / "results.json").read_text())
    assert document["meta"]["workload"] == "room-sync v1"
    assert document["meta"]["machine"]["nproc"] >= 1
    assert document["errors"] == []
    assert {r["variant"] for r in document["runs"]} == {"act", "fast", "raw"}
    for run in document["runs"]:
        assert run["clients_joined"] == run["clients"]
        (step,) = run["steps"]
        for key in STEP_NUMBERS:
            assert isinstance(step[key], (int, float)) and step[key] >= 0, key
        assert set(step["latency_ms"]) >= {"p50", "p90", "p99", "max"}
        assert step["latency_ms"]["p50"] <= step["latency_ms"]["p99"] <= step["latency_ms"]["max"]
        assert step["server_cpu_pct"] is not None and step["server_rss_mb"] > 0
        assert isinstance(step["violations"], dict)
        if run["variant"] != "raw":
            assert step["violation_count"] == 0, step["violations"]
    assert {row["variant"] for row in document["summary"]} == {"act", "fast", "raw"}
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not node_available(), reason="needs node and node_modules (npm ci)")
def test_smoke_run_with_the_node_generator_measures_every_variant(tmp_path: Path) -> None:
    """A smoke run with Autobahn JS clients in Node (the default generator) joins every client, measures every
    variant with well-formed figures, and sees no violation."""
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "kasagi.cli", "bench", "--smoke", "--out", str(out)]
    cmd += ["--variant", "act:input=act", "--variant", "fast:input=publish"]
    if (os.cpu_count() or 1) < 2:
        cmd.append("--no-pin")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    document = json.loads((out / "results.json").read_text())
    assert document["meta"]["generator"] == "node"
    assert document["errors"] == []
    assert {r["variant"] for r in document["runs"]} == {"act", "fast"}
    for run in document["runs"]:
        assert run["clients_joined"] == run["clients"]
        (step,) = run["steps"]
        for key in STEP_NUMBERS:
            assert isinstance(step[key], (int, float)) and step[key] >= 0, key
        assert step["accepted_moves_s"] > 0 and step["deliveries_s"] > 0
        assert step["latency_ms"]["p50"] <= step["latency_ms"]["p99"] <= step["latency_ms"]["max"]
        assert step["generator_cpu_pct"] > 0, "the Node children's CPU is counted"
        assert step["violation_count"] == 0, step["violations"]
