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

- **Options read from the class.** Autobahn copies some thirty WebSocket options from the
  factory onto every protocol instance when it connects, unless the instance already has them;
  :func:`share_protocol_options` gives each connection a class that holds its factory's
  options (a new one whenever they change, so a connection keeps the options it opened
  with, as before), and the instance dictionary shrinks by about 1.7 KiB.
- **The opening handshake is let go once open.** Autobahn keeps the raw HTTP request and
  response, the parsed request line and the offered protocols and extensions after the
  connection is open (for its own test suite); :func:`release_opening_handshake` drops
  them when the connection opens (what a session reads later, the request's headers and
  the agreed protocol and extensions, stays), about 1 KiB.
- **The send queue is made when used.** Autobahn queues only chopped or synchronous sends,
  which the router never makes, yet every connection holds an empty ``deque`` (a 64-slot
  block, 760 bytes): :class:`SendQueue` makes one on the first such send and lets it go
  when it drains.
- **Equal role features are shared.** A session's HELLO announces its roles and their
  features; every session of the same client library announces the same ones, and
  :func:`share_hello_roles` gives sessions with equal roles one parsed copy (at most
  :data:`MAX_SHARED_ROLES` distinct ones are kept, so odd HELLOs cannot grow it), about
  0.9 KiB per session.

All are installed by the router's tuning component (``lean_connections`` in its ``extra``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = [
    "MAX_SHARED_ROLES",
    "OPENING_HANDSHAKE",
    "ReadPause",
    "SendQueue",
    "release_handshake",
    "release_opening_handshake",
    "share_hello_roles",
    "share_protocol_options",
    "share_session_loggers",
]

#: What Autobahn's server protocol keeps of the opening handshake and nothing reads once the
#: connection is open (``http_headers``, ``websocket_protocol_in_use`` and
#: ``websocket_extensions_in_use`` stay: sessions read them).
OPENING_HANDSHAKE = (
    "http_request_data",
    "http_response_data",
    "http_status_line",
    "http_request_uri",
    "http_request_path",
    "http_request_params",
    "http_request_host",
    "websocket_origin",
    "websocket_protocols",
    "websocket_extensions",
    "_wskey",
)

#: Distinct role announcements :func:`share_hello_roles` keeps a shared copy of.
MAX_SHARED_ROLES = 64


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


def share_protocol_options(factory_class: Any) -> None:
    """Wrap ``factory_class.buildProtocol`` (an Autobahn WebSocket factory) so that every
    protocol it builds reads the factory's options from its class instead of a copy of its
    own: Autobahn's ``_connectionMade`` copies only the options an instance does not have."""
    original = factory_class.buildProtocol
    if getattr(original, "kasagi_shared_options", False):
        return

    def buildProtocol(self: Any, addr: Any) -> Any:
        protocol = original(self, addr)
        if protocol is not None:
            protocol.__class__ = _options_class(self, type(protocol))
        return protocol

    buildProtocol.kasagi_shared_options = True  # type: ignore[attr-defined]
    factory_class.buildProtocol = buildProtocol


def _options_class(factory: Any, protocol_class: type) -> type:
    """A subclass of ``protocol_class`` holding ``factory``'s current options (the same one
    while they are unchanged)."""
    names = tuple(getattr(protocol_class, "CONFIG_ATTRS", ()))
    values = tuple(getattr(factory, name) for name in names)
    cached = factory.__dict__.get("_kasagi_options_class")
    if cached is not None and cached[0] is protocol_class and cached[1] == values:
        return cached[2]  # type: ignore[no-any-return]
    # A function (``perMessageCompressionAccept``) stays a plain value, not a method.
    namespace: dict[str, Any] = {
        name: staticmethod(value) if hasattr(type(value), "__get__") else value
        for name, value in zip(names, values, strict=True)
    }
    namespace.update(__module__=protocol_class.__module__, __qualname__=protocol_class.__qualname__)
    options = type(protocol_class.__name__, (protocol_class,), namespace)
    factory._kasagi_options_class = (protocol_class, values, options)
    return options


def release_opening_handshake(protocol_class: Any) -> None:
    """Wrap ``protocol_class.onOpen`` (a WAMP-over-WebSocket server protocol) so that an
    open connection lets go of its opening handshake (:data:`OPENING_HANDSHAKE`) and holds a
    :class:`SendQueue` instead of an empty ``deque``."""
    original = protocol_class.onOpen
    if getattr(original, "kasagi_release_opening", False):
        return

    def onOpen(self: Any) -> Any:
        result = original(self)
        kept = self.__dict__
        for name in OPENING_HANDSHAKE:
            kept.pop(name, None)
        if type(kept.get("send_queue")) is deque and not kept["send_queue"]:
            kept["send_queue"] = SendQueue()
        # A dictionary keeps its table when keys go; a copy is sized for what is left.
        self.__dict__ = dict(kept)
        return result

    onOpen.kasagi_release_opening = True  # type: ignore[attr-defined]
    protocol_class.onOpen = onOpen


class SendQueue:
    """Autobahn's queue of chopped and synchronous sends (``append``, ``popleft``, ``len``),
    holding a ``deque`` only while something is queued."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[Any] | None = None

    def __len__(self) -> int:
        return 0 if self._items is None else len(self._items)

    def append(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)

    def popleft(self) -> Any:
        if not self._items:
            raise IndexError("pop from an empty send queue")
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item


def share_hello_roles(hello_class: Any, limit: int = MAX_SHARED_ROLES) -> None:
    """Wrap ``hello_class.parse`` (Autobahn's HELLO) so that HELLOs announcing equal roles
    and features get one shared ``roles`` mapping (and feature objects); at most ``limit``
    distinct announcements are kept, further ones keep their own copy."""
    original = hello_class.parse
    if getattr(original, "kasagi_shared_roles", False):
        return
    shared: dict[Any, dict[str, Any]] = {}

    def parse(wmsg: Any) -> Any:
        hello = original(wmsg)
        roles = getattr(hello, "roles", None)
        key = _roles_key(roles)
        if key is not None:
            known = shared.get(key)
            if known is not None:
                hello.roles = known
            elif len(shared) < limit:
                shared[key] = roles  # type: ignore[assignment]
        return hello

    parse.kasagi_shared_roles = True  # type: ignore[attr-defined]
    hello_class.parse = staticmethod(parse)


def _roles_key(roles: Any) -> Any:
    """A hashable key equal for equal role announcements, or None (not a plain announcement
    of scalar features)."""
    if not isinstance(roles, dict):
        return None
    key = []
    for role, features in sorted(roles.items()):
        values = getattr(features, "__dict__", None)
        if not isinstance(role, str) or values is None:
            return None
        if any(not isinstance(v, (bool, int, float, str, type(None))) for v in values.values()):
            return None
        # The type is part of the key: True == 1, but a session announcing 1 keeps its 1.
        key.append((role, type(features), tuple(sorted((k, type(v), v) for k, v in values.items()))))
    return tuple(key)
