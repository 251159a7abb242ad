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
    for name in names + limits:
        value = getattr(args, name, None)
        if value is not None:
            service[name] = value
    return service


def cmd_worker(args: argparse.Namespace) -> int:
    from kasagi.cluster.process import WorkerOptions, run_worker

    secret = os.environ.get("KASAGI_BACKEND_SECRET", "")
    if not args.router:
        print("kasagi up --role worker needs at least one --router rs://HOST:PORT", file=sys.stderr)
        return 2
    if not secret:
        print("kasagi up --role worker needs the routers' backend secret in KASAGI_BACKEND_SECRET", file=sys.stderr)
        return 2
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


def _room_types_problem(specs: Sequence[str], app_dir: str | None) -> bool:
    """Load the room types as the room service will; print them, or the problem (True)."""
    from kasagi.service.room_types import RoomTypeError, load_room_types

    try:
        types = load_room_types(specs, app_dir)
    except RoomTypeError as exc:
        print(f"kasagi up: {exc}", file=sys.stderr)
        return True
    print("kasagi: room types " + ", ".join(sorted(types)), flush=True)
    return False


def _level_filter(observer: ILogObserver, level: str) -> ILogObserver:
    from twisted.logger import FilteringLogObserver, LogLevel, LogLevelFilterPredicate

    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    return FilteringLogObserver(observer, [predicate])


def node_options(args: argparse.Namespace, secure: bool) -> NodeOptions:
    """The node ``kasagi up`` runs for these arguments."""
    from kasagi.node import NodeOptions

    return NodeOptions(
        port=args.port,
        host=args.host,
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
    )


def cmd_up(args: argparse.Namespace) -> int:
    from kasagi.node import crossbar_command, node_environment, write_node_dir

    if args.role == "worker":
        return cmd_worker(args)
    if args.secure and not os.environ.get("KASAGI_SECRET"):
        print("kasagi up --secure needs the secret in KASAGI_SECRET", file=sys.stderr)
        return 2
    if args.ping_interval <= 0 or args.ping_timeout <= 0:
        print("kasagi up: --ping-interval and --ping-timeout must be > 0", file=sys.stderr)
        return 2
    options = node_options(args, secure=args.secure or bool(os.environ.get("KASAGI_SECRET")))
    if args.role != "router" and _room_types_problem(options.room_types, options.app_dir):
        return 2
    problem = _store_problem(options)
    if problem is not None:
        print(f"kasagi up: the room store can't be used: {problem}", file=sys.stderr)
        return 2
    cbdir = write_node_dir(options)
    env = node_environment(os.environ)
    mode = "secure (signed tickets)" if options.secure else "DEV MODE (any authid accepted; do not expose)"
    role = "router only (room service from workers)" if args.role == "router" else "router + room service"
    print(
        f"kasagi: http://localhost:{args.port}/  ws://localhost:{args.port}/ws  realm kasagi  auth: {mode}  {role}",
        flush=True,
    )
    cmd = crossbar_command(cbdir, args.loglevel)
    os.execve(cmd[0], cmd, env)  # noqa: S606 -- the node replaces this process; cmd is our own crossbar path
    return 0  # not reached


def _store_problem(options: NodeOptions) -> str | None:
    """Refuse to start on a data file that is not a Kasagi room store (it is left untouched)."""
    from kasagi.store.factory import sqlite_path
    from kasagi.store.sqlite import check_file

    path = sqlite_path(str(options.service.get("store", "sqlite")), options.data_dir)
    return check_file(path) if path is not None else None


def cmd_token(args: argparse.Namespace) -> int:
    from kasagi.auth import TokenError, mint_token

    secret = os.environ.get("KASAGI_SECRET", "")
    try:
        print(mint_token(args.user, secret.encode("utf-8"), time.time(), args.ttl))
    except TokenError as exc:
        print(f"kasagi token: {exc} (set KASAGI_SECRET)", file=sys.stderr)
        return 2
    return 0


def cmd_bench(argv: Sequence[str]) -> int:
    """``kasagi bench ARGS``: the benchmark's own command line parses ``ARGS``."""
    from kasagi.bench.cli import main as bench_main

    return bench_main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kasagi", description="Real-time room state synchronization over WAMP.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run a node: router, room service and the demo page")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--host", default="", help="interface to listen on (default: all)")
    up.add_argument("--data-dir", default="data", help="where the node keeps its files and rooms")
    up.add_argument(
        "--store",
        default=None,
        help="where rooms are kept: sqlite (default: <data-dir>/rooms.sqlite3, durable), sqlite:PATH, "
        "redis://host:port/db (Redis with appendonly yes), or memory (lost on exit)",
    )
    up.add_argument("--tick", type=float, default=None, help="seconds between a busy room's events (0: every action)")
    up.add_argument("--hash-every", type=int, default=None, help="put the state hash in every K-th event")
    up.add_argument("--grace", type=float, default=None, help="presence grace period, seconds")
    up.add_argument(
        "--beacon", type=float, default=None, help="seconds a quiet room waits before repeating its last event (0: off)"
    )
    up.add_argument("--ping-interval", type=float, default=10.0, help="seconds between the router's WebSocket pings")
    up.add_argument(
        "--ping-timeout", type=float, default=10.0, help="seconds to wait for a pong before the connection is closed"
    )
    up.add_argument("--component", choices=("router", "process"), default="router", help="where the room service runs")
    up.add_argument(
        "--role",
        choices=("all", "router", "worker"),
        default="all",
        help="all: router + room service (default); router: router only; worker: room service joining --router(s)",
    )
    up.add_argument("--backend-port", type=int, default=0, help="router: TCP port for workers (rawsocket; 0: none)")
    up.add_argument("--backend-host", default="127.0.0.1", help="router: interface of --backend-port")
    up.add_argument("--metrics-port", type=int, default=0, help="serve /metrics and /health/live|ready here (0: off)")
    up.add_argument("--metrics-host", default="127.0.0.1", help="interface of --metrics-port")
    up.add_argument("--router", action="append", default=[], help="worker: a router's backend, rs://HOST:PORT (repeat)")
    up.add_argument("--coordination", default=None, help="worker: redis://... for leases (default: the store's Redis)")
    up.add_argument("--worker-name", default=None, help="worker: name prefix of its id (default: the host name)")
    up.add_argument("--lease-ttl", type=float, default=1.2, help="worker: seconds before a silent worker's rooms move")
    up.add_argument("--heartbeat", type=float, default=0.3, help="worker: seconds between lease renewals")
    up.add_argument("--log-format", choices=("text", "json"), default="text", help="worker: log lines as text or JSON")
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
    up.add_argument(
        "--room-idle", type=float, default=None, help="seconds an empty room stays loaded (default 60; 0: forever)"
    )
    up.add_argument(
        "--room-type",
        action="append",
        default=[],
        metavar="MODULE:CLASS",
        help="serve this room type too (repeat; the current directory is on sys.path)",
    )
    up.add_argument("--secure", action="store_true", help="accept only signed tickets (needs KASAGI_SECRET)")
    up.add_argument("--loglevel", default="info", choices=("debug", "info", "warn", "error"))
    up.set_defaults(func=cmd_up)

    # Its options belong to kasagi.bench (``kasagi bench --help``): main() passes them on.
    sub.add_parser("bench", add_help=False, help="run the room-sync v1 workload and report (see BENCHMARKS.md)")

    token = sub.add_parser("token", help="mint a client ticket (secret from KASAGI_SECRET)")
    token.add_argument("user")
    token.add_argument("--ttl", type=float, default=86_400.0, help="seconds the ticket is valid")
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
