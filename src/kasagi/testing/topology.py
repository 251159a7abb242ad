"""A whole deployment as local processes: routers, workers and a Redis (tests, measurements).

The same shape as ``docker-compose.yml`` -- N routers (``kasagi up --role router``), M
workers (``kasagi up --role worker``) joined to every router, one Redis with AOF -- run as
child processes on free ports, each in its own process group so that a test can kill -9,
SIGSTOP or SIGTERM exactly one of them, and ``stop()`` leaves nothing behind.

:meth:`Topology.from_compose` reads ``docker-compose.yml`` itself and runs the very
``kasagi up`` commands of its services, with local addresses in place of the service names:
the tests of the distributed deployment run what the compose file says.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from kasagi.node import NodeOptions, project_root
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from kasagi.testing.processes import ProcessGroup
from kasagi.testing.redis_server import RedisServer

__all__ = ["RouterProcess", "Topology", "WorkerProcess", "http_get"]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 -- local URLs built here
            return reply.status, reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return 0, ""


def _cli_env(secret: str) -> dict[str, str]:
    root = project_root()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["KASAGI_BACKEND_SECRET"] = secret
    return env


def _kasagi(argv: Sequence[str]) -> list[str]:
    """A compose command (``.venv/bin/kasagi up ...``) as this interpreter runs it."""
    return [sys.executable, "-m", "kasagi.cli", *argv[1:]]


def _flag(argv: Sequence[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def _set_flag(argv: list[str], flag: str, value: str) -> None:
    for i, a in enumerate(argv[:-1]):
        if a == flag:
            argv[i + 1] = value


class RouterProcess(ProcessGroup):
    """``kasagi up --role router`` (a literal command line) as a child process."""

    def __init__(self, name: str, argv: Sequence[str], *, secret: str, directory: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.secret = secret
        self.log_path = directory / f"{name}.log"
        self.port = int(_flag(argv, "--port")[0])
        self.metrics_port = int(_flag(argv, "--metrics-port")[0])
        self.backend_port = int(_flag(argv, "--backend-port")[0])

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def command(self) -> list[str]:
        return _kasagi(self.argv)

    def environment(self) -> dict[str, str]:
        return _cli_env(self.secret)

    def wait_ready(self, timeout: float) -> None:
        from kasagi.testing.node import wait_for_websocket

        wait_for_websocket("127.0.0.1", self.port, time.monotonic() + timeout)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []


class WorkerProcess(ProcessGroup):
    """``kasagi up --role worker`` as a child process."""

    def __init__(
        self,
        name: str,
        routers: Sequence[str],
        store: str,
        *,
        secret: str,
        directory: Path,
        service: Mapping[str, Any] | None = None,
        lease_ttl: float = 1.2,
        heartbeat: float = 0.3,
        loglevel: str = "info",
        cpus: str | None = None,
        argv: Sequence[str] | None = None,
        room_types: Sequence[str] = (),
    ) -> None:
        self.argv = list(argv) if argv is not None else None
        self.name = name
        self.routers = list(routers)
        self.store = store
        self.secret = secret
        self.directory = directory
        self.service = dict(service or {})
        self.lease_ttl = lease_ttl
        self.heartbeat = heartbeat
        self.loglevel = loglevel
        self.cpus = cpus
        self.room_types = list(room_types)
        self.metrics_port = free_port()
        self.log_path = directory / f"{name}.log"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def command(self) -> list[str]:
        if self.argv is not None:
            return _kasagi(self.argv)
        cmd = [sys.executable, "-m", "kasagi.cli", "up", "--role", "worker", "--store", self.store]
        for url in self.routers:
            cmd += ["--router", url]
        cmd += ["--metrics-port", str(self.metrics_port), "--worker-name", self.name, "--loglevel", self.loglevel]
        cmd += ["--lease-ttl", str(self.lease_ttl), "--heartbeat", str(self.heartbeat)]
        for key, value in self.service.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        for spec in self.room_types:
            cmd += ["--room-type", spec]
        if self.cpus is not None:
            cmd = ["taskset", "-c", self.cpus, *cmd]
        return cmd

    def environment(self) -> dict[str, str]:
        return _cli_env(self.secret)

    def start(self, timeout: float = 60.0) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        return super().start(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"worker {self.name} exited; see {self.log_path}")
            status, _ = self.health()
            if status == 200:
                return
            time.sleep(0.1)  # polling interval of a readiness probe
        raise TimeoutError(f"worker {self.name} not ready within {timeout} s; see {self.log_path}")

    def health(self) -> tuple[int, str]:
        return http_get(self.metrics_url + "/health/ready")

    def metrics(self) -> dict[str, float]:
        """The worker's Prometheus samples, ``name{labels}`` -> value."""
        status, body = http_get(self.metrics_url + "/metrics")
        out: dict[str, float] = {}
        if status != 200:
            return out
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = float(value)
                except ValueError:
                    continue
        return out


@dataclass
class Topology:
    """N routers + M workers + one Redis, all local processes."""

    directory: Path
    routers: int = 2
    workers: int = 3
    service: Mapping[str, Any] = field(default_factory=dict)
    lease_ttl: float = 1.2
    heartbeat: float = 0.3
    loglevel: str = "warn"
    #: CPU lists for ``taskset`` (routers, workers, redis); None: no pinning.
    router_cpus: Sequence[str | None] | None = None
    worker_cpus: str | None = None
    redis: RedisServer | None = None
    nodes: list[NodeProcess | RouterProcess] = field(default_factory=list)
    members: list[WorkerProcess] = field(default_factory=list)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: The services of a compose file (see :meth:`from_compose`); None: built from the fields.
    compose: Mapping[str, Any] | None = None
    #: ``--room-type`` specs every worker serves (routers need none).
    room_types: Sequence[str] = ()
    _worker_template: list[str] | None = None

    @classmethod
    def from_compose(cls, path: Path, directory: Path) -> Topology:
        """The topology ``path`` (a docker-compose file) describes, to run locally."""
        import yaml

        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(directory, routers=0, workers=0, compose=spec["services"])

    @property
    def urls(self) -> list[str]:
        """The client WebSocket URL of each router."""
        return [node.url for node in self.nodes]

    @property
    def backends(self) -> list[str]:
        return [f"rs://127.0.0.1:{_backend_port(node)}" for node in self.nodes]

    def start(self) -> Topology:
        if self.compose is not None:
            return self._start_compose(self.compose)
        try:
            self.redis = RedisServer(self.directory / "redis", free_port()).start()
            env = dict(os.environ)
            env["KASAGI_BACKEND_SECRET"] = self.secret
            for i in range(self.routers):
                port = free_port()
                options = NodeOptions(
                    port=port,
                    data_dir=self.directory / f"router{i}",
                    role="router",
                    backend_port=free_port(),
                    metrics_port=free_port(),
                    loglevel=self.loglevel,
                )
                cpus = self.router_cpus[i] if self.router_cpus else None
                self.nodes.append(NodeProcess(options, env=env, cpus=cpus).start())
            for i in range(self.workers):
                self.add_worker(f"w{i}")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_compose(self, services: Mapping[str, Any]) -> Topology:
        redis = [n for n, s in services.items() if str(s.get("image", "")).startswith("redis")]
        kasagi = {
            n: list(s["command"]) for n, s in services.items() if str(s.get("command", [""])[0]).endswith("kasagi")
        }
        routers = {n: argv for n, argv in kasagi.items() if _flag(argv, "--role") == ["router"]}
        workers = {n: argv for n, argv in kasagi.items() if _flag(argv, "--role") == ["worker"]}
        if len(redis) != 1 or not routers or not workers:
            raise ValueError("the compose file must have one redis, routers and workers")
        command = services[redis[0]].get("command", [])
        if _flag(command, "--appendonly") != ["yes"] or _flag(command, "--appendfsync") != ["always"]:
            raise ValueError("the compose file's Redis must run with --appendonly yes --appendfsync always")
        try:
            self.redis = RedisServer(self.directory / "redis", free_port()).start()
            backend_of: dict[str, int] = {}
            for name, argv in routers.items():
                local = list(argv)
                for flag in ("--port", "--backend-port", "--metrics-port"):
                    _set_flag(local, flag, str(free_port()))
                for flag in ("--host", "--backend-host", "--metrics-host"):
                    _set_flag(local, flag, "127.0.0.1")
                _set_flag(local, "--data-dir", str(self.directory / name))
                router = RouterProcess(name, local, secret=self.secret, directory=self.directory / "routers")
                self.nodes.append(router.start())
                backend_of[f"rs://{name}:{_flag(argv, '--backend-port')[0]}"] = router.backend_port
            for name, argv in workers.items():
                local = list(argv)
                for i, a in enumerate(local):
                    if a in backend_of:
                        local[i] = f"rs://127.0.0.1:{backend_of[a]}"
                    elif a.startswith(f"redis://{redis[0]}:"):
                        local[i] = self.redis.url
                unknown = [r for r in _flag(local, "--router") if not r.startswith("rs://127.0.0.1:")]
                if unknown:
                    raise ValueError(f"worker {name} names routers the compose file does not run: {unknown}")
                _set_flag(local, "--metrics-host", "127.0.0.1")
                self._worker_template = local
                self.add_worker(name)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, name: str) -> WorkerProcess:
        assert self.redis is not None
        if self._worker_template is not None:
            argv = list(self._worker_template)
            _set_flag(argv, "--worker-name", name)
            worker = WorkerProcess(name, [], "", secret=self.secret, directory=self.directory / "workers", argv=argv)
            assert worker.argv is not None
            _set_flag(worker.argv, "--metrics-port", str(worker.metrics_port))
            for spec in self.room_types:
                worker.argv += ["--room-type", spec]
            self.members.append(worker)
            return worker.start()
        store = self.service.get("store", self.redis.url)
        service = {k: v for k, v in self.service.items() if k != "store"}
        worker = WorkerProcess(
            name,
            self.backends,
            str(store),
            secret=self.secret,
            directory=self.directory / "workers",
            service=service,
            lease_ttl=self.lease_ttl,
            heartbeat=self.heartbeat,
            loglevel="info" if self.loglevel == "warn" else self.loglevel,
            cpus=self.worker_cpus,
            room_types=self.room_types,
        )
        self.members.append(worker)
        return worker.start()

    def router_ready(self, index: int) -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{_metrics_port(self.nodes[index])}/health/ready")

    def router_metrics_url(self, index: int) -> str:
        return f"http://127.0.0.1:{_metrics_port(self.nodes[index])}/metrics"

    def stop(self) -> None:
        for worker in self.members:
            worker.stop(timeout=10)
        for node in self.nodes:
            node.stop()
        if self.redis is not None:
            self.redis.stop()


def _backend_port(node: NodeProcess | RouterProcess) -> int:
    return node.backend_port if isinstance(node, RouterProcess) else node.options.backend_port


def _metrics_port(node: NodeProcess | RouterProcess) -> int:
    return node.metrics_port if isinstance(node, RouterProcess) else node.options.metrics_port
