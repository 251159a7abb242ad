"""The benchmark's lean WAMP client reads server frames from a byte stream: the upgrade reply,
whole and fragmented messages, frames split across reads, pings, closes and WAMP replies."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from kasagi.bench._wamp import CALL, ERROR, EVENT, RESULT, SUBSCRIBED, WELCOME, LeanWamp, WampError

UPGRADE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def _frame(payload: bytes, opcode: int = 2, fin: bool = True) -> bytes:
    """An unmasked server frame."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", b0, n) + payload
    if n < 65536:
        return struct.pack("!BBH", b0, 126, n) + payload
    return struct.pack("!BBQ", b0, 127, n) + payload


def _sent(transport: StringTransport) -> list[tuple[int, bytes]]:
    """The (opcode, payload) of each masked client frame written so far (after the request)."""
    data = transport.value()
    data = data[data.index(b"\r\n\r\n") + 4 :]
    frames = []
    while data:
        opcode, n = data[0] & 0x0F, data[1] & 0x7F
        head = 2
        if n == 126:
            n, head = struct.unpack_from("!H", data, 2)[0], 4
        elif n == 127:
            n, head = struct.unpack_from("!Q", data, 2)[0], 10
        frames.append((opcode, data[head + 4 : head + 4 + n]))
        data = data[head + 4 + n :]
    return frames


class LeanWampFrameTests(SynchronousTestCase):
    def connect(self) -> tuple[LeanWamp, StringTransport, list[Any]]:
        events: list[Any] = []
        proto = LeanWamp("127.0.0.1", 9, "alice", on_event=lambda *a: events.append(a[:4]))
        transport = StringTransport()
        proto.makeConnection(transport)
        return proto, transport, events

    def test_a_split_upgrade_reply_sends_hello_once_complete(self) -> None:
        """The HELLO goes out once the whole upgrade reply arrived, and a frame in the same read is read."""
        proto, transport, _ = self.connect()
        proto.dataReceived(UPGRADE[:20])
        self.assertEqual(_sent(transport), [])
        proto.dataReceived(UPGRADE[20:] + _frame(msgpack.packb([WELCOME, 7, {}])))
        ((opcode, hello),) = _sent(transport)
        self.assertEqual((opcode, msgpack.unpackb(hello)[0]), (2, 1))
        self.assertEqual(self.successResultOf(proto.ready), 7)

    def test_a_refused_upgrade_closes_the_connection(self) -> None:
        """A reply other than 101 closes the connection without sending HELLO."""
        proto, transport, _ = self.connect()
        proto.dataReceived(b"HTTP/1.1 403 Forbidden\r\n\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(_sent(transport), [])

    def test_fragments_frames_split_across_reads_and_long_frames_arrive_whole(self) -> None:
        """A fragmented event, an event split across reads and a 16-bit-length event each reach on_event once."""
        proto, _, events = self.connect()
        proto.dataReceived(UPGRADE)
        whole = msgpack.packb([EVENT, 1, 2, {}, ["a"]])
        proto.dataReceived(_frame(whole[:3], fin=False) + _frame(whole[3:6], opcode=0, fin=False))
        proto.dataReceived(_frame(whole[6:], opcode=0))
        split = _frame(msgpack.packb([EVENT, 1, 3, {}, ["b"]]))
        proto.dataReceived(split[:1])
        proto.dataReceived(split[1:4])
        proto.dataReceived(split[4:])
        proto.dataReceived(_frame(msgpack.packb([EVENT, 1, 4, {}, ["c" * 300]])))
        self.assertEqual([e[1] for e in events], [["a"], ["b"], ["c" * 300]])

    def test_a_ping_gets_a_pong_and_a_close_closes(self) -> None:
        """A ping is answered with a pong of the same payload; a close frame closes the connection."""
        proto, transport, _ = self.connect()
        proto.dataReceived(UPGRADE)
        proto.dataReceived(_frame(b"hi", opcode=9))
        self.assertEqual(_sent(transport)[-1], (0xA, b"hi"))
        self.assertFalse(transport.disconnecting)
        proto.dataReceived(_frame(b"", opcode=8))
        self.assertTrue(transport.disconnecting)

    def test_replies_fire_their_requests(self) -> None:
        """RESULT, SUBSCRIBED and ERROR fire the Deferreds of the calls and subscriptions they answer."""
        proto, _, _ = self.connect()
        proto.dataReceived(UPGRADE)
        call, sub, refused = proto.call("p"), proto.subscribe("t"), proto.call("q")
        replies = [[RESULT, 1, {}, [42]], [SUBSCRIBED, 2, 99], [ERROR, CALL, 3, {}, "kasagi.error.x", ["no"]]]
        proto.dataReceived(b"".join(_frame(msgpack.packb(r)) for r in replies))
        self.assertEqual(self.successResultOf(call), 42)
        self.assertEqual(self.successResultOf(sub), 99)
        error = self.failureResultOf(refused, WampError).value
        self.assertEqual((error.error, error.args_), ("kasagi.error.x", ["no"]))
