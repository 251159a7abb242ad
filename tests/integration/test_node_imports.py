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


def _maps(node: NodeProcess, title: str) -> str:
    """The memory map of the node's process titled ``title`` (its first command-line word;
    a substring match could also hit a command line holding the test's temporary path)."""
    assert node.proc is not None
    root = psutil.Process(node.proc.pid)
    for proc in (root, *root.children(recursive=True)):
        if proc.cmdline()[:1] == [title]:
            return Path(f"/proc/{proc.pid}/maps").read_text()
    raise AssertionError(f"no {title} among the node's processes")


def _router_maps(node: NodeProcess) -> str:
    return _maps(node, "kasagi router")


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
        unused = {"numpy", "web3", "cfxdb", "crossbar.edge", "docker", "eth_account", "txtorcon", "treq", "yapf"}
        assert not loaded & unused, line
    finally:
        node.stop()


def test_controller_makes_the_node_key_without_the_xbr_market_stack(tmp_path: Path):
    """The controller makes and loads the node's keys (an Ethereum key among them) with
    ``xbr._secmod`` alone: numpy, which xbr's package imports for its market stack, is not
    mapped into it, and the node still serves."""
    node = _start(tmp_path, lean_imports=True)
    try:
        assert any(node.options.data_dir.rglob("key.priv"))
        assert "numpy" not in _maps(node, "crossbar-controller")
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
