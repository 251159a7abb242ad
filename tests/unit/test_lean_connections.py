"""What a client connection keeps in the router, pure: the upgrade's HTTP channel is replaced as the transport's
producer by one that still pauses reading while writes back up, sessions of a class share one logger, WebSocket
options are read from the connection's class, the opening handshake is let go once open, the send queue exists
only while something is queued, and equal HELLO roles are parsed once (the memory saved is measured by
``kasagi bench --points E``)."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.wamp import message
from twisted.internet.testing import StringTransport

from router.lean_connections import (
    OPENING_HANDSHAKE,
    ReadPause,
    SendQueue,
    release_handshake,
    release_opening_handshake,
    share_hello_roles,
    share_protocol_options,
    share_session_loggers,
)


class _Transport:
    def __init__(self) -> None:
        self.producer: Any = None
        self.streamingProducer = False
        self.calls: list[str] = []

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert self.producer is None, "one producer at a time"
        self.producer, self.streamingProducer = producer, streaming

    def unregisterProducer(self) -> None:
        self.producer = None

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")


class _Channel:
    def __init__(self, transport: _Transport) -> None:
        self.transport = transport
        transport.registerProducer(self, True)


class _Request:
    def __init__(self, channel: _Channel) -> None:
        self.channel = channel


def test_an_upgraded_connection_no_longer_keeps_its_http_channel():
    class Resource:
        def render(self, request: Any) -> bytes:
            request.channel.transport = None  # Autobahn takes the transport over
            return b"upgraded"

    release_handshake(Resource)
    release_handshake(Resource)  # twice: one layer
    transport = _Transport()
    channel = _Channel(transport)
    assert Resource().render(_Request(channel)) == b"upgraded"
    assert isinstance(transport.producer, ReadPause) and transport.streamingProducer is True
    transport.producer.pauseProducing()
    transport.producer.resumeProducing()
    transport.producer.stopProducing()
    assert transport.calls == ["pause", "resume"], "reading still pauses while writes back up"


def test_a_connection_with_another_producer_keeps_it():
    class Resource:
        def render(self, request: Any) -> bytes:
            return b"served"

    release_handshake(Resource)
    transport = _Transport()
    channel = _Channel(transport)
    transport.unregisterProducer()
    other = object()
    transport.registerProducer(other, False)
    Resource().render(_Request(channel))
    assert transport.producer is other


def test_sessions_of_a_class_share_one_logger():
    class Session:
        def __init__(self) -> None:
            self.log = object()  # a fresh logger per session, as Autobahn makes

    class Child(Session):
        pass

    share_session_loggers(Session)
    share_session_loggers(Session)
    a, b, c, d = Session(), Session(), Child(), Child()
    assert a.log is b.log
    assert c.log is d.log and c.log is not a.log, "one per class: the namespace names the class"


def _factory() -> Any:
    class Factory(WebSocketServerFactory):
        protocol = WebSocketServerProtocol

    share_protocol_options(Factory)
    share_protocol_options(Factory)  # twice: one layer
    factory = Factory()
    # No opening-handshake timer: nothing is left on the reactor.
    factory.setProtocolOptions(openHandshakeTimeout=0, autoPingInterval=10)
    return factory


def _connected(factory: Any) -> Any:
    protocol = factory.buildProtocol(None)
    protocol.makeConnection(StringTransport())
    return protocol


def test_a_connection_reads_its_websocket_options_from_its_class():
    factory = _factory()
    accept = factory.perMessageCompressionAccept = lambda offers: None
    a, b = _connected(factory), _connected(factory)
    names = type(a).CONFIG_ATTRS
    assert not set(names) & set(vars(a)), "no option is copied onto the connection"
    assert all(getattr(a, name) == getattr(factory, name) for name in names)
    assert a.perMessageCompressionAccept is accept, "a function option stays a function, not a method"
    assert type(a) is type(b) and isinstance(a, factory.protocol)
    assert type(a).__name__ == factory.protocol.__name__


def test_a_connection_keeps_the_options_it_opened_with():
    factory = _factory()
    before = _connected(factory)
    factory.setProtocolOptions(autoPingInterval=3)
    after = _connected(factory)
    assert (before.autoPingInterval, after.autoPingInterval) == (10, 3)
    after.autoPingInterval = 7  # an option set on one connection stays its own
    assert (before.autoPingInterval, _connected(factory).autoPingInterval) == (10, 3)


class _Opening:
    """What Autobahn's server protocol holds when its opening handshake completes."""

    def __init__(self) -> None:
        for name in OPENING_HANDSHAKE:
            setattr(self, name, f"{name} of this connection")
        self.http_headers = {"sec-websocket-protocol": "wamp.2.msgpack"}
        self.websocket_protocol_in_use = "wamp.2.msgpack"
        self.websocket_extensions_in_use: list[Any] = []
        self.send_queue: Any = deque()
        self.opened = 0

    def onOpen(self) -> str:
        self.opened += 1
        return "session started"


def test_an_open_connection_lets_go_of_its_opening_handshake():
    class Protocol(_Opening):
        pass

    release_opening_handshake(Protocol)
    release_opening_handshake(Protocol)  # twice: one layer
    protocol = Protocol()
    assert protocol.onOpen() == "session started" and protocol.opened == 1
    assert not set(OPENING_HANDSHAKE) & set(vars(protocol))
    assert protocol.http_headers == {"sec-websocket-protocol": "wamp.2.msgpack"}, "sessions read the headers"
    assert protocol.websocket_protocol_in_use == "wamp.2.msgpack"
    assert isinstance(protocol.send_queue, SendQueue) and len(protocol.send_queue) == 0


def test_a_connection_with_queued_sends_keeps_its_queue():
    class Protocol(_Opening):
        pass

    release_opening_handshake(Protocol)
    protocol = Protocol()
    protocol.send_queue.append((b"chopped", True))
    protocol.onOpen()
    assert list(protocol.send_queue) == [(b"chopped", True)]


def test_the_send_queue_keeps_order_and_holds_nothing_when_drained():
    queue = SendQueue()
    assert len(queue) == 0 and not queue
    queue.append((b"a", True))
    queue.append((b"b", False))
    assert len(queue) == 2
    assert queue.popleft() == (b"a", True)
    queue.append((b"c", True))
    assert [queue.popleft(), queue.popleft()] == [(b"b", False), (b"c", True)]
    assert len(queue) == 0 and queue._items is None, "a drained queue lets its deque go"
    with pytest.raises(IndexError):
        queue.popleft()


def _hello(features: dict[str, Any]) -> list[Any]:
    roles = {"caller": {"features": features}, "subscriber": {"features": {"publisher_identification": True}}}
    return [message.Hello.MESSAGE_TYPE, "kasagi", {"roles": roles, "authmethods": ["ticket"]}]


def _parser(limit: int = 64) -> Any:
    class Hello(message.Hello):
        pass

    share_hello_roles(Hello, limit)
    share_hello_roles(Hello, limit)  # twice: one layer
    return Hello.parse


def test_hellos_with_equal_roles_share_one_parsed_copy():
    parse = _parser()
    a = parse(_hello({"caller_identification": True, "call_canceling": True}))
    b = parse(_hello({"call_canceling": True, "caller_identification": True}))
    c = parse(_hello({"caller_identification": True}))
    assert a.roles is b.roles and a.roles["caller"].call_canceling is True
    assert c.roles is not a.roles and c.roles["caller"].call_canceling is None
    assert a.realm == b.realm == "kasagi" and a.authmethods == ["ticket"], "the rest of the HELLO is its own"


def test_only_a_bounded_number_of_role_announcements_is_kept():
    parse = _parser(limit=1)
    first = _hello({"caller_identification": True})
    other = _hello({"call_canceling": True})
    assert parse(first).roles is parse(first).roles
    assert parse(other).roles is not parse(other).roles, "past the bound each HELLO keeps its own"
