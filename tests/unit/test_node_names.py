"""The names the node's config gives its sessions: the checkout's top-level ``components``
and ``router`` packages, and ``kasagi._node.*`` when the node runs from the installed package."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from kasagi import node
from kasagi.node import NodeOptions, build_config, packaged_name

ROOT = Path(__file__).resolve().parents[2]


def _names(config: dict[str, Any]) -> list[str]:
    """Every component classname and authenticator function of ``config``."""
    found: list[str] = []
    for worker in config["workers"]:
        found.extend(c["classname"] for c in worker.get("components", ()) if "classname" in c)
        for transport in worker.get("transports", ()):
            found.extend(m["create"] for m in transport.get("auth", {}).values() if m.get("type") == "function")
    return found


def _options(tmp_path: Path, **kw: Any) -> NodeOptions:
    return NodeOptions(data_dir=tmp_path / "data", metrics_port=9100, **kw)


def test_the_node_packages_names_move_under_kasagi_node_and_others_stay() -> None:
    """``components.*`` and ``router.*`` become ``kasagi._node.components.*`` and
    ``kasagi._node.router.*``; every other name, and a bare or look-alike package, is unchanged."""
    assert packaged_name("components.room_service.RoomService") == "kasagi._node.components.room_service.RoomService"
    assert packaged_name("router.tuning.RouterTuning") == "kasagi._node.router.tuning.RouterTuning"
    others = ("kasagi.cluster.routers.WorkerSession", "examples.chase.Chase", "routers.x.Y", "components", "router.")
    for other in others:
        assert packaged_name(other) == other


def test_a_checkout_names_the_top_level_packages(tmp_path: Path) -> None:
    """A node built from the checkout names its sessions ``components.*`` and ``router.*``, as
    ``.crossbar/config.json`` does."""
    for component in ("router", "process"):
        names = _names(build_config(_options(tmp_path, component=component), ROOT))
        assert "components.room_service.RoomService" in names
        assert "router.backend_auth.create_authenticator" in names
        assert not any(n.startswith("kasagi._node.") for n in names)


def test_an_installed_package_names_its_own_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node built from the installed package's files names every session and the backend
    authenticator under ``kasagi._node``, the raw baseline chosen by name included."""
    data = tmp_path / "package_data"
    (data / "web").mkdir(parents=True)
    shutil.copyfile(ROOT / ".crossbar" / "config.json", data / "config.json")
    monkeypatch.setattr(node, "project_root", lambda: tmp_path / "not_a_checkout")
    monkeypatch.setattr(node, "PACKAGE_DATA", data)
    assert node.NodeFiles.find().checkout is None
    for component in ("router", "process"):
        options = _options(tmp_path, component=component, service_class="components.raw_baseline.RawBaseline")
        names = _names(build_config(options))
        assert sorted(names) == [
            "kasagi._node.components.raw_baseline.RawBaseline",
            "kasagi._node.router.authenticator.TicketAuthenticator",
            "kasagi._node.router.authorizer.ClientAuthorizer",
            "kasagi._node.router.backend_auth.create_authenticator",
            "kasagi._node.router.client_limits.ClientLimits",
            "kasagi._node.router.metrics.RouterMetrics",
            "kasagi._node.router.tuning.RouterTuning",
        ]


def test_the_node_sessions_import_each_other_relatively() -> None:
    """Modules of ``components/`` and ``router/`` name each other relatively, so the wheel's
    copies under ``kasagi._node`` import as the checkout's do."""
    import ast

    for package in ("components", "router"):
        for path in sorted((ROOT / package).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for item in ast.walk(tree):
                if isinstance(item, ast.ImportFrom) and item.level == 0 and item.module:
                    assert item.module.split(".")[0] not in ("components", "router"), (path.name, item.module)
                if isinstance(item, ast.Import):
                    for alias in item.names:
                        assert alias.name.split(".")[0] not in ("components", "router"), (path.name, alias.name)


def test_a_pid_file_of_a_gone_node_is_cleared_and_a_live_ones_is_kept(tmp_path: Path) -> None:
    """A node killed with -9 leaves its pid file: the next start clears it when that process is
    gone, and keeps it while the process lives (Crossbar then refuses a second node)."""
    import json
    import os
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pid_file = tmp_path / "node.pid"
    pid_file.write_text(json.dumps({"pid": gone.pid}), encoding="utf-8")
    assert node.clear_stale_pid(pid_file) and not pid_file.exists()
    pid_file.write_text(json.dumps({"pid": os.getpid()}), encoding="utf-8")
    assert not node.clear_stale_pid(pid_file) and pid_file.exists()
    assert not node.clear_stale_pid(tmp_path / "absent.pid")
