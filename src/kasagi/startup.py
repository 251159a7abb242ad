"""What ``kasagi up`` checks before it starts anything: every option, the secrets, the ports,
the data directory and the store.

A problem is a :class:`StartupError`: the option, what was given, what is expected. ``kasagi
up`` prints it as one line and exits with status 2 (``kasagi: --tick: got -1, expected a
number of seconds >= 0``). :func:`check_options` looks only at the values;
:func:`check_resources` looks at the machine (a port in use, a data directory that can't be
written, a Redis store that does not answer).

Decisions:

- Every secret (``KASAGI_SECRET``, ``KASAGI_BACKEND_SECRET``) is at least
  :data:`MIN_SECRET_LENGTH` characters; the router's backend transport already refuses a
  shorter one, and a client-ticket secret is no weaker a credential.
- A Redis store that does not answer at start-up stops ``kasagi up`` (a node that starts
  degraded would serve the demo page but refuse every room). A store that fails later makes
  rooms degraded, not the node stop (``docs/resilience.md``).
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

__all__ = [
    "MIN_SECRET_LENGTH",
    "StartupError",
    "check_options",
    "check_resources",
    "default_host",
    "router_count",
]

#: The shortest secret ``kasagi up`` accepts, for every secret it reads.
MIN_SECRET_LENGTH = 16
#: Seconds to wait for a Redis store to answer at start-up.
STORE_PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class StartupError(Exception):
    """An option ``kasagi up`` can't start with."""

    option: str
    got: str
    expected: str

    def __str__(self) -> str:
        return f"kasagi: {self.option}: got {self.got}, expected {self.expected}"


def default_host(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """The interface the node listens on: ``--host``, else 127.0.0.1 in dev mode (no secret)
    and every interface in secure mode."""
    if args.host is not None:
        return str(args.host)
    return "" if _secure(args, environ) else "127.0.0.1"


def _secure(args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    return bool(getattr(args, "secure", False) or environ.get("KASAGI_SECRET"))


def _number(option: str, value: float | None, minimum: float, what: str, *, strict: bool = False) -> None:
    if value is None:
        return
    low_ok = value > minimum if strict else value >= minimum
    if not math.isfinite(value) or not low_ok:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        base, _, note = what.partition(" (")
        bound = f"{base} {'>' if strict else '>='} {minimum:g}"
        raise StartupError(option, shown, f"{bound} ({note}" if note else bound)


def _port(option: str, value: int, *, optional: bool) -> None:
    low = 0 if optional else 1
    if not low <= value <= 65535:
        expected = "a TCP port 1-65535" + (" (0: off)" if optional else "")
        raise StartupError(option, str(value), expected)


def _secret(name: str, environ: Mapping[str, str], *, required: bool, why: str) -> None:
    value = environ.get(name)
    if value is None or value == "":
        if required:
            raise StartupError(name, "nothing", f"a secret of at least {MIN_SECRET_LENGTH} characters ({why})")
        return
    if len(value) < MIN_SECRET_LENGTH:
        raise StartupError(name, f"{len(value)} characters", f"a secret of at least {MIN_SECRET_LENGTH} characters")


def _store(spec: str | None) -> None:
    if spec is None or spec in ("memory", "sqlite"):
        return
    expected = "memory, sqlite, sqlite:PATH or redis://host:port/db"
    if spec.startswith("sqlite:"):
        if not spec[len("sqlite:") :]:
            raise StartupError("--store", repr(spec), "sqlite:PATH with a file name")
        return
    if spec.startswith("redis://"):
        from kasagi.store.redis import parse_redis_url

        try:
            parse_redis_url(spec)
        except ValueError:
            raise StartupError("--store", repr(_safe_store(spec)), "redis://host:port/db") from None
        return
    raise StartupError("--store", repr(_safe_store(spec)), expected)


def _safe_store(spec: str) -> str:
    from kasagi.store.factory import describe_store

    return describe_store(spec)


def router_count(value: str) -> int:
    """``--routers``: a count, or ``auto`` for the cores this process may run on; raises
    :class:`StartupError` for anything else."""
    if value == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise StartupError("--routers", repr(value), "a number of router processes >= 1, or auto (one per core)")
    return count


def _many_routers(args: argparse.Namespace) -> None:
    """What ``--routers`` above 1 needs: the whole node on this machine, its own backend."""
    routers = router_count(args.routers)
    _number("--room-workers", args.room_workers, 0, "a number of room-service processes (0: one per router)")
    if routers == 1:
        return
    if args.role != "all":
        raise StartupError("--routers", str(routers), f"1 with --role {args.role} (several routers run with role all)")
    if args.component != "router":
        raise StartupError("--component", args.component, "router with --routers above 1 (workers are processes)")
    if args.backend_port:
        raise StartupError("--backend-port", str(args.backend_port), "0 with --routers above 1")
    workers = args.room_workers or routers
    if args.store == "memory" and workers > 1:
        raise StartupError(
            "--store", "'memory'", f"a store the {workers} room-service processes share (or --room-workers 1)"
        )


def _router_url(value: str) -> None:
    if value.startswith("unix:") and len(value) > len("unix:"):
        return
    parsed = urlparse(value)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != "rs" or not parsed.hostname or port is None:
        raise StartupError("--router", repr(value), "rs://HOST:PORT")


def check_options(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Raise :class:`StartupError` for the first option of ``kasagi up`` that can't work."""
    _port("--port", args.port, optional=False)
    _port("--backend-port", args.backend_port, optional=True)
    _port("--metrics-port", args.metrics_port, optional=True)
    used = {"--port": args.port}
    for option, port in (("--backend-port", args.backend_port), ("--metrics-port", args.metrics_port)):
        if port and port in used.values() and args.role != "worker":
            raise StartupError(option, str(port), "a port no other option of this node uses")
        used[option] = port
    _number("--tick", args.tick, 0, "a number of seconds")
    _number("--hash-every", args.hash_every, 0, "a number of events (0: never)")
    _number("--grace", args.grace, 0, "a number of seconds")
    _number("--beacon", args.beacon, 0, "a number of seconds (0: off)")
    _number("--ping-interval", args.ping_interval, 0, "a number of seconds", strict=True)
    _number("--ping-timeout", args.ping_timeout, 0, "a number of seconds", strict=True)
    _number("--action-rate", args.action_rate, 0, "actions per second (0: no limit)")
    if args.action_burst is not None and args.action_rate != 0:
        _number("--action-burst", args.action_burst, 1, "a number of actions")
    _number("--max-members", args.max_members, 0, "a number of members (0: no limit)")
    _number("--max-rooms", args.max_rooms, 0, "a number of rooms (0: no limit)")
    _number("--max-state-bytes", args.max_state_bytes, 0, "a number of bytes (0: no limit)")
    _budgets(args)
    _number("--lease-ttl", args.lease_ttl, 0, "a number of seconds", strict=True)
    _number("--heartbeat", args.heartbeat, 0, "a number of seconds", strict=True)
    if args.role == "worker" and args.heartbeat >= args.lease_ttl:
        raise StartupError("--heartbeat", f"{args.heartbeat:g}", f"fewer seconds than --lease-ttl ({args.lease_ttl:g})")
    _store(args.store)
    if args.coordination is not None and not args.coordination.startswith(("redis://", "sqlite:")):
        raise StartupError("--coordination", repr(args.coordination), "redis://host:port/db or sqlite:PATH")
    _many_routers(args)
    for router in args.router:
        _router_url(router)
    if args.role == "worker" and not args.router:
        raise StartupError("--router", "nothing", "at least one rs://HOST:PORT (a router's backend) for a worker")
    _secret("KASAGI_SECRET", environ, required=bool(args.secure), why="--secure accepts only tickets signed with it")
    _secret(
        "KASAGI_BACKEND_SECRET",
        environ,
        required=args.role == "worker",
        why="a worker logs in to the routers' backend with it",
    )


def _budgets(args: argparse.Namespace) -> None:
    """The byte budgets, the overload settings and the lobby's limits."""
    from kasagi.wire import Limits

    for option in (
        "--max-event-bytes",
        "--max-catchup-bytes",
        "--history-bytes",
        "--history-process-bytes",
        "--store-history-bytes",
        "--snapshot-bytes",
    ):
        _number(option, getattr(args, option[2:].replace("-", "_")), 0, "a number of bytes (0: no limit)")
    state = args.max_state_bytes if args.max_state_bytes is not None else Limits.MAX_STATE_BYTES
    outgoing = args.max_outgoing_message_size
    if outgoing < Limits.INCOMING_MESSAGE_BYTES or (state and outgoing < 4 * state):
        bound = max(Limits.INCOMING_MESSAGE_BYTES, 4 * state)
        raise StartupError(
            "--max-outgoing-message-size", str(outgoing), f"a number of bytes >= {bound} (4 times --max-state-bytes)"
        )
    _number("--overload-lag", args.overload_lag, 0, "a number of seconds (0: off)")
    _number("--overload-delay", args.overload_delay, 0, "a number of seconds (0: the lag alone)")
    _number("--max-tick", args.max_tick, 0, "a number of seconds")
    _number("--max-in-flight", args.max_in_flight, 0, "a number of actions (0: no limit)")
    _number("--max-room-pending", args.max_room_pending, 0, "a number of actions (0: no limit)")
    for rate, burst in (("match_rate", "match_burst"), ("open_rate", "open_burst")):
        flag = "--" + rate.replace("_", "-")
        _number(flag, getattr(args, rate), 0, "calls per second (0: no limit)")
        if getattr(args, rate) != 0:
            _number("--" + burst.replace("_", "-"), getattr(args, burst), 1, "a number of calls")
    _number("--reservation-ttl", args.reservation_ttl, 0, "a number of seconds", strict=True)
    page = args.lobby_page
    if page is not None and not 1 <= page <= 500:
        raise StartupError("--lobby-page", str(page), "a number of rooms from 1 to 500")


def _bindable(option: str, host: str, port: int) -> None:
    """Raise unless a listening socket can be opened on ``host:port`` now (as Twisted opens
    it: with ``SO_REUSEADDR``, so only another listener makes it fail)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError("--host", repr(host), f"an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
            s.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(option, str(port), "a free port (another program is listening on it)") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise StartupError("--host", repr(host), "an address of this machine") from None
            raise StartupError(option, str(port), f"a port this user may listen on ({exc.strerror})") from None


def _data_dir(path: Path) -> None:
    if path.exists():
        if not path.is_dir():
            raise StartupError("--data-dir", str(path), "a directory (this is a file)")
        if not os.access(path, os.W_OK | os.X_OK):
            raise StartupError("--data-dir", str(path), "a directory this user can write to")
        return
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise StartupError("--data-dir", str(path), f"a directory this user can create (in {parent})")


def _redis_answers(spec: str) -> None:
    from kasagi.store.redis import parse_redis_url

    host, port, _, _ = parse_redis_url(spec)
    try:
        with socket.create_connection((host, port), timeout=STORE_PROBE_TIMEOUT) as s:
            s.settimeout(STORE_PROBE_TIMEOUT)
            s.sendall(b"PING\r\n")
            if not s.recv(64):
                raise OSError("the connection closed")
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise StartupError(
            "--store", repr(_safe_store(spec)), f"a Redis that answers at start-up ({reason.lower()})"
        ) from None


def check_resources(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Raise :class:`StartupError` if the machine can't give the node what the options ask."""
    if args.role != "worker":
        _data_dir(Path(args.data_dir))
        host = default_host(args, environ)
        _bindable("--port", host, args.port)
        if args.backend_port:
            _bindable("--backend-port", args.backend_host, args.backend_port)
    if args.metrics_port:
        routers = router_count(args.routers) if args.role == "all" else 1
        processes = 1 if routers == 1 else routers + (args.room_workers or routers)
        for offset in range(processes):
            _bindable("--metrics-port", args.metrics_host, args.metrics_port + offset)
    if args.store is not None and args.store.startswith("redis://") and args.role == "all":
        _redis_answers(args.store)
