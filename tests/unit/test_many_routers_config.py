"""What ``kasagi up --routers N`` puts into the node configuration, and the options it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kasagi.cli import build_parser
from kasagi.cluster.local import worker_options
from kasagi.node import NodeOptions, build_config, probe_sockets
from kasagi.startup import StartupError, check_options, router_count


def _workers(config: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [w for w in config["workers"] if w["type"] == kind]


def _by_id(items: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    return next(i for i in items if i["id"] == item_id)


def test_one_router_is_exactly_the_single_node(tmp_path: Path) -> None:
    """--routers 1 builds the very configuration of today's single node."""
    assert build_config(NodeOptions(data_dir=tmp_path, routers=1)) == build_config(NodeOptions(data_dir=tmp_path))
    assert probe_sockets(NodeOptions(data_dir=tmp_path)) == []


def test_routers_share_the_public_port_and_have_their_own_sockets(tmp_path: Path) -> None:
    """Each of N routers listens on the shared public port, a probe socket and a backend socket of its own."""
    config = build_config(NodeOptions(port=9100, data_dir=tmp_path, routers=3))
    routers = _workers(config, "router")
    assert [r["id"] for r in routers] == ["router1", "router2", "router3"]
    for k, router in enumerate(routers, start=1):
        transports = router["transports"]
        public = _by_id(transports, "public")
        assert public["endpoint"]["port"] == 9100 and public["endpoint"]["shared"] is True
        assert _by_id(transports, "probe")["endpoint"] == {"type": "unix", "path": str(tmp_path / f"router{k}.sock")}
        assert _by_id(transports, "backend")["endpoint"]["path"] == str(tmp_path / f"backend{k}.sock")
        assert all(c["id"] != "rooms" for c in router["components"]), "no room service inside a router"
    assert config["controller"]["options"]["shutdown"] == ["shutdown_on_shutdown_requested"]
    assert probe_sockets(NodeOptions(data_dir=tmp_path, routers=3)) == [tmp_path / f"router{k}.sock" for k in (1, 2, 3)]


def test_room_workers_join_every_router_with_leases_beside_the_store(tmp_path: Path) -> None:
    """Each room-service worker joins every router's backend socket, with the node's settings and SQLite leases."""
    options = NodeOptions(data_dir=tmp_path, routers=2, room_workers=3, service={"tick": 0.05}, metrics_port=9400)
    guests = _workers(build_config(options), "guest")
    assert [g["id"] for g in guests] == ["rooms1", "rooms2", "rooms3"]
    specs = [json.loads(g["arguments"][-1]) for g in guests]
    assert guests[0]["arguments"][:2] == ["-m", "kasagi.cluster.local"]
    for j, spec in enumerate(specs, start=1):
        worker = worker_options(spec, "s" * 32)
        assert worker.routers == (f"unix:{tmp_path / 'backend1.sock'}", f"unix:{tmp_path / 'backend2.sock'}")
        assert worker.coordination == f"sqlite:{tmp_path / 'leases.sqlite3'}"
        assert worker.service["tick"] == 0.05 and worker.service["store"] == "sqlite"
        assert worker.metrics_port == 9400 + 2 + j - 1
    metrics = [_by_id(r["components"], "metrics")["extra"]["port"] for r in _workers(build_config(options), "router")]
    assert metrics == [9400, 9401]


def test_a_redis_store_keeps_the_leases_in_redis(tmp_path: Path) -> None:
    """With a Redis store the room workers take their leases from the store's Redis, as a cluster does."""
    options = NodeOptions(data_dir=tmp_path, routers=2, service={"store": "redis://127.0.0.1:6379/0"})
    spec = json.loads(_workers(build_config(options), "guest")[0]["arguments"][-1])
    assert spec["coordination"] == ""


def test_auto_is_one_router_per_core() -> None:
    """--routers auto counts the cores this process may run on; a number is taken as it is."""
    assert router_count("auto") >= 1
    assert router_count("4") == 4


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--routers", "0"], "kasagi: --routers: got '0', expected a number of router processes >= 1, or auto"),
        (["--routers", "many"], "kasagi: --routers: got 'many', expected a number of router processes"),
        (["--routers", "2", "--role", "router"], "kasagi: --routers: got 2, expected 1 with --role router"),
        (["--routers", "2", "--component", "process"], "kasagi: --component: got process, expected router with"),
        (["--routers", "2", "--backend-port", "9555"], "kasagi: --backend-port: got 9555, expected 0 with --routers"),
        (["--routers", "2", "--store", "memory"], "kasagi: --store: got 'memory', expected a store the 2 room-service"),
    ],
)
def test_options_several_routers_can_not_work_with_are_refused(argv: list[str], line: str) -> None:
    """Each option a many-router node can not honour stops kasagi up with one line naming it."""
    args = build_parser().parse_args(["up", *argv])
    with pytest.raises(StartupError) as info:
        check_options(args, {})
    assert str(info.value).startswith(line)


def test_a_memory_store_is_fine_with_one_room_worker() -> None:
    """--store memory with several routers is accepted when one room-service process holds every room."""
    check_options(build_parser().parse_args(["up", "--routers", "2", "--store", "memory", "--room-workers", "1"]), {})
