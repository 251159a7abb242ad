"""The ``kasagi`` command: ``up`` runs a node, ``token`` mints a client ticket, ``bench`` runs
the benchmark.

The benchmark is tooling (:mod:`kasagi.bench`), not product: ``kasagi bench`` hands its
arguments to it unparsed, and :func:`cmd_bench` is the one place the product imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twisted.logger import ILogObserver

    from kasagi.node import NodeOptions

__all__ = ["build_parser", "main", "node_options"]


def _service_settings(args: argparse.Namespace) -> dict[str, object]:
    service: dict[str, object] = {}
    names = ("tick", "hash_every", "grace", "store", "beacon", "room_idle")
    limits = ("action_rate", "action_burst", "max_members", "max_rooms", "max_state_bytes", "max_rooms_per_member")
    budgets = (
        "max_event_bytes",
        "max_catchup_bytes",
        "history_bytes",
        "history_process_bytes",
        "store_history_bytes",
        "snapshot_bytes",
        "max_tick",
        "overload_lag",
        "overload_delay",
        "max_in_flight",
        "max_room_pending",
        "match_rate",
        "match_burst",
        "open_rate",
        "open_burst",
        "reservation_ttl",
        "lobby_page",
    )
    for name in names + limits + budgets:
        value = getattr(args, name, None)
        if value is not None:
            service[name] = value
    return service


def cmd_worker(args: argparse.Namespace) -> int:
    from kasagi.cluster.process import WorkerOptions, run_worker

    secret = os.environ.get("KASAGI_BACKEND_SECRET", "")
    from twisted.logger import globalLogBeginner, jsonFileLogObserver, textFileLogObserver

    if args.log_format == "json":
        observer = jsonFileLogObserver(sys.stdout, recordSeparator="")  # one JSON object per line
    else:
        observer = textFileLogObserver(sys.stdout)
    globalLogBeginner.beginLoggingTo([_level_filter(observer, args.loglevel)], redirectStandardIO=False)
    options = WorkerOptions(
        routers=tuple(args.router),
        service=_service_settings(args),
        secret=secret,
        coordination=args.coordination or "",
        name=args.worker_name or "",
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        lease_ttl=args.lease_ttl,
        heartbeat=args.heartbeat,
        room_types=tuple(args.room_type),
        app_dir=os.getcwd(),
    )
    if _room_types_problem(options.room_types, options.app_dir):
        return 2
    return run_worker(options)


def _room_types(specs: Sequence[str], app_dir: str | None) -> tuple[str, ...] | None:
    """Load the room types as the room service will: their names, or None (the problem is
    printed)."""
    from kasagi.service.room_types import RoomTypeError, load_room_types

    try:
        types = load_room_types(specs, app_dir)
    except RoomTypeError as exc:
        print(f"kasagi: --room-type: {exc}", file=sys.stderr)
        return None
    return tuple(sorted(types))


def _room_types_problem(specs: Sequence[str], app_dir: str | None) -> bool:
    """Load the room types (a worker); print them, or the problem (True)."""
    types = _room_types(specs, app_dir)
    if types is None:
        return True
    print("kasagi: room types " + ", ".join(types), flush=True)
    return False


def _level_filter(observer: ILogObserver, level: str) -> ILogObserver:
    from twisted.logger import FilteringLogObserver, LogLevel, LogLevelFilterPredicate

    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    return FilteringLogObserver(observer, [predicate])


def node_options(args: argparse.Namespace, secure: bool) -> NodeOptions:
    """The node ``kasagi up`` runs for these arguments."""
    from kasagi.node import NodeOptions
    from kasagi.startup import default_host, router_count

    return NodeOptions(
        routers=router_count(args.routers) if args.role == "all" else 1,
        room_workers=args.room_workers,
        port=args.port,
        host=default_host(args, {"KASAGI_SECRET": "x"} if secure else {}),
        data_dir=Path(args.data_dir),
        service=_service_settings(args),
        component=args.component,
        role=args.role,
        backend_port=args.backend_port,
        backend_host=args.backend_host,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        loglevel=args.loglevel,
        secure=secure,
        ping_interval_ms=round(args.ping_interval * 1000),
        ping_timeout_ms=round(args.ping_timeout * 1000),
        room_types=tuple(args.room_type),
        app_dir=os.getcwd(),
        max_client_buffer=args.max_client_buffer,
        max_sessions_per_member=args.max_sessions_per_member,
        max_subscriptions_per_session=args.max_subscriptions,
        max_outgoing_message_size=args.max_outgoing_message_size,
    )


def cmd_up(args: argparse.Namespace) -> int:
    from kasagi.startup import StartupError, check_options, check_resources

    try:
        check_options(args, os.environ)
        check_resources(args, os.environ)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.role == "worker":
        return cmd_worker(args)
    options = node_options(args, secure=args.secure or bool(os.environ.get("KASAGI_SECRET")))
    types: tuple[str, ...] = ()
    if args.role != "router":
        found = _room_types(options.room_types, options.app_dir)
        if found is None:
            return 2
        types = found
    problem = _store_problem(options)
    if problem is not None:
        print(f"kasagi: --store: the room store can't be used: {problem}", file=sys.stderr)
        return 2
    return _run_node(args, options, types)


def _run_node(args: argparse.Namespace, options: NodeOptions, types: tuple[str, ...]) -> int:
    from kasagi import __version__
    from kasagi.banner import Banner
    from kasagi.node import crossbar_command, node_environment, probe_sockets, write_node_dir
    from kasagi.readiness import room_service_answers, room_service_answers_at, websocket_answers
    from kasagi.store.factory import describe_store, sqlite_path
    from kasagi.supervise import NodeRun, run_node, say

    cbdir = write_node_dir(options)
    env = node_environment(os.environ)
    spec = str(options.service.get("store", "sqlite"))
    path = sqlite_path(spec, options.data_dir.resolve())
    store = f"sqlite {path} (durable)" if path is not None else describe_store(spec)
    store += " (lost on exit)" if spec == "memory" else ""
    probe_host = "127.0.0.1" if options.host in ("", "0.0.0.0") else options.host  # noqa: S104 -- naming it
    metrics = None
    if options.metrics_port:
        metrics = f"http://{options.metrics_host}:{options.metrics_port}/metrics (and /health/live, /health/ready)"
    json_lines = args.log_format == "json"
    log_path = cbdir / "node.log"
    banner = Banner(
        version=__version__,
        host=options.host,
        port=options.port,
        secure=options.secure,
        host_given=args.host is not None,
        store=store,
        room_types=types,
        serves_rooms=options.role != "router",
        metrics=metrics,
        log=None if json_lines else log_path,
        processes=_processes(options),
    )
    ticket = _probe_ticket(env)
    routers = probe_sockets(options)

    def ready() -> bool:
        if options.role == "router":
            return websocket_answers(probe_host, options.port)
        if routers:  # every router, each through its own socket
            return websocket_answers(probe_host, options.port) and all(
                room_service_answers_at(str(path), ticket) for path in routers
            )
        return websocket_answers(probe_host, options.port) and room_service_answers(probe_host, options.port, ticket)

    command = crossbar_command(cbdir, args.loglevel)
    if json_lines:
        start = command.index("start")
        command = [sys.executable, "-m", "kasagi._node.jsonlog", *command[start:]]
    for line in banner.lines():
        say(line, json_lines=json_lines)
    run = NodeRun(
        command=command,
        env=env,
        log_path=log_path,
        echo=args.loglevel == "debug" or json_lines,
        json_lines=json_lines,
        ready=ready,
    )
    return run_node(run, lambda seconds: say(banner.ready(seconds), json_lines=json_lines, event="ready"))


def _processes(options: NodeOptions) -> str | None:
    """The banner's line on a many-router node (None: the single node)."""
    if options.routers <= 1:
        return None
    workers = options.room_workers or options.routers
    spec = str(options.service.get("store", "sqlite"))
    leases = "the store's Redis" if spec.startswith("redis://") else f"{options.data_dir.resolve() / 'leases.sqlite3'}"
    line = f"{options.routers} routers sharing port {options.port}, {workers} room-service workers (leases: {leases})"
    if options.metrics_port:
        last = options.metrics_port + options.routers + workers - 1
        line += f"; metrics on ports {options.metrics_port}-{last}, routers first"
    return line


def _probe_ticket(env: dict[str, str]) -> str:
    secret = env.get("KASAGI_SECRET", "")
    if not secret:
        return "dev"
    from kasagi.auth import mint_token

    return mint_token("kasagi_probe", secret.encode("utf-8"), time.time(), 600)


def _store_problem(options: NodeOptions) -> str | None:
    """Refuse to start on a data file that is not a Kasagi room store (it is left untouched)."""
    from kasagi.store.factory import sqlite_path
    from kasagi.store.sqlite import check_file

    path = sqlite_path(str(options.service.get("store", "sqlite")), options.data_dir)
    return check_file(path) if path is not None else None


def cmd_token(args: argparse.Namespace) -> int:
    from kasagi.auth import TokenError, check_ttl, max_ttl_from, mint_token
    from kasagi.startup import MIN_SECRET_LENGTH

    # An admin ticket is signed with the admin secret (KASAGI_ADMIN_SECRET, else KASAGI_SECRET).
    admin = args.role == "admin"
    source = "KASAGI_ADMIN_SECRET or KASAGI_SECRET" if admin else "KASAGI_SECRET"
    secret = (os.environ.get("KASAGI_ADMIN_SECRET", "") if admin else "") or os.environ.get("KASAGI_SECRET", "")
    if secret and len(secret) < MIN_SECRET_LENGTH:
        print(
            f"kasagi: {source}: got {len(secret)} characters, expected a secret of at least "
            f"{MIN_SECRET_LENGTH} characters",
            file=sys.stderr,
        )
        return 2
    try:
        max_ttl = max_ttl_from(os.environ.get("KASAGI_MAX_TICKET_TTL"))
        ttl = check_ttl(args.ttl, max_ttl)
    except TokenError as exc:
        print(f"kasagi token: {exc}", file=sys.stderr)
        return 2
    try:
        print(mint_token(args.user, secret.encode("utf-8"), time.time(), ttl, max_ttl, role=args.role))
    except TokenError as exc:
        print(f"kasagi token: {exc} (set {source})", file=sys.stderr)
        return 2
    return 0


def cmd_bench(argv: Sequence[str]) -> int:
    """``kasagi bench ARGS``: the benchmark's own command line parses ``ARGS``."""
    from kasagi.bench.cli import main as bench_main

    return bench_main(argv)


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the sentence already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        quiet = default is None or default is False or default == [] or default == argparse.SUPPRESS
        if "default" in text or quiet or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from kasagi import __version__

    try:
        return version("kasagi")
    except PackageNotFoundError:
        return __version__


def _budget_arguments(up: argparse.ArgumentParser) -> None:
    """The byte budgets, the overload settings and the lobby's limits of ``kasagi up``
    (defaults: :class:`kasagi.wire.Limits` and ``ServiceSettings``; docs/protocol.md, Limits)."""
    size = up.add_argument_group("sizes and history, in bytes (0: no limit)")
    size.add_argument(
        "--max-event-bytes",
        type=int,
        default=None,
        help="bytes of the changes of one action and one event (default 256 KiB)",
    )
    size.add_argument(
        "--max-catchup-bytes",
        type=int,
        default=None,
        help="bytes of events a catch-up may carry; a longer one is a snapshot (default 1 MiB)",
    )
    size.add_argument(
        "--history-bytes", type=int, default=None, help="bytes of events kept in memory per room (default 1 MiB)"
    )
    size.add_argument(
        "--history-process-bytes",
        type=int,
        default=None,
        help="bytes of events kept in memory per room-service process (default 64 MiB)",
    )
    size.add_argument(
        "--store-history-bytes",
        type=int,
        default=None,
        help="bytes of events the store keeps per room besides those after its snapshot (default 4 MiB)",
    )
    size.add_argument(
        "--snapshot-bytes",
        type=int,
        default=None,
        help="a room saves a snapshot after this many bytes of events, besides every 500 events (default 4 MiB)",
    )
    size.add_argument(
        "--max-outgoing-message-size",
        type=int,
        default=4_194_304,
        help="largest WebSocket message the router sends, at least 4 times --max-state-bytes (default 4 MiB)",
    )
    load = up.add_argument_group("overload (--overload-lag 0: admission control off)")
    load.add_argument(
        "--overload-lag",
        type=float,
        default=None,
        help="seconds of reactor lag at which actions begin to be refused with retry_after (default 0.04)",
    )
    load.add_argument(
        "--overload-delay",
        type=float,
        default=None,
        help="seconds of commits that may wait beyond a tick: while the reactor lags or acks are slow, at most acks/s x"
        " (tick + this) actions wait for their commit and more are refused; 0: no such bound (default 0.03)",
    )
    load.add_argument(
        "--max-tick",
        type=float,
        default=None,
        help="seconds a busy process stretches the commit tick to (default 0.05)",
    )
    load.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="actions of a process waiting for their commit before more are refused (default 5000)",
    )
    load.add_argument(
        "--max-room-pending",
        type=int,
        default=None,
        help="actions of one room waiting for their commit before more are refused (default 1000)",
    )
    lobby = up.add_argument_group("lobby (rates: 0: no limit)")
    lobby.add_argument(
        "--match-rate", type=float, default=None, help="lobby match calls per second per member (default 5)"
    )
    lobby.add_argument("--match-burst", type=float, default=None, help="lobby match calls at once (default 20)")
    lobby.add_argument(
        "--open-rate", type=float, default=None, help="lobby open calls per second per member (default 50)"
    )
    lobby.add_argument("--open-burst", type=float, default=None, help="lobby open calls at once (default 500)")
    lobby.add_argument(
        "--reservation-ttl",
        type=float,
        default=None,
        help="seconds a seat reserved by match waits for its member to join (default 10)",
    )
    lobby.add_argument(
        "--lobby-page", type=int, default=None, help="rooms per page of the lobby's list, 1-500 (default 50)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kasagi", description="Real-time room state synchronization over WAMP.")
    parser.add_argument("--version", action="version", version=f"kasagi {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser(
        "up",
        help="run a node: router, room service and the demo page",
        description="Run a Kasagi node. Every option is checked before the node starts; a problem stops "
        "kasagi up with exit status 2 and one line naming the option.",
        formatter_class=_HelpWithDefaults,
    )
    up.add_argument("--port", type=int, default=8080, help="TCP port of the demo page and the clients' WebSocket")
    up.add_argument(
        "--host",
        default=None,
        help="interface to listen on (default: 127.0.0.1 in dev mode, every interface in secure mode)",
    )
    up.add_argument("--data-dir", default="data", help="directory of the node's files and its SQLite rooms")
    up.add_argument(
        "--store",
        default=None,
        help="where rooms are kept: sqlite (the default: <data-dir>/rooms.sqlite3, durable), sqlite:PATH, "
        "redis://host:port/db (Redis with appendonly yes), or memory (lost on exit)",
    )
    up.add_argument(
        "--tick",
        type=float,
        default=None,
        help="seconds between a busy room's events; 0: one per action (default 0.02)",
    )
    up.add_argument(
        "--hash-every", type=int, default=None, help="put the state hash in every K-th event; 0: never (default 100)"
    )
    up.add_argument(
        "--grace", type=float, default=None, help="seconds a disconnected member stays present (default 30)"
    )
    up.add_argument(
        "--beacon",
        type=float,
        default=None,
        help="seconds a quiet room waits before repeating its last event; 0: off (default 5)",
    )
    up.add_argument("--ping-interval", type=float, default=10.0, help="seconds between the router's WebSocket pings")
    up.add_argument(
        "--ping-timeout", type=float, default=10.0, help="seconds to wait for a pong before the connection is closed"
    )
    up.add_argument(
        "--component",
        choices=("router", "process"),
        default="router",
        help="where the room service runs: inside the router worker, or in a process of its own",
    )
    up.add_argument(
        "--role",
        choices=("all", "router", "worker"),
        default="all",
        help="all: router + room service; router: router only; worker: a room service joining --router(s)",
    )
    up.add_argument(
        "--routers",
        default="1",
        metavar="N|auto",
        help="router processes sharing --port (the kernel spreads the connections), with room-service workers "
        "joined to all of them; auto: one per core; 1: a single process, the room service inside the router",
    )
    up.add_argument(
        "--room-workers",
        type=int,
        default=0,
        help="room-service processes with --routers above 1 (default 0: one per router)",
    )
    up.add_argument("--backend-port", type=int, default=0, help="router: TCP port for workers (rawsocket; 0: none)")
    up.add_argument("--backend-host", default="127.0.0.1", help="router: interface of --backend-port")
    up.add_argument("--metrics-port", type=int, default=0, help="serve /metrics and /health/live|ready here (0: off)")
    up.add_argument("--metrics-host", default="127.0.0.1", help="interface of --metrics-port")
    up.add_argument(
        "--router", action="append", default=[], help="worker: a router's backend, rs://HOST:PORT (repeat; no default)"
    )
    up.add_argument("--coordination", default=None, help="worker: redis://... for leases (default: the store's Redis)")
    up.add_argument("--worker-name", default=None, help="worker: name prefix of its id (default: the host name)")
    up.add_argument("--lease-ttl", type=float, default=1.2, help="worker: seconds before a silent worker's rooms move")
    up.add_argument("--heartbeat", type=float, default=0.3, help="worker: seconds between lease renewals")
    up.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text: a short banner here, the node's log in <data-dir>/node/node.log; json: every log event "
        "as one JSON object per line on stdout, for a log shipper",
    )
    limit = up.add_argument_group("limits (0: no limit)")
    limit.add_argument("--action-rate", type=float, default=None, help="actions per second per member (default 200)")
    limit.add_argument("--action-burst", type=float, default=None, help="actions sent at once (default 200)")
    limit.add_argument("--max-members", type=int, default=None, help="members per room (default 1000)")
    limit.add_argument("--max-rooms", type=int, default=None, help="rooms per room-service process (default 10000)")
    limit.add_argument("--max-state-bytes", type=int, default=None, help="bytes of state per room (default 1 MiB)")
    limit.add_argument(
        "--max-rooms-per-member", type=int, default=None, help="live rooms one member's opens may load (default 100)"
    )
    limit.add_argument(
        "--max-sessions-per-member", type=int, default=100, help="router sessions one member may hold (default 100)"
    )
    limit.add_argument(
        "--max-subscriptions", type=int, default=500, help="subscriptions one session may hold (default 500)"
    )
    limit.add_argument(
        "--max-client-buffer",
        type=int,
        default=4_194_304,
        help="bytes the router holds unsent for one client before closing it (default 4 MiB)",
    )
    _budget_arguments(up)
    up.add_argument(
        "--room-idle", type=float, default=None, help="seconds an empty room stays loaded (default 60; 0: forever)"
    )
    up.add_argument(
        "--room-type",
        action="append",
        default=[],
        metavar="MODULE:CLASS",
        help="serve this room type too (repeat; the current directory is on sys.path; default: arena, doc "
        "and installed entry points)",
    )
    up.add_argument(
        "--secure",
        action="store_true",
        help="accept only signed tickets; needs KASAGI_SECRET, at least 16 characters (default: secure when "
        "KASAGI_SECRET is set, else dev mode)",
    )
    up.add_argument(
        "--loglevel",
        default="info",
        choices=("debug", "info", "warn", "error"),
        help="the node's log level; debug also shows the node's log here",
    )
    up.set_defaults(func=cmd_up)

    # Its options belong to kasagi.bench (``kasagi bench --help``): main() passes them on.
    sub.add_parser("bench", add_help=False, help="run the room-sync v1 workload and report (see BENCHMARKS.md)")

    token = sub.add_parser(
        "token", help="mint a client ticket (secret from KASAGI_SECRET)", formatter_class=_HelpWithDefaults
    )
    token.add_argument("user", help="the member id (authid) the ticket is for")
    token.add_argument(
        "--ttl",
        type=float,
        default=86_400.0,
        help="seconds the ticket is valid (above 0, at most KASAGI_MAX_TICKET_TTL, default 7 days)",
    )
    token.add_argument(
        "--role",
        choices=("client", "admin"),
        default="client",
        help="client (default) or admin: an admin ticket opens the monitor at /monitor and is signed "
        "with KASAGI_ADMIN_SECRET (else KASAGI_SECRET)",
    )
    token.set_defaults(func=cmd_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return cmd_bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
