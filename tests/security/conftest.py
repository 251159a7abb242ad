"""Real nodes for the security tests.

- ``secure_node``: secure mode (a secret in ``KASAGI_SECRET``), room service in the router
  worker, default limits, log level ``info`` (what ``kasagi up`` runs with).
- ``limits_node``: dev mode with small limits (action rate, members, state size) and 1 s
  pings, so each limit can be reached in a few calls.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kasagi.testing.node import NodeProcess
from tests.security.nodes import LIMITS, SECRET, start


@pytest.fixture(scope="session")
def secure_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = start(
        tmp_path_factory.mktemp("secure"), secret=SECRET, loglevel="info", service={"store": "memory", "tick": 0.005}
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def limits_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = start(
        tmp_path_factory.mktemp("limits"),
        secret=None,
        loglevel="info",
        service=LIMITS,
        ping_interval_ms=1000,
        ping_timeout_ms=1000,
    )
    yield proc
    proc.stop()
