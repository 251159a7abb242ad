"""What a client connection keeps in the router, pure: the upgrade's HTTP channel is replaced as the transport's
producer by one that still pauses reading while writes back up, and sessions of a class share one logger (the
memory saved is measured by ``kasagi bench --points E``)."""

from __future__ import annotations

from typing import Any

from router.lean_connections import ReadPause, release_handshake, share_session_loggers


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
