"""Fixtures of the fault suite: a node with short heartbeats, and fault proxies in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twisted.internet import reactor

from kasagi.testing.node import NodeProcess
from tests.conftest import start_node
from tests.faults.proxy import FaultProxy

#: Heartbeats of the fault suite's node (ms): short, so a dead connection is found fast.
PING_INTERVAL_MS = 2000
PING_TIMEOUT_MS = 2000


@pytest.fixture(scope="session")
def fault_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node for the fault suite: 2 s / 2 s heartbeats, a long presence grace (no expiry
    during a run) and a history long enough to check a whole run."""
    proc = start_node(
        tmp_path_factory.mktemp("faults"),
        service={"store": "memory", "tick": 0.02, "grace": 120.0, "history_events": 50_000, "store_history_bytes": 0},
        ping_interval_ms=PING_INTERVAL_MS,
        ping_timeout_ms=PING_TIMEOUT_MS,
    )
    yield proc
    proc.stop()


@pytest.fixture
def proxy(fault_node: NodeProcess) -> Iterator[FaultProxy]:
    """A fault proxy in front of the node's WebSocket port."""
    p = FaultProxy(reactor, "127.0.0.1", fault_node.options.port).start()
    yield p
    p.stop()
