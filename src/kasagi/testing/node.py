"""A Kasagi node as a child process for tests and benchmarks, and the readiness checks it
waits on (``kasagi up`` itself execs Crossbar and needs neither)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from kasagi.node import NodeOptions, crossbar_command, node_environment, write_node_dir
from kasagi.testing.processes import ProcessGroup

__all__ = ["NodeProcess", "room_service_answers", "wait_for_websocket"]


def wait_for_websocket(host: str, port: int, deadline: float, path: str = "/ws") -> None:
    """Block until an HTTP upgrade to ``path`` answers 101, or raise ``TimeoutError`` at
    ``deadline`` (a ``time.monotonic()`` value)."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
    ).encode()
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 101"):
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.05)  # polling interval of a readiness probe, not a wait for a result
    raise TimeoutError(f"no WebSocket at {host}:{port}{path} before the deadline ({last})")


def room_service_answers(host: str, port: int, ticket: str = "dev", timeout: float = 2.0) -> bool:
    """True when a client can log in and the room service answers a call (a join of a room
    nobody opened comes back ``kasagi.error.no_such_room``; without a room service the router
    says ``wamp.error.no_such_procedure``)."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    try:
        with connect(f"ws://{host}:{port}/ws", subprotocols=["wamp.2.json"], open_timeout=timeout) as ws:  # type: ignore[list-item]
            ws.send(
                json.dumps(
                    [1, "kasagi", {"roles": {"caller": {}}, "authmethods": ["ticket"], "authid": "kasagi_probe"}]
                )
            )
            msg = json.loads(ws.recv(timeout))
            if msg[0] == 4:
                ws.send(json.dumps([5, ticket, {}]))
                msg = json.loads(ws.recv(timeout))
            if msg[0] != 2:
                return False
            ws.send(json.dumps([48, 1, {}, "kasagi.room.kasagi_probe.join", []]))
            reply = json.loads(ws.recv(timeout))
            return bool(reply[0] == 8 and reply[4] == "kasagi.error.no_such_room")
    except (OSError, TimeoutError, WebSocketException, ValueError, IndexError):
        return False


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
            if room_service_answers(self.probe_host, self.options.port, self._probe_ticket()):
                return
            time.sleep(0.1)  # polling interval of a readiness probe
        raise TimeoutError(f"the node was not ready within {timeout} s; see {self.log_path}")

    def _probe_ticket(self) -> str:
        secret = self.env.get("KASAGI_SECRET", "")
        if not secret:
            return "dev"
        from kasagi.auth import mint_token

        return mint_token("kasagi_probe", secret.encode("utf-8"), time.time(), 60)
