"""Nodes and measurements of the abuse tests: real nodes with the defaults of ``kasagi up``
(the embedded SQLite store), and the resident memory and CPU time of all their processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from kasagi.testing.node import NodeProcess
from tests.conftest import start_node

COPIES = "tests.abuse.rooms:Copies"


@pytest.fixture(scope="module")
def abuse_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node as ``kasagi up`` starts it (SQLite store, default limits) with the copies type."""
    proc = start_node(tmp_path_factory.mktemp("abuse"), room_types=(COPIES,), app_dir=str(Path(__file__).parents[2]))
    yield proc
    proc.stop()


def cpu_seconds(node: NodeProcess) -> float:
    """User and system CPU time the node's processes used so far, seconds."""
    total = 0.0
    for pid in node.pids():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total
