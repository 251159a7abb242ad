"""Where new rooms go, and what each deployment role's node configuration contains."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kasagi.cluster.leases import WorkerInfo
from kasagi.cluster.placement import choose_worker
from kasagi.node import NodeOptions, build_config


def table(**loads: int) -> dict[str, WorkerInfo]:
    return {w: WorkerInfo(w, True, {"rooms": n, "sessions": 0}) for w, n in loads.items()}


def test_the_less_loaded_of_two_workers_takes_a_new_room():
    """With two live workers the idler one is chosen, whichever asks."""
    workers = table(w1=10, w2=3)
    assert choose_worker(workers, "w1", random.Random(1)) == "w2"
    assert choose_worker(workers, "w2", random.Random(1)) == "w2"


def test_a_lone_worker_or_a_tie_keeps_the_room():
    """With nobody else alive (or an equal load) the asking worker takes the room itself."""
    assert choose_worker({}, "w1", random.Random(1)) == "w1"
    assert choose_worker(table(w1=4, w2=4), "w2", random.Random(1)) == "w2"
    dead = {"w2": WorkerInfo("w2", False, {"rooms": 0})}
    assert choose_worker(dead, "w1", random.Random(1)) == "w1"


def test_a_burst_of_placements_spreads_instead_of_piling_on_the_idlest():
    """Placing many rooms from a stale table spreads them over every worker (two choices plus
    the placements already made), not all onto the one that looked idlest."""
    workers = table(w1=0, w2=0, w3=0, w4=0)
    placed: dict[str, float] = {}
    rng = random.Random(3)
    for _ in range(400):
        target = choose_worker(workers, "w1", rng, placed)
        placed[target] = placed.get(target, 0) + 1
    assert max(placed.values()) - min(placed.values()) <= 40, placed


def test_handover_chooses_among_the_others_only():
    """A worker handing its rooms over never chooses itself while another is alive."""
    workers = table(w1=0, w2=50)
    assert choose_worker(workers, "w1", random.Random(1), include_me=False) == "w2"


def test_router_role_has_no_room_service_but_a_backend_for_workers_and_metrics(tmp_path: Path):
    """kasagi up --role router: no rooms component, a TCP backend transport, the metrics component."""
    config = build_config(NodeOptions(data_dir=tmp_path, role="router", backend_port=9081, metrics_port=9100))
    router = next(w for w in config["workers"] if w["type"] == "router")
    ids = [c["id"] for c in router["components"]]
    assert "rooms" not in ids and "metrics" in ids
    tcp = next(t for t in router["transports"] if t["id"] == "backend_tcp")
    assert tcp["endpoint"] == {"type": "tcp", "port": 9081, "interface": "127.0.0.1", "backlog": 1024}
    assert tcp["auth"] == next(t for t in router["transports"] if t["id"] == "backend")["auth"]
    assert len([w for w in config["workers"] if w["type"] == "container"]) == 0


def test_default_role_is_unchanged_and_unknown_roles_are_refused(tmp_path: Path):
    """The single-node default keeps the room service in the router worker and opens no TCP
    backend; a role that is not all/router is refused."""
    config = build_config(NodeOptions(data_dir=tmp_path))
    router = next(w for w in config["workers"] if w["type"] == "router")
    assert "rooms" in [c["id"] for c in router["components"]]
    assert [t["id"] for t in router["transports"]] == ["public", "backend"]
    assert "metrics" not in router["components"][-1]["extra"]
    with pytest.raises(ValueError, match="role"):
        build_config(NodeOptions(data_dir=tmp_path, role="worker"))
