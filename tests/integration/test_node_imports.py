"""A node's router worker does not load the packages Crossbar imports and the node never
uses (``kasagi.lazy_imports``), and with the option off it does, as before."""

from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest

from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess

pytestmark = pytest.mark.node


def _router_maps(node: NodeProcess) -> str:
    assert node.proc is not None
    for child in psutil.Process(node.proc.pid).children(recursive=True):
        if "router" in " ".join(child.cmdline()):
            return Path(f"/proc/{child.pid}/maps").read_text()
    raise AssertionError("no router worker among the node's processes")


def _start(tmp_path: Path, lean_imports: bool) -> NodeProcess:
    port = free_port()
    options = NodeOptions(
        port=port,
        data_dir=tmp_path / f"node-{port}",
        loglevel="info",
        service={"store": "memory"},
        lean_imports=lean_imports,
    )
    return NodeProcess(options).start()


def test_router_worker_leaves_crossbars_unused_packages_unloaded(tmp_path: Path):
    """With the default options, numpy's extension is not mapped into the router worker, and
    the router's log says no deferred package but two light ones was loaded."""
    node = _start(tmp_path, lean_imports=True)
    try:
        assert "numpy" not in _router_maps(node)
        line = next(ln for ln in node.log_path.read_text().splitlines() if "router imports:" in ln)
        loaded = set(re.findall(r"; ([\w.]+) \(", line))
        assert loaded <= {"eth_abi", "xbr"}, line
        assert not loaded & {"numpy", "web3", "cfxdb", "crossbar.edge", "docker", "eth_account"}, line
    finally:
        node.stop()


def test_router_worker_loads_them_with_the_option_off(tmp_path: Path):
    """With ``lean_imports`` off, the router worker has numpy's extension mapped, as Crossbar
    imports it."""
    node = _start(tmp_path, lean_imports=False)
    try:
        assert "numpy" in _router_maps(node)
        assert any("router imports: nothing deferred" in ln for ln in node.log_path.read_text().splitlines())
    finally:
        node.stop()
