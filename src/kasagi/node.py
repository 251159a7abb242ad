"""Deployment: turn ``.crossbar/config.json`` into a node for given options, and run it.

``.crossbar/config.json`` is the one source of the node's shape (roles, permissions,
transports, components); :func:`build_config` only fills in what the options decide
(port, directories, where the room service runs, its settings) and writes a copy into the
data directory, from which ``crossbar start`` runs.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kasagi.wire import Limits

__all__ = [
    "NodeFiles",
    "NodeOptions",
    "build_config",
    "crossbar_command",
    "load_template",
    "node_environment",
    "packaged_name",
    "probe_sockets",
    "project_root",
    "write_node_dir",
]


def project_root() -> Path:
    """The checkout this package runs from (it holds ``.crossbar/`` and ``web/``)."""
    return Path(__file__).resolve().parents[2]


#: Where an installed package keeps the node's files (copied there when the wheel is built:
#: ``setup.py``); a checkout has none and uses its own ``.crossbar/`` and ``web/``.
PACKAGE_DATA = Path(__file__).resolve().parent / "_node" / "data"


@dataclass(frozen=True)
class NodeFiles:
    """The files a node is made of: the config template and the web pages it serves."""

    template: Path
    web: Path
    #: The checkout they come from (on the node's ``sys.path``, for ``examples``), or None
    #: for an installed package.
    checkout: Path | None

    @classmethod
    def find(cls, root: Path | None = None) -> NodeFiles:
        """The checkout's files (``root``, or the one this package runs from, if it is one),
        else the installed package's."""
        checkout = root or project_root()
        if root is not None or (checkout / ".crossbar" / "config.json").is_file() or not PACKAGE_DATA.is_dir():
            return cls(checkout / ".crossbar" / "config.json", checkout / "web", checkout)
        return cls(PACKAGE_DATA / "config.json", PACKAGE_DATA / "web", None)


#: The node's top-level packages of a checkout (named so in ``.crossbar/config.json``) and
#: where the wheel holds them (``setup.py`` copies them there).
PACKAGED = {"components": "kasagi._node.components", "router": "kasagi._node.router"}


def packaged_name(name: str) -> str:
    """``name`` (a ``module.attribute`` of the config) as the installed package holds it:
    ``components.room_service.RoomService`` is ``kasagi._node.components.room_service.RoomService``,
    ``router.*`` likewise; any other name is unchanged."""
    top, dot, rest = name.partition(".")
    if dot and rest and top in PACKAGED:
        return f"{PACKAGED[top]}.{rest}"
    return name


def _use_packaged_names(config: dict[str, Any]) -> None:
    """Every component classname and authenticator function of ``config``, as the installed
    package holds them (:func:`packaged_name`)."""
    for worker in config["workers"]:
        for component in worker.get("components", ()):
            if "classname" in component:
                component["classname"] = packaged_name(component["classname"])
        for transport in worker.get("transports", ()):
            for method in transport.get("auth", {}).values():
                if isinstance(method, dict) and method.get("type") == "function":
                    method["create"] = packaged_name(method["create"])


def load_template(root: Path | None = None) -> dict[str, Any]:
    with NodeFiles.find(root).template.open(encoding="utf-8") as f:
        config: dict[str, Any] = json.load(f)
    return config


@dataclass(frozen=True)
class NodeOptions:
    """What ``kasagi up`` lets an operator choose."""

    port: int = 8080
    host: str = ""
    data_dir: Path = Path("data")
    #: Room service settings (see :class:`kasagi.service.settings.ServiceSettings`); the
    #: store defaults to ``sqlite`` in ``data_dir``.
    service: Mapping[str, Any] = field(default_factory=dict)
    #: ``router``: the room service runs inside the router worker (fastest, the default);
    #: ``process``: in its own container worker process, connected over the backend socket.
    #: If any worker dies, Crossbar stops the whole node (``shutdown_on_worker_exit``), so a
    #: supervisor (or a test) starts it again as a whole.
    component: str = "router"
    #: ``--room-type package.module:ClassName`` specs (beyond built-ins and entry points).
    room_types: tuple[str, ...] = ()
    #: The directory added to ``sys.path`` (after the node's own packages) to load
    #: ``room_types`` (the app's checkout).
    app_dir: str | None = None
    #: The room service's class (``module.Class``); None: the template's RoomService. The
    #: benchmark's raw baseline (``components.raw_baseline.RawBaseline``) is chosen here; an
    #: installed package runs ``components.*``/``router.*`` names from ``kasagi._node``.
    service_class: str | None = None
    #: Serializer of the backend leg (component="process"): ``msgpack`` or ``cbor``.
    backend_serializer: str = "msgpack"
    #: ``all``: router and room service (the single-node default); ``router``: the router
    #: only, for room-service workers that join it over ``backend_port`` (``kasagi up --role
    #: worker`` runs those, see :mod:`kasagi.cluster.process`).
    role: str = "all"
    #: A TCP rawsocket endpoint for workers on other hosts (0: none; the Unix socket only).
    backend_port: int = 0
    backend_host: str = "127.0.0.1"
    #: Serve ``/metrics`` and ``/health/live|ready`` of the router worker here (0: off).
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    loglevel: str = "info"
    #: Skip Crossbar's evaluation of debug log arguments on the hot path (only when the log
    #: level is not debug; see ``router/tuning.py``).
    skip_debug_log_args: bool = True
    #: Send on the router's WebSocket connections at once when nothing is buffered, instead
    #: of through the reactor's next write pass (``router/direct_writes.py``).
    direct_writes: bool = True
    #: Build a message's WebSocket frame once and write it to every client it goes to, instead
    #: of once per client (``router/shared_frames.py``).
    shared_frames: bool = True
    #: Unmask clients' small WebSocket frames with one integer XOR instead of a native masker
    #: built per frame (``router/unmasking.py``).
    quick_unmasking: bool = True
    #: Seconds a thread may hold the interpreter while another waits for it, in the router
    #: worker (``router/tuning.py``: the store's writer thread behind a busy reactor); 0:
    #: Python's default (5 ms).
    switch_interval: float = 0.001
    #: Refuse clients' ``act`` calls in the router, before routing, while the room service of
    #: the router worker is backlogged (``router/early_refusal.py``).
    early_refusal: bool = True
    #: Answer clients' ``act`` calls in the router session that read them, calling the room
    #: service of the router worker directly instead of through Crossbar's dealer
    #: (``router/local_calls.py``).
    local_calls: bool = True
    #: Client connections keep less in the router worker (``router/lean_connections.py``).
    lean_connections: bool = True
    #: Run the node's Python with ``-O`` (PYTHONOPTIMIZE=1): skips the ~450 ``assert``
    #: statements on the path of every routed message (Autobahn's message classes).
    python_optimize: bool = False
    #: Freeze the router's startup objects out of the garbage collector (``router/tuning.py``):
    #: shorter full collections, a p99 latency about half as long (BENCHMARKS.md).
    gc_freeze: bool = True
    #: Every so many seconds, collect and freeze the router's young objects (0: never; see
    #: ``router.tuning.refreeze_young`` for the trade-off).
    gc_refreeze_every: float = 0.0
    #: Log the router's garbage-collection pauses every so many seconds (0: never).
    gc_report_every: float = 0.0
    #: Defer, in every process of the node, the packages Crossbar imports and the node never
    #: uses (the Ethereum/XBR stack, numpy, docker, the edge personality): about 50 MB less
    #: per router worker (:mod:`kasagi.lazy_imports`, BENCHMARKS.md).
    lean_imports: bool = True
    secure: bool = False
    #: Router processes sharing the public port (``SO_REUSEPORT``: the kernel spreads the
    #: connections). 1: the single node, the room service inside the router worker. More: the
    #: routers of one Crossbar node and ``room_workers`` room-service processes joined to all
    #: of them, ownership decided by leases in ``<data_dir>/leases.sqlite3`` (or the store's
    #: Redis); see ``docs/scaling.md``, "Every core of one machine".
    routers: int = 1
    #: Room-service processes when ``routers`` > 1 (0: as many as routers).
    room_workers: int = 0
    ping_interval_ms: int = 10_000
    ping_timeout_ms: int = 10_000
    #: The largest message a client may send (the router's incoming limit) ...
    max_message_size: int = Limits.INCOMING_MESSAGE_BYTES
    #: ... and the largest the router sends (``docs/protocol.md``, Limits).
    max_outgoing_message_size: int = Limits.OUTGOING_MESSAGE_BYTES
    #: Bytes the router holds unsent for one client before closing it (``router/backpressure.py``; 0: no limit).
    max_client_buffer: int = 4_194_304
    #: Router sessions one member may hold, subscriptions one session may hold (0: no limit).
    max_sessions_per_member: int = 100
    max_subscriptions_per_session: int = 500


def _router(config: dict[str, Any]) -> dict[str, Any]:
    for worker in config["workers"]:
        if worker["type"] == "router":
            return worker  # type: ignore[no-any-return]
    raise ValueError("the node config has no router worker")


def build_config(options: NodeOptions, root: Path | None = None) -> dict[str, Any]:
    """The node configuration for ``options`` (a modified copy of the template)."""
    files = NodeFiles.find(root)
    config = copy.deepcopy(load_template(root))
    router = _router(config)
    # The node's processes import this very package (and a checkout's ``examples``).
    pythonpath = [str(Path(__file__).resolve().parents[1])]
    if files.checkout is not None:
        pythonpath = [str(files.checkout), str(files.checkout / "src"), *pythonpath]
    router["options"]["pythonpath"] = pythonpath
    data_dir = options.data_dir.resolve()
    _set_transports(router["transports"], options, files, data_dir)
    components = router["components"]
    if options.metrics_port:
        components.append(
            {
                "id": "metrics",
                "type": "class",
                "classname": "router.metrics.RouterMetrics",
                "realm": "kasagi",
                "role": "monitor",
                "extra": {"port": options.metrics_port, "host": options.metrics_host},
            }
        )
    rooms = _component(components, "rooms")
    _set_rooms(rooms, options, data_dir)
    _component(components, "authenticator")["extra"]["secure"] = options.secure
    _set_tuning(_component(components, "tuning"), options)
    limits = _component(components, "limits")["extra"]
    limits["max_client_buffer"] = options.max_client_buffer
    limits["max_sessions_per_member"] = options.max_sessions_per_member
    _component(components, "authorizer")["extra"]["max_subscriptions_per_session"] = (
        options.max_subscriptions_per_session
    )
    _place_rooms(config, components, rooms, options, pythonpath, data_dir)
    if options.routers > 1:
        _many_routers(config, rooms, options, data_dir)
    if files.checkout is None:
        _use_packaged_names(config)
    return config


def _component(components: list[dict[str, Any]], component_id: str) -> dict[str, Any]:
    return next(c for c in components if c["id"] == component_id)


def _set_transports(transports: list[dict[str, Any]], options: NodeOptions, files: NodeFiles, data_dir: Path) -> None:
    """The public WebSocket transport's port and limits, the backend socket, and the backend's
    TCP twin when ``options.backend_port`` asks for one."""
    for transport in transports:
        if transport["id"] == "public":
            transport["endpoint"]["port"] = options.port
            if options.host:
                transport["endpoint"]["interface"] = options.host
            transport["paths"]["/"]["directory"] = str(files.web)
            ws = transport["paths"]["ws"]["options"]
            ws["auto_ping_interval"] = options.ping_interval_ms
            ws["auto_ping_timeout"] = options.ping_timeout_ms
            ws["max_message_size"] = options.max_message_size
            ws["max_frame_size"] = options.max_message_size
        elif transport["id"] == "backend":
            transport["endpoint"]["path"] = str(data_dir / "backend.sock")
            transport["serializers"] = [options.backend_serializer]
    backend = next(t for t in transports if t["id"] == "backend")
    if options.backend_port:
        tcp = copy.deepcopy(backend)
        tcp["id"] = "backend_tcp"
        tcp["endpoint"] = {
            "type": "tcp",
            "port": options.backend_port,
            "interface": options.backend_host,
            "backlog": 1024,
        }
        transports.append(tcp)


def _set_rooms(rooms: dict[str, Any], options: NodeOptions, data_dir: Path) -> None:
    """The room service component's class and settings."""
    if options.service_class:
        rooms["classname"] = options.service_class
    service = dict(options.service)
    # The embedded store lives in the data directory unless the options say otherwise.
    service.setdefault("store", "sqlite")
    service["data_dir"] = str(data_dir)
    rooms["extra"]["service"] = service
    # Room types beyond the built-ins, loaded by the room service (kasagi.service.room_types).
    rooms["extra"]["room_types"] = list(options.room_types)
    rooms["extra"]["app_dir"] = str(Path(options.app_dir).resolve()) if options.app_dir else None
    if options.metrics_port and options.component == "router":
        rooms["extra"]["metrics"] = True  # served by the router's metrics component, same process


def _set_tuning(tuning: dict[str, Any], options: NodeOptions) -> None:
    tuning["extra"]["skip_debug_log_args"] = options.skip_debug_log_args and options.loglevel != "debug"
    tuning["extra"]["direct_writes"] = options.direct_writes
    tuning["extra"]["shared_frames"] = options.shared_frames
    tuning["extra"]["quick_unmasking"] = options.quick_unmasking
    tuning["extra"]["switch_interval"] = options.switch_interval
    tuning["extra"]["early_refusal"] = options.early_refusal
    tuning["extra"]["local_calls"] = options.local_calls
    tuning["extra"]["lean_connections"] = options.lean_connections
    tuning["extra"]["gc_freeze"] = options.gc_freeze
    tuning["extra"]["gc_report_every"] = options.gc_report_every
    tuning["extra"]["gc_refreeze_every"] = options.gc_refreeze_every
    tuning["extra"]["max_outgoing_message_size"] = options.max_outgoing_message_size


def _place_rooms(
    config: dict[str, Any],
    components: list[dict[str, Any]],
    rooms: dict[str, Any],
    options: NodeOptions,
    pythonpath: list[str],
    data_dir: Path,
) -> None:
    """Where the room service runs: in the router worker (as the template has it), in a
    container worker of its own (``component="process"``), or nowhere (``role="router"``)."""
    if options.role == "router":
        components.remove(rooms)
    elif options.role != "all":
        raise ValueError(f"role must be all or router (workers run without Crossbar), not {options.role!r}")
    elif options.component == "process":
        components.remove(rooms)
        config["workers"].append(_rooms_worker(rooms, options, pythonpath, data_dir))
    elif options.component != "router":
        raise ValueError(f"component must be router or process, not {options.component!r}")


def probe_sockets(options: NodeOptions) -> list[Path]:
    """The Unix sockets at which each router of a many-router node answers WebSocket clients
    on its own (the public port lands on any of them): the readiness check reaches every
    router through these. Empty for a single router."""
    if options.routers <= 1:
        return []
    data_dir = options.data_dir.resolve()
    return [data_dir / f"router{k}.sock" for k in range(1, options.routers + 1)]


def _many_routers(config: dict[str, Any], rooms: dict[str, Any], options: NodeOptions, data_dir: Path) -> None:
    """``options.routers`` copies of the router worker on one shared public port, and the
    room-service workers joined to every one of them (Crossbar guest workers running
    :mod:`kasagi.cluster.local`).

    A router that dies no longer stops the node (the others keep serving, its clients
    reconnect to them); the node stops when it is asked to."""
    if options.role != "all" or options.component != "router" or options.backend_port:
        raise ValueError("several routers run with role all, the default component and no backend port")
    template = _router(config)
    template["components"] = [c for c in template["components"] if c["id"] != "rooms"]
    config["workers"] = [w for w in config["workers"] if w is not template]
    routers = []
    for k in range(1, options.routers + 1):
        router = copy.deepcopy(template)
        router["id"] = f"router{k}"
        router["options"]["title"] = f"kasagi router {k}"
        for transport in router["transports"]:
            if transport["id"] == "public":
                transport["endpoint"]["shared"] = True
                probe = copy.deepcopy(transport)
                probe["id"] = "probe"
                probe["endpoint"] = {"type": "unix", "path": str(data_dir / f"router{k}.sock")}
            elif transport["id"] == "backend":
                transport["endpoint"]["path"] = str(data_dir / f"backend{k}.sock")
        router["transports"].append(probe)
        for component in router["components"]:
            if component["id"] == "metrics":
                component["extra"]["port"] = options.metrics_port + k - 1
        routers.append(router)
    workers = options.room_workers or options.routers
    guests = [_room_worker_guest(rooms, options, data_dir, j, workers) for j in range(1, workers + 1)]
    config["workers"] = [*routers, *guests, *config["workers"]]
    config["controller"].setdefault("options", {})["shutdown"] = ["shutdown_on_shutdown_requested"]


def _room_worker_guest(
    rooms: dict[str, Any], options: NodeOptions, data_dir: Path, index: int, count: int
) -> dict[str, Any]:
    """Room-service worker ``index`` of a many-router node: every router's backend socket,
    the node's store, leases in the data directory unless the store is Redis."""
    service = dict(rooms["extra"]["service"])
    store = str(service.get("store", "sqlite"))
    worker = {
        "routers": [f"unix:{data_dir / f'backend{k}.sock'}" for k in range(1, options.routers + 1)],
        "service": service,
        "coordination": "" if store.startswith("redis://") else f"sqlite:{data_dir / 'leases.sqlite3'}",
        "name": f"rooms{index}",
        "metrics_port": options.metrics_port + options.routers + index - 1 if options.metrics_port else 0,
        "metrics_host": options.metrics_host,
        "room_types": list(options.room_types),
        "app_dir": rooms["extra"]["app_dir"],
        "loglevel": options.loglevel,
        "workers": count,
    }
    return {
        "type": "guest",
        "id": f"rooms{index}",
        "executable": sys.executable,
        "arguments": ["-m", "kasagi.cluster.local", json.dumps(worker, sort_keys=True)],
        "options": {"workdir": rooms["extra"]["app_dir"] or str(data_dir), "stdout": "log", "stderr": "log"},
    }


def _rooms_worker(rooms: dict[str, Any], options: NodeOptions, pythonpath: list[str], data_dir: Path) -> dict[str, Any]:
    """A container worker running the room service, joined to the router over the backend socket."""
    return {
        "type": "container",
        "id": "rooms1",
        "options": {"pythonpath": pythonpath, "title": "kasagi rooms"},
        "components": [
            {
                "id": "rooms",
                "type": "class",
                "classname": rooms["classname"],
                "realm": rooms["realm"],
                "transport": {
                    "type": "rawsocket",
                    "endpoint": {"type": "unix", "path": str(data_dir / "backend.sock")},
                    "serializer": options.backend_serializer,
                },
                "extra": {**rooms["extra"], "authid": "kasagi_backend", "secret_env": "KASAGI_BACKEND_SECRET"},
            }
        ],
    }


def write_node_dir(options: NodeOptions, root: Path | None = None) -> Path:
    """Write the node's cbdir under the data directory; return it."""
    cbdir = options.data_dir.resolve() / "node"
    cbdir.mkdir(parents=True, exist_ok=True)
    (cbdir / "config.json").write_text(json.dumps(build_config(options, root), indent=2), encoding="utf-8")
    clear_stale_pid(cbdir / "node.pid")
    return cbdir


def clear_stale_pid(pid_file: Path) -> bool:
    """Remove the pid file a killed node left behind when its process is gone or a zombie
    (a node killed with -9 whose parent died too is never reaped where no init reaps:
    Crossbar then refuses to start, taking the zombie for a running node). A pid file of a
    live process is kept, so Crossbar still refuses a second node on one data directory.
    Returns whether it was removed."""
    import psutil

    try:
        pid = int(json.loads(pid_file.read_text(encoding="utf-8"))["pid"])
    except FileNotFoundError:
        return False
    except (ValueError, KeyError, TypeError):
        pid = -1  # not a pid file Crossbar wrote: nothing it could protect
    try:
        alive = pid > 0 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        alive = False
    if alive:
        return False
    pid_file.unlink(missing_ok=True)
    return True


def node_environment(base: Mapping[str, str], options: NodeOptions | None = None) -> dict[str, str]:
    """The environment of the node: a fresh backend secret unless one is given, and the
    start-up directory that defers unused imports (``options.lean_imports``, the default)."""
    env = dict(base)
    env.setdefault("KASAGI_BACKEND_SECRET", secrets.token_urlsafe(32))
    if options is None or options.lean_imports:
        # Its sitecustomize installs kasagi.lazy_imports at the start of every node process
        # (Crossbar's workers inherit the controller's path).
        site = str(Path(__file__).resolve().with_name("_site"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH", "")) if p)
    if options is not None and options.python_optimize:
        env["PYTHONOPTIMIZE"] = "1"
    return env


def crossbar_command(cbdir: Path, loglevel: str) -> list[str]:
    """``crossbar start`` for ``cbdir``: the ``crossbar`` script beside this Python, or the
    same entry point through this Python when there is no such script."""
    exe = Path(sys.executable).with_name("crossbar")
    args = ["start", "--cbdir", str(cbdir), "--loglevel", loglevel]
    if exe.is_file():
        return [str(exe), *args]
    return [sys.executable, "-c", "import sys, crossbar; sys.argv[0] = 'crossbar'; sys.exit(crossbar.run())", *args]
