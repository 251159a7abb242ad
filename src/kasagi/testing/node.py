"""A Kasagi node as a child process for tests and benchmarks; it waits on the same readiness
checks as ``kasagi up`` (:mod:`kasagi.readiness`)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from kasagi.node import NodeOptions, crossbar_command, node_environment, probe_sockets, write_node_dir
from kasagi.readiness import room_service_answers, room_service_answers_at, wait_for_websocket
from kasagi.testing.processes import ProcessGroup

__all__ = ["NodeProcess", "room_service_answers", "wait_for_websocket"]


class NodeProcess(ProcessGroup):
    """A Kasagi node as a child process in its own process group (tests, benchmarks)."""

    def __init__(
        self,
        options: NodeOptions,
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cpus: str | None = None,
    ) -> None:
        self.options = options
        self.env = node_environment(env if env is not None else os.environ, options)
        self.log_path = log_path or options.data_dir / "node.log"
        self.cpus = cpus
        self.proc = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.options.port}/ws"

    def command(self) -> list[str]:
        cmd = crossbar_command(write_node_dir(self.options), self.options.loglevel)
        return ["taskset", "-c", self.cpus, *cmd] if self.cpus is not None else cmd

    def environment(self) -> Mapping[str, str]:
        return self.env

    #: The address the readiness probe reaches the node at.
    probe_host = "127.0.0.1"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the node exited with {self.proc.returncode}; see {self.log_path}")
            try:
                wait_for_websocket(self.probe_host, self.options.port, min(deadline, time.monotonic() + 1.0))
            except TimeoutError:
                continue
            if self.options.role == "router":
                return  # its room service comes from workers, started separately
            if self._room_service_answers():
                return
            time.sleep(0.1)  # polling interval of a readiness probe
        raise TimeoutError(f"the node was not ready within {timeout} s; see {self.log_path}")

    def _room_service_answers(self) -> bool:
        """The room service answers through the port, or through every router of a
        many-router node."""
        ticket = self._probe_ticket()
        routers = probe_sockets(self.options)
        if routers:
            return all(room_service_answers_at(str(path), ticket) for path in routers)
        return room_service_answers(self.probe_host, self.options.port, ticket)

    def _probe_ticket(self) -> str:
        secret = self.env.get("KASAGI_SECRET", "")
        if not secret:
            return "dev"
        from kasagi.auth import mint_token

        return mint_token("kasagi_probe", secret.encode("utf-8"), time.time(), 60)
