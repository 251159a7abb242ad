"""A private ``redis-server`` process (tests and benchmarks): its own port, directory and
process group, AOF on; kill -9 it and start it again on the same directory."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Self

from kasagi.testing.processes import ProcessGroup

__all__ = ["RedisServer", "redis_available"]


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


class RedisServer(ProcessGroup):
    """``redis-server`` on 127.0.0.1:``port`` with its data in ``directory``."""

    def __init__(self, directory: Path, port: int, *, appendfsync: str = "always", cpus: str | None = None) -> None:
        self.directory = directory
        self.port = port
        self.appendfsync = appendfsync
        self.cpus = cpus
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        cmd = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--aof-load-truncated", "yes",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        return ["taskset", "-c", self.cpus, *cmd] if self.cpus else cmd

    def start(self, timeout: float = 30.0) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        return super().start(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"redis-server exited; see {self.directory / 'redis.log'}")
            if self.ping():
                return
            time.sleep(0.02)  # polling interval of a readiness probe
        raise TimeoutError(f"redis-server on port {self.port} not ready within {timeout} s")

    def ping(self) -> bool:
        """True once the server answers PING with PONG (not while it loads its AOF)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """kill -9 the server's process group."""
        super().kill()
        self.proc = None

    def stop(self, timeout: float = 10.0) -> None:
        self.kill()

    def aof_files(self) -> list[Path]:
        """The AOF files (Redis 7 keeps a base and increments under appendonlydir/), oldest first."""
        folder = self.directory / "appendonlydir"
        if folder.is_dir():
            return sorted(p for p in folder.iterdir() if ".aof" in p.name and not p.name.endswith(".manifest"))
        single = self.directory / "appendonly.aof"
        return [single] if single.exists() else []
