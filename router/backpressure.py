"""A budget for what the router holds unsent for one client (slow consumers).

Crossbar writes every message for a client to its socket at once; when the client does not
read, the bytes pile up in the Twisted transport's buffer (``dataBuffer`` and
``_tempDataBuffer`` of :class:`twisted.internet.abstract.FileDescriptor`) until the heartbeat
gives up on it, ~1 MB/s per client in a busy room. :class:`OutgoingBufferGuard` wraps the
realm router's ``send``: before a message goes to a client whose transport holds more than
``limit`` bytes unsent, the client is closed with WebSocket close code :data:`CLOSE_CODE`
and a reason naming the limit, and nothing more is written to it. Its WebSocket then waits
for the close handshake at most ``close_handshake_timeout`` and drops the TCP connection,
which frees the buffer. The client reconnects and catches up (``join(since)``) like after any
lost connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.logger import Logger

__all__ = ["CLOSE_CODE", "OutgoingBufferGuard", "buffered_bytes"]

#: The WebSocket close code of a client dropped for not reading (application range).
CLOSE_CODE = 4008
#: Set on a client's protocol once it is being closed: nothing more is written to it.
_DROPPED = "_kasagi_dropped_slow"


def buffered_bytes(protocol: Any) -> int:
    """Bytes written to ``protocol``'s transport and not yet accepted by the socket."""
    transport = getattr(protocol, "transport", None)
    if transport is None:
        return 0
    data = getattr(transport, "dataBuffer", b"")
    offset = getattr(transport, "offset", 0)
    pending = getattr(transport, "_tempDataLen", 0)
    return max(0, len(data) - offset) + pending


class OutgoingBufferGuard:
    """Wraps a Crossbar router's ``send`` (see the module docstring); ``limit`` 0 turns it off."""

    log = Logger()

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0
        self.largest = 0

    def install(self, router: Any) -> None:
        send: Callable[[Any, Any], None] = router.send

        def guarded(session: Any, msg: Any) -> None:
            protocol = getattr(session, "_transport", None)
            if protocol is not None and self.limit:
                if getattr(protocol, _DROPPED, False):
                    return
                buffered = buffered_bytes(protocol)
                self.largest = max(self.largest, buffered)
                if buffered > self.limit:
                    self._drop(session, protocol, buffered)
                    return
            send(session, msg)

        router.send = guarded

    def _drop(self, session: Any, protocol: Any, buffered: int) -> None:
        setattr(protocol, _DROPPED, True)
        self.dropped += 1
        self.log.warn(
            "client {authid} (session {session}) dropped: {buffered} bytes unsent, over the limit of {limit}",
            authid=getattr(session, "_authid", "?"),
            session=getattr(session, "_session_id", "?"),
            buffered=buffered,
            limit=self.limit,
        )
        reason = f"kasagi: outgoing buffer over {self.limit} bytes (the client did not read); reconnect"
        close = getattr(protocol, "sendClose", None)
        try:
            if close is not None:
                close(code=CLOSE_CODE, reason=reason)
            else:
                protocol.transport.loseConnection()
        except Exception as exc:  # noqa: BLE001 -- closing anyway: drop the connection
            self.log.warn("closing a slow client failed ({why}); aborting it", why=str(exc))
            protocol.transport.abortConnection()

    def collect(self) -> Iterator[Metric]:
        """Prometheus: clients dropped, the largest buffer seen, the limit."""
        yield CounterMetricFamily(
            "kasagi_router_slow_clients_dropped", "Clients closed for an outgoing buffer over the limit.", self.dropped
        )
        yield GaugeMetricFamily(
            "kasagi_router_client_buffer_max_bytes", "Largest unsent buffer of one client seen.", self.largest
        )
        yield GaugeMetricFamily(
            "kasagi_router_client_buffer_limit_bytes", "Outgoing buffer limit per client (0: none).", self.limit
        )
