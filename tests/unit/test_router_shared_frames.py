"""The frame :mod:`router.shared_frames` writes is the one Autobahn's server would build."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import txaio

txaio.use_twisted()  # before Autobahn's WAMP modules bind txaio's functions

from autobahn.websocket.protocol import WebSocketProtocol  # noqa: E402

from router.shared_frames import frame  # noqa: E402


def autobahn_frame(payload: bytes, binary: bool) -> bytes:
    """What ``WebSocketProtocol.sendFrame`` of a server writes for one whole message."""
    written: list[bytes] = []
    server = SimpleNamespace(
        factory=SimpleNamespace(isServer=True),
        maskServerFrames=False,
        applyMask=True,
        trafficStats=SimpleNamespace(outgoingWebSocketFrames=0),
        logFrames=False,
        sendData=lambda data, sync=False, chopsize=None: written.append(data),
    )
    WebSocketProtocol.sendFrame(server, opcode=2 if binary else 1, payload=payload)  # type: ignore[arg-type]
    return b"".join(written)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 300_000])
@pytest.mark.parametrize("binary", [True, False])
def test_the_frame_is_autobahns_for_every_length_form(size: int, binary: bool):
    """Lengths in the header's 7-bit, 16-bit and 64-bit forms, text and binary."""
    payload = bytes(i % 251 for i in range(size))
    assert frame(payload, binary) == autobahn_frame(payload, binary)


class Recorder:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def protocol_class() -> type:
    """A stand-in for the router's WebSocket protocol: the attributes the shared-frame
    ``send`` reads, as an open connection of Crossbar's has them, and a long way that
    records what it was asked to send."""
    from collections import deque

    from autobahn.websocket.protocol import TrafficStats

    class Protocol:
        long_way: list[Any]

        def __init__(self, serializer: Any) -> None:
            self._session = object()
            self._serializer = serializer
            self.state = 3  # open
            self._perMessageCompress = None
            self.autoFragmentSize = 65_536  # Crossbar's default
            self.maxMessagePayloadSize = 65_536
            self.logFrames = self.logOctets = False
            self.trackedTimings = None
            self.send_queue: deque[Any] = deque()
            self.log = txaio.make_logger()
            self.trafficStats = TrafficStats()
            self.transport = Recorder()

        def send(self, msg: Any) -> None:
            type(self).long_way.append((self, msg))

    Protocol.long_way = []
    return Protocol


def event(size: int) -> Any:
    from autobahn.wamp.message import Event

    return Event(1, 2, args=["x" * size])


def test_a_message_is_framed_once_for_all_its_clients_of_one_serializer():
    """Three clients on MessagePack and one on JSON get one message: each transport gets
    the whole frame of its serializer's bytes, written directly; the MessagePack frame is
    built once; the connections count the message as Autobahn would."""
    from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer

    from router.shared_frames import install

    cls = protocol_class()
    assert install(cls) and not install(cls)
    msgpack, json = MsgPackSerializer(), JsonSerializer()
    clients = [cls(msgpack), cls(msgpack), cls(msgpack), cls(json)]
    msg = event(100)
    for client in clients:
        client.send(msg)
    assert cls.long_way == []
    packed, text = msg.serialize(msgpack._serializer), msg.serialize(json._serializer)
    assert [c.transport.written for c in clients] == [[frame(packed, True)]] * 3 + [[frame(text, False)]]
    assert sum(1 for key in msg._serialized if isinstance(key, tuple)) == 2  # a frame per serializer
    stats = clients[0].trafficStats
    assert stats.outgoingWebSocketMessages == 1 and stats.outgoingOctetsAppLevel == len(packed)
    assert stats.outgoingOctetsWireLevel == len(frame(packed, True))
    assert msgpack._serialized_messages == 3 and msgpack._serialized_bytes == 3 * len(packed)


@pytest.mark.parametrize(
    "change",
    [
        "compression",
        "fragmented",
        "over the limit",
        "queued",
        "closing",
        "frames logged",
        "timings",
        "trace logging",
        "statistics reset by callback",
        "no session",
    ],
)
def test_anything_else_asked_of_a_send_takes_the_long_way(change: str):
    """A message that would be framed otherwise, or a connection that does more with a send,
    gets Autobahn's own send, and nothing is written directly."""
    from autobahn.wamp.serializer import MsgPackSerializer

    from router.shared_frames import install

    cls = protocol_class()
    install(cls)
    client, size = cls(MsgPackSerializer()), 100
    if change == "compression":
        client._perMessageCompress = object()
    elif change == "fragmented":
        client.autoFragmentSize, client.maxMessagePayloadSize = 1_000, 0
        size = 2_000
    elif change == "over the limit":
        size = 70_000
    elif change == "queued":
        client.send_queue.append((b"x", True))
    elif change == "closing":
        client.state = 2
    elif change == "frames logged":
        client.logFrames = True
    elif change == "trace logging":
        client.log.trace = lambda *args, **kwargs: None
    elif change == "statistics reset by callback":
        client._serializer._autoreset_callback = lambda stats: None
    elif change == "no session":
        client._session = None
    else:
        client.trackedTimings = object()
    msg = event(size)
    client.send(msg)
    assert cls.long_way == [(client, msg)]
    assert client.transport.written == []
