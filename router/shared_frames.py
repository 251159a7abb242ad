"""One WebSocket frame per message, written to every client it goes to.

A message the router sends to many clients (a room's event, to every member) is serialized
once per serializer: Autobahn keeps the bytes in the message's cache. But the WebSocket
frame around them is built again for every client, through four layers of Python: the
WAMP transport's ``send`` (a trace-log call, the serializer's statistics),
``sendMessage`` (argument checks, compression, the size limit, fragmentation),
``sendFrame`` (the header, masking) and ``sendData`` (a debug-log call). A server's frames
are not masked, so a message's frame is the same bytes for every client that uses the same
serializer. :func:`install` gives the router's WebSocket protocol a ``send`` that builds
the frame once, keeps it in the message's cache beside the serialized bytes, and writes it
to each client's transport; it counts what the long way counts (the connection's traffic
statistics, the serializer's messages and bytes).

It takes the long way (Autobahn's own ``send``) whenever the frame could differ or more is
asked of a send: the connection is not open, per-message compression was negotiated, the
message is long enough to be fragmented (``autoFragmentSize``), frames or octets are
logged, timings are tracked, something waits in the send queue, the serializer resets its
statistics by callback, the connection logs at trace level, or the payload is over the
connection's incoming limit (the long way then applies the outgoing limit,
``router.outgoing``, and refuses what is over it as before).
"""

from __future__ import annotations

import math
import struct
from typing import Any

__all__ = ["frame", "install"]

#: The key of a message's frame in its serialization cache, beside the serializer's own.
_FRAME = "kasagi-frame"
_STATE_OPEN = 3  # autobahn.websocket.protocol.WebSocketProtocol.STATE_OPEN


def frame(payload: bytes, binary: bool) -> bytes:
    """The unmasked, unfragmented WebSocket frame of one message (RFC 6455, section 5.2)."""
    first = 0x82 if binary else 0x81  # FIN, and the binary or text opcode
    n = len(payload)
    if n <= 125:
        head = bytes((first, n))
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", first, 126, n)
    else:
        head = struct.pack("!BBQ", first, 127, n)
    return head + payload


def install(protocol_class: Any) -> bool:
    """Give ``protocol_class`` (a WAMP-over-WebSocket server protocol) the shared-frame
    ``send``; False if it has it already."""
    if getattr(protocol_class, "_kasagi_shared_frames", False):
        return False
    from txaio.tx import _no_op

    long_way = protocol_class.send

    def send(self: Any, msg: Any) -> None:
        serializer = self._serializer
        if (
            self._session is None
            or self.state != _STATE_OPEN
            or self._perMessageCompress is not None
            or self.logFrames
            or self.logOctets
            or self.trackedTimings
            or len(self.send_queue)
            or serializer._autoreset_callback is not None
            or self.log.trace is not _no_op
        ):
            long_way(self, msg)
            return
        inner = serializer._serializer
        cache = msg._serialized
        key = (inner, _FRAME)
        framed = cache.get(key)
        if framed is None:
            payload = msg.serialize(inner)
            framed = cache[key] = (frame(payload, inner.BINARY), len(payload))
        data, size = framed
        if 0 < self.maxMessagePayloadSize < size or 0 < self.autoFragmentSize < size:
            long_way(self, msg)
            return
        serializer._serialized_bytes += size
        serializer._serialized_messages += 1
        serializer._serialized_rated_messages += math.ceil(size / serializer.RATED_MESSAGE_SIZE)
        stats = self.trafficStats
        stats.outgoingWebSocketMessages += 1
        stats.outgoingOctetsAppLevel += size
        stats.outgoingOctetsWebSocketLevel += size
        stats.outgoingWebSocketFrames += 1
        stats.outgoingOctetsWireLevel += len(data)
        self.transport.write(data)

    send.kasagi_long_way = long_way  # type: ignore[attr-defined]
    protocol_class.send = send
    protocol_class._kasagi_shared_frames = True
    return True
