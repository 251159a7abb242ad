"""Is a node ready? The checks ``kasagi up`` waits on before it says ``ready`` (and the test
and benchmark helpers reuse): its WebSocket answers an upgrade, and a client can log in and
reach the room service."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "FAILED_TO_START",
    "room_service_answers",
    "room_service_answers_at",
    "wait_for_websocket",
    "websocket_answers",
]

#: How the node's log line begins when its room service could not start (the room service
#: logs it and stops the node; ``kasagi up`` prints the reason).
FAILED_TO_START = "room service failed to start: "


def websocket_answers(host: str, port: int, path: str = "/ws", timeout: float = 1.0) -> bool:
    """True when an HTTP upgrade to ``path`` answers 101 (the router is listening)."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(request)
            return s.recv(64).startswith(b"HTTP/1.1 101")
    except OSError:
        return False


def wait_for_websocket(host: str, port: int, deadline: float, path: str = "/ws") -> None:
    """Block until an HTTP upgrade to ``path`` answers 101, or raise ``TimeoutError`` at
    ``deadline`` (a ``time.monotonic()`` value)."""
    while time.monotonic() < deadline:
        if websocket_answers(host, port, path):
            return
        time.sleep(0.05)  # polling interval of a readiness probe, not a wait for a result
    raise TimeoutError(f"no WebSocket at {host}:{port}{path} before the deadline")


def room_service_answers(host: str, port: int, ticket: str = "dev", timeout: float = 2.0) -> bool:
    """True when a client can log in and the room service answers a call (a join of a room
    nobody opened comes back ``kasagi.error.no_such_room``; without a room service the router
    says ``wamp.error.no_such_procedure``)."""
    from websockets.sync.client import connect

    return _probe_room_service(
        lambda: connect(f"ws://{host}:{port}/ws", subprotocols=["wamp.2.json"], open_timeout=timeout),  # type: ignore[list-item]
        ticket,
        timeout,
    )


def room_service_answers_at(path: str, ticket: str = "dev", timeout: float = 2.0) -> bool:
    """:func:`room_service_answers` through one router's own Unix socket (a router of a
    many-router node, whose public port may land on any of them)."""
    from websockets.sync.client import unix_connect

    return _probe_room_service(
        lambda: unix_connect(path, "ws://localhost/ws", subprotocols=["wamp.2.json"], open_timeout=timeout),
        ticket,
        timeout,
    )


def _probe_room_service(connect: Callable[[], Any], ticket: str, timeout: float) -> bool:
    from websockets.exceptions import WebSocketException

    try:
        with connect() as ws:
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
