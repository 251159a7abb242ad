"""Malformed input below the WAMP layer, through a real router: each bad connection is closed,
and only it -- the router, the room service and other sessions keep working."""

from __future__ import annotations

import json
from collections.abc import Callable

import cbor2
import msgpack
import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, protocol, reactor

from kasagi.client import KasagiClient
from kasagi.deadline import within
from kasagi.testing.node import NodeProcess
from tests.security.nodes import token

pytestmark = pytest.mark.node

MIB = 1024 * 1024
Script = Callable[[bytes], list[tuple[bytes, bool]]]


class FrameClient(WebSocketClientProtocol):  # type: ignore[misc]
    """Sends raw frames: its factory's ``first`` on open, then whatever ``script(message)`` answers."""

    def onOpen(self) -> None:
        self.factory.opened.callback(None) if not self.factory.opened.called else None
        for payload, binary in self.factory.first:
            self.sendMessage(payload, isBinary=binary)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.received.append(payload)
        if self.factory.script is not None:
            for reply, binary in self.factory.script(payload):
                self.sendMessage(reply, isBinary=binary)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if not self.factory.closed.called:
            self.factory.closed.callback(code)


def open_raw(
    port: int, subprotocol: str, first: list[tuple[bytes, bool]], script: Script | None = None
) -> WebSocketClientFactory:
    factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/ws", protocols=[subprotocol])
    factory.protocol = FrameClient
    factory.setProtocolOptions(autoFragmentSize=0, maxMessagePayloadSize=0, maxFramePayloadSize=0)
    factory.first, factory.script, factory.received = first, script, []
    factory.opened, factory.closed = defer.Deferred(), defer.Deferred()
    reactor.connectTCP("127.0.0.1", port, factory)
    return factory


def hello(authid: str) -> list[object]:
    return [1, "kasagi", {"authmethods": ["ticket"], "authid": authid, "roles": {"caller": {}, "subscriber": {}}}]


def after_welcome(
    then: bytes, binary: bool, encode: Callable[[object], bytes], decode: Callable[[bytes], object]
) -> Script:
    """Log in properly (ticket), then send ``then``."""

    def script(payload: bytes) -> list[tuple[bytes, bool]]:
        message = decode(payload)
        if isinstance(message, list) and message and message[0] == 4:  # CHALLENGE
            return [(encode([5, token("frames"), {}]), binary)]
        if isinstance(message, list) and message and message[0] == 2:  # WELCOME
            return [(then, binary)]
        return []

    return script


def js(value: object) -> bytes:
    return json.dumps(value).encode()


CASES: dict[str, tuple[str, list[tuple[bytes, bool]], Script | None]] = {
    "invalid JSON": ("wamp.2.json", [(b'[1, "kasagi", {', False)], None),
    "invalid UTF-8 in a text frame": ("wamp.2.json", [(b'[1, "kasagi\xff\xfe", {}]', False)], None),
    "unknown message type before HELLO": ("wamp.2.json", [(js([99999, 1, {}]), False)], None),
    "HELLO of the wrong shape": ("wamp.2.json", [(js([1, 5, "x"]), False)], None),
    "JSON nested 50,000 deep": ("wamp.2.json", [(b"[" * 50_000 + b"]" * 50_000, False)], None),
    "JSON integer of 20,000 digits": ("wamp.2.json", [(b'[1, "kasagi", {"x": ' + b"7" * 20_000 + b"}]", False)], None),
    "2 MiB JSON message": ("wamp.2.json", [(js([1, "kasagi", {"pad": "a" * (2 * MIB)}]), False)], None),
    "invalid CBOR": ("wamp.2.cbor", [(b"\xff\xff\xff", True)], None),
    "invalid UTF-8 in a CBOR string": ("wamp.2.cbor", [(b"\x83\x01\x62\xff\xfe\xa0", True)], None),
    "CBOR nested 60,000 deep": ("wamp.2.cbor", [(b"\x81" * 60_000 + b"\x01", True)], None),
    "2 MiB CBOR message": ("wamp.2.cbor", [(cbor2.dumps([1, "kasagi", {"pad": b"\0" * (2 * MIB)}]), True)], None),
    "invalid msgpack": ("wamp.2.msgpack", [(b"\xc1\xc1\xc1", True)], None),
    "invalid UTF-8 in a msgpack string": ("wamp.2.msgpack", [(b"\x93\x01\xa2\xff\xfe\x80", True)], None),
    "msgpack nested 60,000 deep": ("wamp.2.msgpack", [(b"\x91" * 60_000 + b"\x01", True)], None),
    "unknown message type after WELCOME (JSON)": (
        "wamp.2.json",
        [(js(hello("frames")), False)],
        after_welcome(js([99999, 1, {}]), False, js, json.loads),
    ),
    "unknown message type after WELCOME (msgpack)": (
        "wamp.2.msgpack",
        [(msgpack.packb(hello("frames")), True)],
        after_welcome(msgpack.packb([77, 1]), True, msgpack.packb, msgpack.unpackb),
    ),
    "CALL with a malformed forward_for (CBOR)": (
        "wamp.2.cbor",
        [(cbor2.dumps(hello("frames")), True)],
        after_welcome(
            cbor2.dumps([48, 1, {"forward_for": [{"x": 1}]}, "kasagi.lobby.open", ["x"]]),
            True,
            cbor2.dumps,
            cbor2.loads,
        ),
    ),
    "2 MiB CALL after WELCOME (msgpack)": (
        "wamp.2.msgpack",
        [(msgpack.packb(hello("frames")), True)],
        after_welcome(
            msgpack.packb([48, 1, {}, "kasagi.lobby.open", ["x" * (2 * MIB)]]), True, msgpack.packb, msgpack.unpackb
        ),
    ),
}


@pytest.fixture(scope="module")
def bystander(secure_node: NodeProcess):  # type: ignore[no-untyped-def]
    client = pytest_twisted.blockon(KasagiClient.connect(secure_node.url, "bystander", token("bystander")))
    handle = pytest_twisted.blockon(client.join("frames_room"))
    yield client, handle
    pytest_twisted.blockon(client.close())


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_connection_is_closed_and_nothing_else_is(secure_node: NodeProcess, bystander, case: str):  # type: ignore[no-untyped-def]
    """The router closes the offending connection; the node's processes, a joined member's session
    and new logins are unaffected."""
    client, handle = bystander
    pids = sorted(secure_node.pids())
    subprotocol, first, script = CASES[case]
    factory = open_raw(secure_node.options.port, subprotocol, first, script)
    yield within(factory.closed, 20.0, reactor, f"the router closing the connection ({case})")
    ack = yield handle.act("move", {"dx": 1, "dy": 0})
    assert ack["seq"] > 0 and client.connects == 1, "the bystander kept its session"
    fresh = yield KasagiClient.connect(secure_node.url, "newcomer", token("newcomer"))
    try:
        yield fresh.join("frames_room")
    finally:
        yield fresh.close()
    assert sorted(secure_node.pids()) == pids and secure_node.proc is not None and secure_node.proc.poll() is None


class SilentPeer(protocol.Protocol):
    """A TCP peer that sends ``request`` (maybe nothing) and then never reads or answers."""

    def __init__(self, request: bytes, lost: defer.Deferred) -> None:
        self.request, self.lost = request, lost

    def connectionMade(self) -> None:
        if self.request:
            self.transport.write(self.request)

    def connectionLost(self, reason: object = None) -> None:
        if not self.lost.called:
            self.lost.callback(None)


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
)


SILENT_PEERS = {
    "tcp only, no HTTP request (client timeout 10 s)": b"",
    "half an HTTP request (client timeout 10 s)": b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "WebSocket open, never HELLO, never answers pings (1 s pings)": UPGRADE,
}


@pytest_twisted.inlineCallbacks
def test_peers_that_never_speak_are_dropped(limits_node: NodeProcess):
    """A connection that never sends an HTTP request, one that stops halfway through it, and one that
    opens the WebSocket and then never sends HELLO nor answers pings are all closed by the router
    (within 30 s); a member connects and joins meanwhile."""
    lost = {name: defer.Deferred() for name in SILENT_PEERS}
    for name, request_bytes in SILENT_PEERS.items():
        factory = protocol.ClientFactory()
        factory.protocol = lambda r=request_bytes, d=lost[name]: SilentPeer(r, d)  # type: ignore[misc]
        reactor.connectTCP("127.0.0.1", limits_node.options.port, factory)
    client = yield KasagiClient.connect(limits_node.url, "patient2")
    try:
        yield client.join("silent_peers")
    finally:
        yield client.close()
    for name, d in lost.items():
        yield within(d, 30.0, reactor, f"the router dropping the silent peer: {name}")
