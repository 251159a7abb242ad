"""What each client connection keeps in the router worker, made smaller.

- **The upgrade's HTTP request is let go.** A WebSocket connection starts as an HTTP request
  served by Twisted Web; Autobahn takes the transport over, but the HTTP channel stays
  registered as the transport's streaming producer, which keeps the channel, its request and
  every header alive for as long as the connection lasts (about 3 KiB and 45 objects per
  connection). :func:`release_handshake` puts a small producer in its place that does what
  the channel did for the transport: it pauses and resumes reading from the client when
  writing to it backs up and drains.
- **One logger per session class.** Autobahn's ``BaseSession.__init__`` makes a logger for
  every session (a Twisted logger and a bound method per level, about 1.5 KiB per
  connection); :func:`share_session_loggers` gives every session of a class the same one
  (same namespace, same level).

Both are installed by the router's tuning component (``lean_connections`` in its ``extra``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ReadPause", "release_handshake", "share_session_loggers"]


class ReadPause:
    """A streaming producer for a transport: reading from the peer pauses while writing to it
    is backed up, and resumes when it drains (what Twisted Web's HTTP channel did)."""

    __slots__ = ("_transport",)

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def pauseProducing(self) -> None:
        self._transport.pauseProducing()

    def resumeProducing(self) -> None:
        self._transport.resumeProducing()

    def stopProducing(self) -> None:
        """Nothing to stop: the transport itself closes."""


def release_handshake(resource_class: Any) -> None:
    """Wrap ``resource_class.render`` (Autobahn's ``WebSocketResource``) so that a connection
    it upgrades no longer has the HTTP channel as its producer."""
    original = resource_class.render
    if getattr(original, "kasagi_release_handshake", False):
        return

    def render(self: Any, request: Any) -> Any:
        channel = request.channel
        transport = channel.transport
        result = original(self, request)
        if transport is not None and getattr(transport, "producer", None) is channel:
            streaming = bool(getattr(transport, "streamingProducer", True))
            transport.unregisterProducer()
            transport.registerProducer(ReadPause(transport), streaming)
        return result

    render.kasagi_release_handshake = True  # type: ignore[attr-defined]
    resource_class.render = render


def share_session_loggers(session_class: Any) -> None:
    """Give every instance of ``session_class`` (and its subclasses) one logger per class."""
    original = session_class.__init__
    if getattr(original, "kasagi_shared_logger", False):
        return
    shared: dict[type, Any] = {}

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        kind = type(self)
        logger = shared.get(kind)
        if logger is None:
            shared[kind] = self.log
        else:
            self.log = logger

    __init__.kasagi_shared_logger = True  # type: ignore[attr-defined]
    session_class.__init__ = __init__
