"""Shared fixtures: a real Kasagi node (Crossbar) per test session, and options for heavy tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-heavy", action="store_true", default=False, help="also run tests marked heavy")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-heavy") or os.environ.get("KASAGI_HEAVY") == "1":
        return
    skip = pytest.mark.skip(reason="heavy: run with `make test-heavy` (or --run-heavy)")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


def start_node(tmp: Path, **options: object) -> NodeProcess:
    """Start a real node on a free port with a data dir under ``tmp``."""
    port = free_port()
    opts = NodeOptions(port=port, data_dir=tmp / f"node-{port}", loglevel="warn", **options)  # type: ignore[arg-type]
    return NodeProcess(opts).start()


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One node for the session: router + room service in the router worker, memory store."""
    proc = start_node(tmp_path_factory.mktemp("node"), service={"store": "memory", "tick": 0.01})
    yield proc
    proc.stop()
