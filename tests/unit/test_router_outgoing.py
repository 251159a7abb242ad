"""The router's outgoing message limit, apart from the incoming one of the same connection."""

from __future__ import annotations

import pytest
from autobahn.exception import PayloadExceededError
from autobahn.websocket.protocol import WebSocketProtocol

from router.outgoing import allow_outgoing, outgoing_limit


class _Recorder:
    """Autobahn's send check and nothing else: refuse a payload over the connection's limit."""

    maxMessagePayloadSize = 64

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendMessage(self, payload: bytes, isBinary: bool = False, *rest: object) -> None:
        if 0 < self.maxMessagePayloadSize < len(payload):
            raise PayloadExceededError(f"{len(payload)} bytes")
        self.sent.append(payload)


def test_messages_up_to_the_outgoing_limit_are_sent_and_the_incoming_limit_is_unchanged() -> None:
    """With an incoming limit of 64 bytes and an outgoing one of 256, a 200-byte message goes
    out, a 300-byte one is refused, and the connection still checks what it receives at 64."""
    cls = allow_outgoing(256, type("Proto", (_Recorder,), {}))
    proto = cls()
    proto.sendMessage(b"x" * 200)
    with pytest.raises(PayloadExceededError):
        proto.sendMessage(b"x" * 300)
    assert proto.sent == [b"x" * 200] and proto.maxMessagePayloadSize == 64
    assert outgoing_limit(cls) == 256


def test_setting_the_outgoing_limit_again_replaces_it() -> None:
    """A second call changes the limit without wrapping the send twice."""
    cls = allow_outgoing(256, type("Proto", (_Recorder,), {}))
    allow_outgoing(100, cls)
    proto = cls()
    with pytest.raises(PayloadExceededError):
        proto.sendMessage(b"x" * 200)
    assert outgoing_limit(cls) == 100


def test_autobahn_still_checks_what_it_sends_against_the_attribute_the_limit_swaps() -> None:
    """The swap relies on Autobahn's send check reading ``maxMessagePayloadSize``: an upgrade
    that moved it would show here."""
    import inspect

    assert "self.maxMessagePayloadSize < payload_len" in inspect.getsource(WebSocketProtocol.sendMessage)
