"""Direct writes for the router's WebSocket connections.

Twisted's ``FileDescriptor.write`` always buffers: it appends the bytes to the transport's
buffer and registers the socket for writability, and the reactor's next ``doWrite`` sends
them and unregisters it again -- two ``epoll_ctl`` system calls and a trip through the
reactor for every message, even when the socket could take the bytes at once. asyncio's
transports send straight away when nothing is buffered. :class:`DirectWrites` does the same
for a Twisted TCP (or Unix) connection:

- nothing buffered: ``send`` now; only what the kernel did not take is buffered (in order,
  behind nothing), and the reactor sends the rest as usual;
- something buffered, a non-streaming producer registered (it is asked for more only when
  ``doWrite`` empties the buffer), a close under way, or TLS: Twisted's own ``write``;
- the socket failed (``EPIPE``, ``ECONNRESET``): the bytes are buffered as Twisted would
  have, and the reactor's next ``doRead`` or ``doWrite`` on the socket reports the failure
  (the kernel reports a socket error only once, and ``send`` has taken it), so the
  connection is lost the usual way with the same reason, never from inside ``write``.

:func:`use_direct_writes` switches one connection over (its class becomes a subclass with
this ``write``); :func:`install` makes a protocol class switch its transport over in
``connectionMade``. TLS transports (``TLSMemoryBIOProtocol``, or a connection after
``startTLS``) are left alone.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp

__all__ = ["DirectWrites", "install", "use_direct_writes"]


class DirectWrites:
    """The ``write`` of a TCP connection that sends at once when nothing is buffered
    (mixed in before :class:`twisted.internet.tcp.Connection`)."""

    # The attributes of twisted.internet.abstract.FileDescriptor this write reads.
    _tempDataLen: int
    dataBuffer: bytes
    offset: int
    connected: int
    disconnecting: int
    _writeDisconnected: bool
    producer: Any
    streamingProducer: bool
    TLS: bool
    #: What a failed direct send returned; reported by the next doRead/doWrite.
    _direct_failure: Any = None

    def doRead(self) -> Any:
        if self._direct_failure is not None:
            return self._direct_failure
        return super().doRead()  # type: ignore[misc]

    def doWrite(self) -> Any:
        if self._direct_failure is not None:
            return self._direct_failure
        return super().doWrite()  # type: ignore[misc]

    def write(self, data: bytes) -> None:
        if (
            self._tempDataLen
            or len(self.dataBuffer) > self.offset
            or type(data) is not bytes
            or not data
            or not self.connected
            or self.disconnecting
            or self._writeDisconnected
            or self.TLS
            or (self.producer is not None and not self.streamingProducer)
        ):
            super().write(data)  # type: ignore[misc]
            return
        sent = self.writeSomeData(data)  # type: ignore[attr-defined]
        if isinstance(sent, BaseException) or sent < 0:
            # The reactor loses the connection with this reason on its next pass.
            self._direct_failure = sent
            super().write(data)  # type: ignore[misc]
        elif sent < len(data):
            super().write(data[sent:])  # type: ignore[misc]


_classes: dict[type, type] = {}


def _direct_class(cls: type) -> type:
    direct = _classes.get(cls)
    if direct is None:
        direct = _classes[cls] = type(f"Direct{cls.__name__}", (DirectWrites, cls), {})
    return direct


def use_direct_writes(transport: Any) -> bool:
    """Give ``transport`` direct writes if it is a plain TCP or Unix connection (not TLS);
    return whether it has them now."""
    if isinstance(transport, DirectWrites):
        return True
    if not isinstance(transport, tcp.Connection) or getattr(transport, "TLS", False):
        return False
    transport.__class__ = _direct_class(type(transport))
    return True


def install(protocol_class: type) -> bool:
    """Make ``protocol_class`` give its transport direct writes when it connects; False if
    it was done before."""
    if getattr(protocol_class, "_kasagi_direct_writes", False):
        return False
    original = protocol_class.connectionMade  # type: ignore[attr-defined]

    def connectionMade(self: Any) -> Any:
        use_direct_writes(self.transport)
        return original(self)

    protocol_class.connectionMade = connectionMade  # type: ignore[attr-defined]
    protocol_class._kasagi_direct_writes = True  # type: ignore[attr-defined]
    return True
