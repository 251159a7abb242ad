"""How a component that connects to the router from its own process reconnects.

Autobahn's Component API retries a lost transport with a delay that grows by 1.5x up to
300 s: a room service whose router restarted could stay away for minutes. Every Kasagi
component that runs outside the router (a cluster worker's session to each router,
:mod:`kasagi.cluster.process`) uses :func:`component_transport`, which caps the delay at
:data:`RECONNECT_CAP` seconds and keeps jitter, and retries forever.

(Crossbar's own container components do not reconnect at all: a container component whose
session closes is gone unless the worker runs with ``restart: restart-always``, which
restarts it at once without any backoff; and by default a worker that dies stops the whole
node, ``shutdown_on_worker_exit``. For the single-node deployment the node is therefore the
unit of restart, and its supervisor restarts it; see ``docs/resilience.md``.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["INITIAL_DELAY", "RECONNECT_CAP", "component_transport"]

#: The longest a component waits between two connection attempts (seconds): it is back
#: within 3 s of its router coming back.
RECONNECT_CAP = 2.5
#: The first wait (seconds); each later one grows by ``GROWTH`` with ``JITTER`` relative noise.
INITIAL_DELAY = 0.5
GROWTH = 2.0
JITTER = 0.2


def component_transport(url: str, *, serializer: str = "msgpack", unix_path: str | None = None) -> dict[str, Any]:
    """An Autobahn Component transport to ``url`` (``ws://...`` or ``rs://...``; with
    ``unix_path`` a RawSocket over that Unix socket) that reconnects forever with capped,
    jittered exponential backoff."""
    rawsocket = bool(unix_path) or url.startswith(("rs://", "rss://"))
    transport: dict[str, Any] = {
        "type": "rawsocket" if rawsocket else "websocket",
        "url": url,
        "max_retries": -1,
        "initial_retry_delay": INITIAL_DELAY,
        "max_retry_delay": RECONNECT_CAP,
        "retry_delay_growth": GROWTH,
        "retry_delay_jitter": JITTER,
    }
    # Autobahn's config: one ``serializer`` for RawSocket, a list of ``serializers`` for WebSocket.
    if rawsocket:
        transport["serializer"] = serializer
    else:
        transport["serializers"] = [serializer]
    if unix_path:
        transport["endpoint"] = {"type": "unix", "path": unix_path}
    return transport
