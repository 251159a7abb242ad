"""Direct writes (``router/direct_writes.py``) on real sockets on 127.0.0.1: partial sends,
producers, disconnects and TLS."""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest_twisted
from twisted.internet import defer, error, reactor, ssl
from twisted.internet.interfaces import IPullProducer, IPushProducer
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from router.direct_writes import DirectWrites, use_direct_writes
from tests.waiting import until

#: More than the loopback socket buffers hold, so the kernel takes a write only partly.
BIG = 16 * 1024 * 1024


def payload(n: int, seed: int = 0) -> bytes:
    """``n`` bytes in which every position differs from its neighbours (order is checked)."""
    block = bytes((i * 7 + seed) % 251 for i in range(251 * 16))
    return (block * (n // len(block) + 1))[:n]


class Server(Protocol):
    """The side under test: its transport gets direct writes when ``direct`` is set."""

    def __init__(self, direct: bool) -> None:
        self.direct = direct
        self.lost: Failure | None = None
        self.received = b""

    def connectionMade(self) -> None:
        if self.direct:
            assert use_direct_writes(self.transport)
        self.factory.connected.callback(self)  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = error.ConnectionDone) -> None:  # type: ignore[assignment]
        self.lost = reason


class Reader(Protocol):
    """The peer: reads only once :meth:`read` is called (until then the kernel buffers fill)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: Failure | None = None

    def connectionMade(self) -> None:
        self.transport.pauseProducing()  # type: ignore[attr-defined]

    def read(self) -> None:
        self.transport.resumeProducing()  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure = error.ConnectionDone) -> None:  # type: ignore[assignment]
        self.lost = reason


@defer.inlineCallbacks
def connected_pair(direct: bool = True) -> Any:
    """A listening server, one connection to it, and both ends' protocols (server, reader)."""
    factory = Factory.forProtocol(lambda: Server(direct))  # type: ignore[arg-type]
    factory.connected = defer.Deferred()  # type: ignore[attr-defined]
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]
    reader = Reader()
    client = ClientFactory.forProtocol(lambda: reader)  # type: ignore[arg-type]
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)  # type: ignore[attr-defined]
    server = yield factory.connected
    yield until(lambda: reader.transport is not None and reader.transport.connected)
    port.stopListening()
    return server, reader


def buffered(transport: Any) -> int:
    return int(transport._tempDataLen + len(transport.dataBuffer) - transport.offset)


@pytest_twisted.inlineCallbacks
def test_a_write_on_an_empty_buffer_is_sent_without_registering_for_writability():
    """A small write reaches the peer at once, and the transport never asks the reactor to
    tell it when the socket is writable."""
    server, reader = yield connected_pair()
    registrations: list[int] = []
    original = server.transport.startWriting
    server.transport.startWriting = lambda: (registrations.append(1), original())
    reader.read()
    for i in range(100):
        server.transport.write(b"message %d;" % i)
    assert buffered(server.transport) == 0
    yield until(lambda: reader.data.count(b";") == 100)
    assert bytes(reader.data) == b"".join(b"message %d;" % i for i in range(100))
    assert registrations == []
    server.transport.loseConnection()
    yield until(lambda: reader.lost is not None)


@pytest_twisted.inlineCallbacks
def test_a_write_the_kernel_takes_partly_is_completed_in_order():
    """Of a write larger than the socket buffers, the kernel takes a part at once; the rest,
    and what is written after it, arrive behind it in order."""
    server, reader = yield connected_pair()
    big, tail = payload(BIG), b"and then this"
    server.transport.write(big)
    left = buffered(server.transport)
    assert 0 < left < BIG  # sent partly at once, the rest buffered
    server.transport.write(tail)
    assert buffered(server.transport) == left + len(tail)
    reader.read()
    yield until(lambda: len(reader.data) >= BIG + len(tail), timeout=30)
    assert bytes(reader.data) == big + tail
    server.transport.loseConnection()
    yield until(lambda: reader.lost is not None)


@implementer(IPushProducer)
class PushProducer:
    """Writes chunks while not paused, until ``total`` bytes are out."""

    def __init__(self, transport: Any, total: int, chunk: int = 256 * 1024) -> None:
        self.transport, self.total, self.chunk = transport, total, chunk
        self.sent = 0
        self.paused = False
        self.pauses = self.resumes = 0
        self.data = payload(total, seed=3)

    def produce(self) -> None:
        while not self.paused and self.sent < self.total:
            piece = self.data[self.sent : self.sent + self.chunk]
            self.sent += len(piece)
            self.transport.write(piece)
        if self.sent >= self.total:
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    def pauseProducing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        self.paused = False
        self.resumes += 1
        reactor.callLater(0, self.produce)  # type: ignore[attr-defined]

    def stopProducing(self) -> None:
        self.paused = True


@pytest_twisted.inlineCallbacks
def test_a_streaming_producer_is_paused_when_the_rest_is_buffered_and_resumed_when_it_drains():
    """A push producer writing faster than the peer reads is paused once the buffered rest
    exceeds the transport's buffer size, resumed when it drains, and all its data arrives in
    order before the close."""
    server, reader = yield connected_pair()
    producer = PushProducer(server.transport, 3 * BIG)
    server.transport.registerProducer(producer, True)
    producer.produce()
    assert producer.paused and producer.pauses == 1
    reader.read()
    yield until(lambda: reader.lost is not None, timeout=60)
    assert producer.resumes >= 1
    assert bytes(reader.data) == producer.data
    reader.lost.trap(error.ConnectionDone)


@implementer(IPullProducer)
class PullProducer:
    """Writes one chunk each time it is asked, until ``total`` bytes are out."""

    def __init__(self, transport: Any, total: int, chunk: int = 1024 * 1024) -> None:
        self.transport, self.total, self.chunk = transport, total, chunk
        self.sent = 0
        self.asked = 0
        self.data = payload(total, seed=5)

    def resumeProducing(self) -> None:
        self.asked += 1
        if self.sent >= self.total:
            self.transport.unregisterProducer()
            self.transport.loseConnection()
            return
        piece = self.data[self.sent : self.sent + self.chunk]
        self.sent += len(piece)
        self.transport.write(piece)

    def stopProducing(self) -> None:
        self.sent = self.total


@pytest_twisted.inlineCallbacks
def test_a_non_streaming_producer_is_asked_for_more_each_time_the_buffer_drains():
    """A pull producer (asked for a chunk whenever the transport has written everything)
    delivers all its chunks in order and closes, whether or not the peer reads at once."""
    server, reader = yield connected_pair()
    producer = PullProducer(server.transport, 24 * 1024 * 1024)
    server.transport.registerProducer(producer, False)
    reader.read()
    yield until(lambda: reader.lost is not None, timeout=60)
    assert bytes(reader.data) == producer.data
    assert producer.asked == 24 + 1
    reader.lost.trap(error.ConnectionDone)


@pytest_twisted.inlineCallbacks
def test_lose_connection_sends_the_buffered_rest_before_closing():
    """loseConnection() right after a partly sent write closes only after the peer has every
    byte; both ends see a clean close."""
    server, reader = yield connected_pair()
    big = payload(BIG, seed=1)
    server.transport.write(big)
    assert buffered(server.transport) > 0
    server.transport.loseConnection()
    assert server.lost is None
    reader.read()
    yield until(lambda: reader.lost is not None and server.lost is not None, timeout=30)
    assert bytes(reader.data) == big
    reader.lost.trap(error.ConnectionDone)
    server.lost.trap(error.ConnectionDone)


@pytest_twisted.inlineCallbacks
def test_abort_connection_drops_the_buffered_rest():
    """abortConnection() with data still buffered closes at once: the server sees the
    connection aborted and the peer gets less than was written."""
    server, reader = yield connected_pair()
    server.transport.write(payload(BIG))
    assert buffered(server.transport) > 0
    server.transport.abortConnection()
    reader.read()
    yield until(lambda: reader.lost is not None and server.lost is not None, timeout=30)
    server.lost.trap(error.ConnectionAborted)
    assert len(reader.data) < BIG


@defer.inlineCallbacks
def write_after_peer_reset(direct: bool) -> Any:
    """Write to a connection whose peer has reset it (the reactor has not noticed yet);
    return (what write raised, the server's connection-lost reason, writes accepted after)."""
    factory = Factory.forProtocol(lambda: Server(direct))  # type: ignore[arg-type]
    factory.connected = defer.Deferred()  # type: ignore[attr-defined]
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    server = yield factory.connected
    port.stopListening()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # an RST, delivered on loopback before close() returns
    raised = None
    try:
        for _ in range(3):  # ECONNRESET first, then EPIPE
            server.transport.write(b"into the void")
    except Exception as exc:  # noqa: BLE001 -- the outcome under test
        raised = exc
    yield until(lambda: server.lost is not None)
    server.transport.write(b"after the loss")  # ignored, as Twisted does
    return raised, server.lost


@pytest_twisted.inlineCallbacks
def test_a_write_to_a_reset_connection_is_lost_the_way_twisted_loses_it():
    """Writing to a socket the peer has reset raises nothing; the connection is then lost
    with the same reason as with Twisted's own write, and later writes are ignored."""
    raised, lost = yield write_after_peer_reset(direct=True)
    plain_raised, plain_lost = yield write_after_peer_reset(direct=False)
    assert raised is None and plain_raised is None
    assert type(lost.value) is type(plain_lost.value)
    lost.trap(error.ConnectionLost, error.ConnectionDone)


@pytest_twisted.inlineCallbacks
def test_tls_transports_keep_twisteds_write():
    """A TLS transport is never switched, and a switched connection that starts TLS later
    sends only ciphertext through the TLS layer."""
    tls_factory = TLSMemoryBIOFactory(ssl.CertificateOptions(), True, Factory.forProtocol(Protocol))
    assert not use_direct_writes(tls_factory.buildProtocol(None))
    server, reader = yield connected_pair(direct=False)
    reader.read()
    assert use_direct_writes(reader.transport) and isinstance(reader.transport, DirectWrites)
    reader.transport.startTLS(ssl.CertificateOptions())
    reader.transport.write(b"plain text must not leave unencrypted")
    yield until(lambda: len(server.received) > 0)
    assert server.received[:1] == b"\x16"  # a TLS handshake record
    assert b"plain text" not in server.received
    server.transport.abortConnection()
    yield until(lambda: reader.lost is not None)
