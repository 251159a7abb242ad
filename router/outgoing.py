"""The router's outgoing message limit, kept apart from its incoming one.

Autobahn's WebSocket protocol has one ``maxMessagePayloadSize`` (Crossbar's
``max_message_size`` transport option) for both directions. The incoming limit protects the
router from what a client sends (``kasagi.wire.Limits.INCOMING_MESSAGE_BYTES``); the
outgoing one must let through the largest reply and event the rooms serve: a snapshot of the
largest state with the serializers' overhead (``Limits.OUTGOING_MESSAGE_BYTES``,
``docs/protocol.md``, Limits). With the incoming limit alone, a snapshot of a room over 64 KiB
is refused to the caller and an event over it never reaches its subscribers.

:func:`allow_outgoing` makes every router-side WebSocket connection check what it sends
against the outgoing limit and what it receives against the transport's own.
"""

from __future__ import annotations

from typing import Any

__all__ = ["allow_outgoing", "outgoing_limit"]

_ORIGINAL = "_kasagi_send_message"
_LIMIT = "_kasagi_outgoing_limit"


def _protocol_class() -> type[Any]:
    from crossbar.router.protocol import WampWebSocketServerProtocol

    return WampWebSocketServerProtocol


def _send_message(
    self: Any,
    payload: bytes,
    isBinary: bool = False,
    fragmentSize: int | None = None,
    sync: bool = False,
    doNotCompress: bool = False,
) -> None:
    original = getattr(type(self), _ORIGINAL)
    incoming = self.maxMessagePayloadSize
    outgoing = getattr(type(self), _LIMIT)
    if not incoming or (outgoing and outgoing <= incoming):
        original(self, payload, isBinary, fragmentSize, sync, doNotCompress)
        return
    # Autobahn checks the same attribute on the way out: swap it for this one call (a send
    # never reads from the socket, so nothing incoming is checked meanwhile).
    self.maxMessagePayloadSize = outgoing
    try:
        original(self, payload, isBinary, fragmentSize, sync, doNotCompress)
    finally:
        self.maxMessagePayloadSize = incoming


def allow_outgoing(limit: int, protocol: type[Any] | None = None) -> type[Any]:
    """Let the router's WebSocket connections (``protocol``: Crossbar's server protocol)
    send messages of up to ``limit`` bytes (0: no limit) whatever their incoming limit;
    calling it again changes the limit. Returns the class changed."""
    cls = protocol or _protocol_class()
    if _ORIGINAL not in cls.__dict__:
        setattr(cls, _ORIGINAL, cls.sendMessage)
        cls.sendMessage = _send_message
    setattr(cls, _LIMIT, int(limit))
    return cls


def outgoing_limit(protocol: type[Any] | None = None) -> int | None:
    """The outgoing limit :func:`allow_outgoing` set (None: the transport's one limit)."""
    cls = protocol or _protocol_class()
    value = cls.__dict__.get(_LIMIT)
    return None if value is None else int(value)
