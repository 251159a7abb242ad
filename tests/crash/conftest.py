"""Crash runs: a private redis-server per test module, nodes with the room service in its own
process, and ways to kill each part."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from kasagi.testing.redis_server import RedisServer


@pytest.fixture(scope="module")
def crash_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """This module's own redis-server: free port, temp dir, AOF with appendfsync always."""
    server = RedisServer(tmp_path_factory.mktemp("crash-redis"), free_port()).start()
    yield server
    if server.proc is not None:
        try:
            os.killpg(server.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    server.kill()


def worker_pid(node: NodeProcess, worker: str) -> int:
    """The pid of one Crossbar worker of the node (``router1`` or ``rooms1``)."""
    titles = {"router1": "kasagi router", "rooms1": "kasagi rooms"}
    for pid in node.pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"--worker {worker} " in cmdline + " " or titles[worker] in cmdline:
            return pid
    raise LookupError(f"no worker {worker} among {node.pids()}")
