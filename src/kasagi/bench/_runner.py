"""Runs the workload: for each load point, each repeat and each variant, a fresh node pinned
to the server core, generator processes pinned to the generator core, the measured steps,
and the meters. Stops exactly what it started."""

from __future__ import annotations

import multiprocessing
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil

from kasagi.bench._profile import ProfileSession
from kasagi.bench._results import RunResult, StepResult, merge_step, ramp_step_passes
from kasagi.bench._server import ProcessMeter, Variant, start_node
from kasagi.bench._worker import worker_main
from kasagi.bench._workload import LoadPoint, Phases
from kasagi.client._options import ClientOptions
from kasagi.testing.node import NodeProcess

__all__ = ["DEFAULT_WINDOW", "BenchConfig", "Progress", "run_point"]


#: Moves a bot keeps unanswered at most: the SDKs' default (``ClientOptions.max_unanswered``,
#: and ``maxUnanswered`` in the JS SDK), since the generator is a client as shipped.
DEFAULT_WINDOW = ClientOptions.max_unanswered


@dataclass
class BenchConfig:
    points: Sequence[LoadPoint]
    variants: Sequence[Variant]
    repeats: int = 3
    phases: Phases = field(default_factory=Phases)
    #: Phases of each ramp step after the first (the first uses ``phases``).
    ramp_phases: Phases = field(default_factory=Phases)
    workers: int = 2
    serializer: str = "msgpack"
    #: The load generator: ``node`` (Autobahn JS clients in Node, as a browser runs them) or
    #: ``python`` (the lean Twisted client of :mod:`._wamp`).
    generator: str = "node"
    #: A running node to measure instead of starting one per point (no server metrics).
    url: str | None = None
    server_cpus: str | None = "0"
    generator_cpus: set[int] | None = field(default_factory=lambda: {1})
    join_concurrency: int = 16
    #: Moves a bot keeps unanswered at most (the SDKs' default window); 0: no bound.
    window: int = DEFAULT_WINDOW
    join_timeout: float = 240.0
    seed: int = 1
    #: Ramp: stop after this many failing steps in a row (the result is the last passing
    #: step; 2 keeps one noisy step on a shared machine from ending the ramp early).
    ramp_stop_after: int = 2
    #: Sample the server's worker processes with py-spy in every measured window.
    profile_dir: Path | None = None


class Progress:
    """What the runner reports while it works (the CLI draws it with rich)."""

    def phase(self, label: str, total: float) -> None: ...

    def update(self, done: float, info: str) -> None: ...

    def log(self, text: str) -> None: ...


def _bots(point: LoadPoint, workers: int, run_tag: str, seed: int) -> list[list[tuple[str, str, int]]]:
    shares: list[list[tuple[str, str, int]]] = [[] for _ in range(workers)]
    i = 0
    for r in range(point.rooms):
        room = f"b{run_tag}_{point.name.lower()}{r}"
        for c in range(point.clients):
            shares[i % workers].append((room, f"{room}_c{c}", seed * 1_000_003 + i))
            i += 1
    return [s for s in shares if s]


class _Workers:
    """The generator processes of one run."""

    def __init__(self, ctx: Any, specs: list[dict[str, Any]]) -> None:
        self.conns = []
        self.procs = []
        for spec in specs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, spec), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self.progress: list[dict[str, Any]] = [{} for _ in specs]
        pids = [p.pid for p in self.procs if p.pid is not None]
        self.meter = ProcessMeter([os.getpid(), *pids], family=pids)

    def send(self, kind: str, payload: Any) -> None:
        for conn in self.conns:
            try:
                conn.send((kind, payload))
            except (BrokenPipeError, OSError):
                continue

    def collect(self, kind: str, deadline: float, tick: Callable[[], None]) -> list[dict[str, Any]]:
        """Wait (until ``deadline``) for one ``kind`` message from every worker."""
        got: dict[int, dict[str, Any]] = {}
        while len(got) < len(self.conns) and time.time() < deadline:
            for i, conn in enumerate(self.conns):
                while i not in got and conn.poll(0):
                    try:
                        k, payload = conn.recv()
                    except (EOFError, OSError):
                        raise RuntimeError(f"generator process {i} died") from None
                    if k == "progress":
                        self.progress[i] = payload
                    elif k == "error":
                        raise RuntimeError(f"generator process {i} failed:\n{payload}")
                    elif k == kind:
                        got[i] = payload
            tick()
            time.sleep(0.05)  # polling the pipes of the generator processes
        if len(got) < len(self.conns):
            raise TimeoutError(f"generator processes did not report {kind!r} in time")
        return [got[i] for i in range(len(self.conns))]

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.progress:
            for k, v in p.items():
                out[k] = out.get(k, 0) + v
        return out

    def stop(self) -> None:
        self.send("stop", None)
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for conn in self.conns:
            conn.close()


def run_point(config: BenchConfig, variant: Variant, point: LoadPoint, run: int, progress: Progress) -> RunResult:
    """One run of one load point for one variant, on a fresh node (unless ``config.url``)."""
    busy = core_busy(1.0)
    node, tmp, host, port = _target(config, variant, point, run, progress)
    workers = None
    try:
        server = ProcessMeter(node.pids()) if node is not None else None
        rss_before = server.rss() if server is not None else None
        ctx = multiprocessing.get_context("spawn")
        workers = _Workers(ctx, _worker_specs(config, variant, point, run, host, port))
        result = RunResult(variant.name, point.name, run, point.total_clients, 0, 0.0)
        result.machine_before = {"loadavg_1m": os.getloadavg()[0], "core_busy_pct": busy}
        t_join = time.time()
        progress.phase(
            f"{point.name} {variant.name} #{run}: joining {point.total_clients} clients", point.total_clients
        )
        if server is not None:
            server.watch()

        def joining() -> None:
            progress.update(workers.totals().get("joined", 0), "")

        joined = workers.collect("joined", time.time() + config.join_timeout + 60, joining)
        join_peak = server.stop_watching() if server is not None else None
        result.join_seconds = time.time() - t_join
        result.clients_joined = sum(j["ready"] for j in joined)
        result.notes.extend(_join_notes(joined))
        if point.idle and server is not None and rss_before is not None:
            result.rss_before_mb = rss_before / 2**20
        failing = 0
        for i, rate in enumerate(point.rates):
            phases = config.phases if i == 0 else config.ramp_phases
            label = f"{point.name} {variant.name} #{run}"
            profiler = _profiler(config, point, variant, run, rate, node)
            step = _run_step(config, point, rate, phases, workers, server, progress, label, profiler)
            if point.idle and server is not None and rss_before is not None:
                peak = max(join_peak or 0, server.peak_rss)
                result.kb_per_connection = (peak - rss_before) / 1024 / max(1, result.clients_joined)
            if point.ramp:
                step.passed = ramp_step_passes(step)
            result.steps.append(step)
            progress.log(_step_line(result, step))
            if point.ramp:
                failing = 0 if step.passed else failing + 1
                if failing >= config.ramp_stop_after:
                    break
        return result
    finally:
        _stop(workers, node, tmp)


def _target(
    config: BenchConfig, variant: Variant, point: LoadPoint, run: int, progress: Progress
) -> tuple[NodeProcess | None, Path | None, str, int]:
    """(node, its temporary directory, host, port) to measure: a fresh node, or ``config.url``."""
    if config.url is None:
        progress.phase(f"{point.name} {variant.name} #{run}: starting the node", 1)
        node, tmp = start_node(variant, config.server_cpus)
        return node, tmp, "127.0.0.1", node.options.port
    parsed = urlparse(config.url)
    return None, None, parsed.hostname or "127.0.0.1", parsed.port or 80


def _worker_specs(
    config: BenchConfig, variant: Variant, point: LoadPoint, run: int, host: str, port: int
) -> list[dict[str, Any]]:
    """What each generator process runs (see :mod:`kasagi.bench._worker`)."""
    tag = secrets.token_hex(3)
    return [
        {
            "host": host,
            "port": port,
            "serializer": config.serializer,
            "generator": config.generator,
            "input_path": variant.input_path,
            "validating": not variant.raw,
            "bots": share,
            "cpus": config.generator_cpus,
            "window": 0 if variant.raw else config.window,
            "join_concurrency": max(1, config.join_concurrency // max(1, config.workers)),
            "join_timeout": config.join_timeout,
        }
        for share in _bots(point, config.workers, tag, config.seed + run)
    ]


def _join_notes(joined: list[dict[str, Any]]) -> list[str]:
    return [
        f"join: {j['failed']} failed, timed out: {j['timed_out']}, e.g. {j['failures'][:2]}"
        for j in joined
        if j["failures"] or j["timed_out"]
    ]


def _profiler(
    config: BenchConfig, point: LoadPoint, variant: Variant, run: int, rate: float, node: NodeProcess | None
) -> tuple[ProfileSession, list[tuple[int, str]]] | None:
    """A py-spy session over the node's workers for one step, when ``config.profile_dir`` asks."""
    if config.profile_dir is None or node is None:
        return None
    tag = f"{point.name}-{variant.name}-{run}-{rate:g}Hz"
    return ProfileSession(config.profile_dir, tag), _worker_pids(node.pids())


def _stop(workers: _Workers | None, node: NodeProcess | None, tmp: Path | None) -> None:
    """Stop what :func:`run_point` started, generators first."""
    if workers is not None:
        workers.stop()
    if node is not None:
        node.stop()
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_step(
    config: BenchConfig,
    point: LoadPoint,
    rate: float,
    phases: Phases,
    workers: _Workers,
    server: ProcessMeter | None,
    progress: Progress,
    label: str,
    profiler: tuple[ProfileSession, list[tuple[int, str]]] | None = None,
) -> StepResult:
    t0 = time.time() + 0.5
    start, end = t0 + phases.warmup, t0 + phases.warmup + phases.measure
    workers.send(
        "step", {"rate": rate, "t0": t0, "warmup": phases.warmup, "measure": phases.measure, "drain": phases.drain}
    )
    total = phases.warmup + phases.measure + phases.drain
    progress.phase(f"{label}: {rate:g} Hz" if not point.idle else f"{label}: idle", total)
    marks: dict[str, float] = {}
    last: dict[str, Any] = {"totals": dict(workers.totals()), "at": time.time()}

    def tick() -> None:
        now = time.time()
        if "server0" not in marks and now >= start:
            marks["gen0"] = workers.meter.cpu_seconds()
            if profiler is not None:
                profiler[0].start(profiler[1], phases.measure)
            if server is not None:
                marks["server0"] = server.cpu_seconds()
                server.watch()
            else:
                marks["server0"] = 0.0
        if "server1" not in marks and now >= end:
            marks["gen1"] = workers.meter.cpu_seconds()
            if server is not None:
                marks["server1"] = server.cpu_seconds()
                marks["rss"] = server.stop_watching()
            else:
                marks["server1"] = 0.0
        totals = workers.totals()
        span = now - last["at"]
        info = ""
        if span >= 1.0:
            prev = last["totals"]
            info = " ".join(
                f"{k} {(totals.get(k, 0) - prev.get(k, 0)) / span:,.0f}/s" for k in ("sent", "accepted", "deliveries")
            )
            last["totals"], last["at"] = dict(totals), now
            progress.update(min(total, now - t0), info)

    parts = workers.collect("result", end + phases.drain + 60, tick)
    tick()
    if server is not None and "rss" not in marks:
        marks["rss"] = server.stop_watching()
    if profiler is not None:
        summary = profiler[0].finish()
        if summary:
            progress.log(summary)
    window = phases.measure
    server_cpu = (marks["server1"] - marks["server0"]) if server is not None else None
    return merge_step(
        point,
        rate,
        window,
        parts,
        server_cpu,
        int(marks["rss"]) if server is not None else None,
        marks["gen1"] - marks["gen0"],
    )


def _worker_pids(pids: Sequence[int]) -> list[tuple[int, str]]:
    """The node's worker processes (not the controller), named by their process title."""
    out = []
    for pid in pids:
        try:
            title = " ".join(psutil.Process(pid).cmdline()).strip()
        except psutil.Error:
            continue
        if "controller" in title:
            continue
        out.append((pid, re.sub(r"[^a-z0-9]+", "_", title.lower())[:40].strip("_") or "worker"))
    return out


def _step_line(run: RunResult, s: StepResult) -> str:
    cpu = "n/a" if s.server_cpu_pct is None else f"{s.server_cpu_pct:.0f}%"
    per_msg = "n/a" if s.server_cpu_us_per_message is None else f"{s.server_cpu_us_per_message:.0f}"
    verdict = "" if s.passed is None else (" PASS" if s.passed else " FAIL")
    return (
        f"{run.point} {run.variant} #{run.run} {s.rate:g} Hz: "
        f"accepted {s.accepted_moves_s:,.0f}/s of {s.offered_moves_s:,.0f}, "
        f"refused with retry_after {s.throttled_moves_s:,.0f}/s, held {s.held_moves_s:,.0f}/s, "
        f"deliveries {s.deliveries_s:,.0f}/s, p50/p99 {s.latency_ms['p50']:.1f}/{s.latency_ms['p99']:.1f} ms, "
        f"violations {s.violation_count}, server CPU {cpu} ({per_msg} us/msg), "
        f"generator CPU {s.generator_cpu_pct:.0f}%{verdict}"
    )


def core_busy(seconds: float) -> list[float]:
    """Percent busy of each CPU over ``seconds`` (from /proc/stat): how loaded the shared
    machine was just before a run."""

    def read() -> list[tuple[int, int]]:
        out = []
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    v = [int(x) for x in line.split()[1:]]
                    out.append((sum(v), v[3] + v[4]))
        return out

    try:
        a = read()
        time.sleep(seconds)  # the sampling interval of the reading
        b = read()
    except OSError:
        return []
    return [round(100.0 * (1 - (bi - ai) / max(1, bt - at)), 1) for (at, ai), (bt, bi) in zip(a, b, strict=False)]


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "loadavg": os.getloadavg(),
    }
