"""A lean WAMP-over-WebSocket client for the load generator.

The project's client (:mod:`kasagi.client`) runs each connection through Autobahn's
WebSocket and session layers, which cost ~100 us of Python per message: one generator core
then saturates at a few thousand messages per second, below what the router delivers. This
client speaks the same wire protocol (RFC 6455 framing, WAMP v2 basic profile: HELLO/ticket,
CALL, SUBSCRIBE, PUBLISH, EVENT) with the serializers' C codecs and no per-message
Deferreds for events, so that the generator, not the server, is rarely the limit.

It is a measuring tool, not a product client: no reconnection, no retries; the bot above it
(:mod:`kasagi.bench._bot`) decides what a failure means for the measurement.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import time
from collections.abc import Callable
from typing import Any

import cbor2
import msgpack
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

__all__ = ["LeanWamp", "WampError", "connect"]

HELLO, WELCOME, ABORT, CHALLENGE, AUTHENTICATE, GOODBYE, ERROR = 1, 2, 3, 4, 5, 6, 8
PUBLISH, SUBSCRIBE, SUBSCRIBED, EVENT, CALL, RESULT = 16, 32, 33, 36, 48, 50

_ROLES: dict[str, Any] = {"caller": {"features": {}}, "subscriber": {"features": {}}, "publisher": {"features": {}}}


class WampError(Exception):
    """A WAMP ERROR (or ABORT) reply: ``error`` is its URI, ``kwargs`` its details."""

    def __init__(self, error: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None) -> None:
        super().__init__(error, *(args or []))
        self.error = error
        self.args_ = args or []
        self.kwargs = kwargs or {}


def _codec(serializer: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any], int]:
    """(encode, decode, websocket opcode) of a WAMP serializer."""
    if serializer == "msgpack":
        return (lambda o: msgpack.packb(o, use_bin_type=True)), (lambda b: msgpack.unpackb(b, raw=False)), 2
    if serializer == "cbor":
        return cbor2.dumps, cbor2.loads, 2
    if serializer == "json":
        return (lambda o: json.dumps(o, separators=(",", ":")).encode()), json.loads, 1
    raise ValueError(f"unknown serializer {serializer!r}")


class LeanWamp(Protocol):
    """One WebSocket connection carrying one WAMP session.

    ``ready`` fires with the session id once WELCOME arrived. ``on_event(sub_id, args,
    kwargs, details, received_ms)`` is called for every EVENT. ``bytes_read`` counts every byte
    read from the socket (frames and headers).
    """

    transport: Any

    def __init__(
        self,
        host: str,
        port: int,
        authid: str,
        serializer: str = "msgpack",
        ticket: str = "dev",
        on_event: Callable[[int, list[Any], dict[str, Any], dict[str, Any], float], None] | None = None,
        path: str = "/ws",
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.authid, self.ticket = authid, ticket
        self.serializer = serializer
        self._encode, self._decode, self._opcode = _codec(serializer)
        self.on_event = on_event
        self.ready: Deferred[int] = Deferred()
        self.closed: Deferred[None] = Deferred()
        self.session_id: int | None = None
        self.bytes_read = 0
        self._buf = b""
        self._handshaken = False
        self._fragments: list[bytes] = []
        self._next_request = 0
        self._pending: dict[int, Deferred[Any]] = {}
        self._open = False
        self._key = base64.b64encode(os.urandom(16)).decode()

    # -- transport ---------------------------------------------------------------------------
    def connectionMade(self) -> None:
        self._open = True
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: wamp.2.{self.serializer}\r\n\r\n"
        )
        self.transport.write(request.encode())

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._open = False
        error = WampError("wamp.close.transport_lost", [str(reason.value) if reason else "closed"])
        pending, self._pending = self._pending, {}
        for d in pending.values():
            d.errback(Failure(error))
        if not self.ready.called:
            self.ready.errback(Failure(error))
        if not self.closed.called:
            self.closed.callback(None)

    def dataReceived(self, data: bytes) -> None:
        received_ms = time.time() * 1000.0
        self.bytes_read += len(data)
        buf = self._buf + data if self._buf else data
        if not self._handshaken:
            rest = self._handshake(buf)
            if rest is None:
                return
            buf = rest
        # The per-frame loop: a whole data frame is decoded inline; the rare fragments and
        # control frames go to _fragment and _control.
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if n - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            opcode = b0 & 0x0F
            if opcode in (1, 2, 0):
                if b0 & 0x80 and not self._fragments:
                    self._message(self._decode(payload), received_ms)
                else:
                    self._fragment(b0 & 0x80, payload, received_ms)
            elif self._control(opcode, payload):
                return
        self._buf = buf[pos:] if pos < n else b""

    def _handshake(self, buf: bytes) -> bytes | None:
        """Read the HTTP upgrade reply at the start of ``buf``; the bytes after it, or None
        while it is incomplete (kept for the next read) or refused (the connection is closed)."""
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self._buf = buf
            return None
        if not buf.startswith(b"HTTP/1.1 101"):
            self._buf = b""
            self.transport.loseConnection()
            return None
        self._handshaken = True
        self._send([HELLO, "kasagi", {"roles": _ROLES, "authmethods": ["ticket"], "authid": self.authid}])
        return buf[end + 4 :]

    def _fragment(self, fin: int, payload: bytes, received_ms: float) -> None:
        """Keep a fragment of a message; the last one (``fin``) completes and delivers it."""
        self._fragments.append(payload)
        if fin:
            payload = b"".join(self._fragments)
            self._fragments = []
            self._message(self._decode(payload), received_ms)

    def _control(self, opcode: int, payload: bytes) -> bool:
        """Answer a control frame (a ping gets its pong); whether the connection is closing."""
        if opcode == 9:
            self._frame(0xA, payload)
        elif opcode == 8:
            self.transport.loseConnection()
            return True
        return False

    def _frame(self, opcode: int, payload: bytes) -> None:
        # Client frames must be masked; a zero key leaves the payload as it is.
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.transport.write(head + b"\x00\x00\x00\x00" + payload)

    def _send(self, msg: list[Any]) -> None:
        if self._open:
            self._frame(self._opcode, self._encode(msg))

    # -- WAMP ----------------------------------------------------------------------------------
    def _message(self, msg: list[Any], received_ms: float) -> None:
        # EVENT and RESULT are the per-message traffic and stay inline; the rest is per session.
        kind = msg[0]
        if kind == EVENT:
            if self.on_event is not None:
                args = msg[4] if len(msg) > 4 else []
                kwargs = msg[5] if len(msg) > 5 else {}
                self.on_event(msg[1], args, kwargs, msg[3], received_ms)
        elif kind == RESULT:
            d = self._pending.pop(msg[1], None)
            if d is not None:
                d.callback(msg[3][0] if len(msg) > 3 and msg[3] else None)
        elif kind == ERROR or kind == SUBSCRIBED:
            self._reply(kind, msg)
        else:
            self._session_message(kind, msg)

    def _reply(self, kind: int, msg: list[Any]) -> None:
        """An ERROR (for any request) or a SUBSCRIBED: fire the request's Deferred."""
        if kind == ERROR:
            d = self._pending.pop(msg[2], None)
            if d is not None:
                d.errback(Failure(WampError(msg[4], msg[5] if len(msg) > 5 else [], msg[6] if len(msg) > 6 else {})))
        else:
            d = self._pending.pop(msg[1], None)
            if d is not None:
                d.callback(msg[2])

    def _session_message(self, kind: int, msg: list[Any]) -> None:
        """WELCOME, CHALLENGE, ABORT and GOODBYE: opening and closing the session."""
        if kind == WELCOME:
            self.session_id = msg[1]
            self.ready.callback(msg[1])
        elif kind == CHALLENGE:
            self._send([AUTHENTICATE, self.ticket, {}])
        elif kind == ABORT:
            if not self.ready.called:
                self.ready.errback(Failure(WampError(msg[2], [msg[1].get("message", "")])))
            self.transport.loseConnection()
        elif kind == GOODBYE:
            self._send([GOODBYE, {}, "wamp.close.goodbye_and_out"])
            self.transport.loseConnection()

    def _request(self) -> tuple[int, Deferred[Any]]:
        self._next_request += 1
        d: Deferred[Any] = Deferred()
        self._pending[self._next_request] = d
        return self._next_request, d

    def call(
        self, procedure: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None
    ) -> Deferred[Any]:
        """CALL; fires with the first positional result, or fails with :class:`WampError`."""
        request, d = self._request()
        msg: list[Any] = [CALL, request, {}, procedure, args or []]
        if kwargs:
            msg.append(kwargs)
        self._send(msg)
        return d

    def subscribe(self, topic: str, match: str | None = None) -> Deferred[int]:
        """SUBSCRIBE; fires with the subscription id (events arrive at ``on_event``)."""
        request, d = self._request()
        self._send([SUBSCRIBE, request, {"match": match} if match else {}, topic])
        return d

    def publish(self, topic: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None) -> None:
        """PUBLISH without acknowledgement (fire and forget)."""
        self._next_request += 1
        msg: list[Any] = [PUBLISH, self._next_request, {}, topic, args or []]
        if kwargs:
            msg.append(kwargs)
        self._send(msg)

    def close(self) -> None:
        if self._open:
            self._send([GOODBYE, {}, "wamp.close.normal"])
            self.transport.loseConnection()


class _OneConnection(ClientFactory):
    """Builds the one given protocol; a connection that fails fails its ``ready``."""

    def __init__(self, proto: LeanWamp) -> None:
        self.proto = proto

    def buildProtocol(self, addr: Any) -> LeanWamp:
        return self.proto

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.proto.ready.called:
            self.proto.ready.errback(reason)


def connect(reactor: Any, proto: LeanWamp, timeout: float = 30.0) -> None:
    """Open ``proto``'s TCP connection to its host and port (``proto.ready`` says how it went)."""
    reactor.connectTCP(proto.host, proto.port, _OneConnection(proto), timeout=timeout)
