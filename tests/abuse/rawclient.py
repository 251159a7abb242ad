"""A client that stops reading: a blocking socket that speaks just enough WebSocket and WAMP
(JSON) to join the realm and subscribe, then never calls ``recv`` again; and the RSS of a
node's processes."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any


def _frame(payload: bytes) -> bytes:
    """One masked text frame."""
    mask = os.urandom(4)
    n = len(payload)
    head = b"\x81" + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _read_message(sock: socket.socket) -> Any:
    head = _exact(sock, 2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", _exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _exact(sock, 8))[0]
    return json.loads(_exact(sock, n))


def _exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def stalled_subscriber(port: int, authid: str, topic: str, rcvbuf: int = 4096) -> socket.socket:
    """A WAMP session of ``authid`` subscribed to ``topic`` whose socket is never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response.split(b"\r\n")[0], response
    hello = [1, "kasagi", {"authid": authid, "authmethods": ["ticket"], "roles": {"subscriber": {}}}]
    sock.sendall(_frame(json.dumps(hello).encode()))
    reply = _read_message(sock)
    if reply[0] == 4:  # CHALLENGE
        sock.sendall(_frame(json.dumps([5, "dev", {}]).encode()))
        reply = _read_message(sock)
    assert reply[0] == 2, reply  # WELCOME
    sock.sendall(_frame(json.dumps([32, 1, {}, topic]).encode()))
    subscribed = _read_message(sock)
    assert subscribed[0] == 33, subscribed
    return sock


def closed_by_peer(sock: socket.socket, timeout: float = 10.0) -> bool:
    """Read what is left; True when the server closed the connection within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True
