"""The server side of a measurement: a fresh node per load point (pinned to its core), and
the CPU time and memory of all of its processes, read with psutil."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess

__all__ = ["ProcessMeter", "Variant", "start_node"]

RAW_BASELINE = "components.raw_baseline.RawBaseline"


@dataclass(frozen=True)
class Variant:
    """What runs on the server side: Kasagi with some settings, or the raw baseline.

    The defaults are ``kasagi up``'s: the SQLite store in the node's data directory, log
    level ``info``, moves sent with ``act``."""

    name: str
    service: dict[str, Any] = field(default_factory=dict)
    component: str = "router"
    backend_serializer: str = "msgpack"
    raw: bool = False
    loglevel: str = "info"
    skip_debug_log_args: bool = True
    direct_writes: bool = True
    #: A message's WebSocket frame built once for all its clients (``router/shared_frames.py``).
    shared_frames: bool = NodeOptions.shared_frames
    #: Clients' small frames unmasked with one integer XOR (``router/unmasking.py``).
    quick_unmasking: bool = NodeOptions.quick_unmasking
    python_optimize: bool = False
    gc_freeze: bool = True
    gc_refreeze_every: float = 0.0
    #: ``sys.setswitchinterval`` in the router worker (0: Python's 5 ms).
    switch_interval: float = NodeOptions.switch_interval
    #: Acts refused by the router before routing while the room service is backlogged.
    early_refusal: bool = NodeOptions.early_refusal
    #: Clients' acts called in the router's process, past the dealer (``router/local_calls.py``).
    local_calls: bool = NodeOptions.local_calls
    #: Client connections keep less in the router worker (``router/lean_connections.py``).
    lean_connections: bool = NodeOptions.lean_connections
    #: How the clients send moves: ``act`` (RPC) or ``publish`` (fast input path).
    input_path: str = "act"
    #: Router processes on the one port (``kasagi up --routers``), and room-service workers
    #: beside them (0: one per router). With more than one router the node runs on as many
    #: cores from core 0 on, so it shares a core with the generator.
    routers: int = 1
    room_workers: int = 0

    def node_options(self, port: int, data_dir: Path) -> NodeOptions:
        service = dict(self.service)
        return NodeOptions(
            port=port,
            host="127.0.0.1",
            data_dir=data_dir,
            service=service,
            component=self.component,
            backend_serializer=self.backend_serializer,
            service_class=RAW_BASELINE if self.raw else None,
            loglevel=self.loglevel,
            skip_debug_log_args=self.skip_debug_log_args,
            direct_writes=self.direct_writes,
            shared_frames=self.shared_frames,
            quick_unmasking=self.quick_unmasking,
            python_optimize=self.python_optimize,
            gc_freeze=self.gc_freeze,
            gc_refreeze_every=self.gc_refreeze_every,
            switch_interval=self.switch_interval,
            early_refusal=self.early_refusal,
            local_calls=self.local_calls,
            lean_connections=self.lean_connections,
            gc_report_every=10.0,
            routers=self.routers,
            room_workers=self.room_workers,
        )

    def server_cpus(self, cpus: str | None) -> str | None:
        """The cores the node runs on: ``cpus`` for one router, else one core per router from
        core 0 on (as many as the machine has)."""
        if cpus is None or self.routers <= 1:
            return cpus
        cores = max(1, min(self.routers, os.cpu_count() or 1))
        return f"0-{cores - 1}" if cores > 1 else "0"


def start_node(variant: Variant, cpus: str | None, timeout: float = 90.0) -> tuple[NodeProcess, Path]:
    """Start a node for ``variant`` on a free port in a temporary directory."""
    tmp = Path(tempfile.mkdtemp(prefix="kasagi-bench-"))
    node = NodeProcess(
        variant.node_options(free_port(), tmp), cpus=variant.server_cpus(cpus), log_path=tmp / "node.log"
    )
    try:
        node.start(timeout=timeout)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return node, tmp


class ProcessMeter:
    """CPU seconds and resident memory of a set of processes.

    ``cpu_seconds()`` sums user + system time; ``sample()`` (called from a background thread
    every ``interval`` s while :meth:`watch` runs) keeps the peak summed RSS.
    """

    def __init__(self, pids: Sequence[int], interval: float = 0.5, family: Sequence[int] = ()) -> None:
        self._procs = []
        for pid in pids:
            try:
                self._procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
        #: Processes whose descendants count too (found again at each reading: a generator
        #: process starts its Node child after it was listed here).
        self._family = [p for p in self._procs if p.pid in family]
        self._children: dict[int, Any] = {}
        self.interval = interval
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _members(self) -> list[Any]:
        for parent in self._family:
            try:
                for child in parent.children(recursive=True):
                    self._children.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                continue
        return [*self._procs, *self._children.values()]

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._members():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    def rss(self) -> int:
        total = 0
        for p in self._members():
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def sample(self) -> int:
        rss = self.rss()
        if rss > self.peak_rss:
            self.peak_rss = rss
        return rss

    def watch(self) -> None:
        """Sample the RSS in the background until :meth:`stop_watching`."""
        self.peak_rss = 0
        self._stop.clear()

        def loop() -> None:
            # Bounded by the caller: it always calls stop_watching (in a finally).
            while not self._stop.wait(self.interval):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop_watching(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()
        return self.peak_rss
