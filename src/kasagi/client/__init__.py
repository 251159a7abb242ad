"""The Python client of Kasagi, for bots, tests and the benchmark.

    from twisted.internet import reactor
    from kasagi.client import KasagiClient

    client = yield KasagiClient.connect("ws://localhost:8080/ws", authid="alice")
    room = yield client.join("lobby1", type="arena")
    yield room.act("move", {"dx": 3, "dy": -2})
    print(room.state["players"]["alice"])

    page = yield client.list("tictactoe", {"phase": "waiting"})    # {"rooms": [...], "next": ...}
    game = yield client.play("tictactoe")                          # match, then join
    watch = yield client.watch("tictactoe", print)                 # listing changes, live

It keeps a local copy of each joined room by applying events in seq order, repairs gaps and
new epochs with ``join(since)``, numbers actions with an increasing cseq, races every call
against a deadline, and reconnects with capped exponential backoff plus jitter, re-joining
from the last position and retrying actions whose result was lost (same cseq: applied once).

Its parts: ``_connection`` (the session, reconnection and calls), ``_room`` (a joined room's
sync loop and actions), ``_retry`` (what a failed call leads to, from
:data:`kasagi.wire.ERROR_POLICY`, and the backoff), ``_options`` and ``_errors``.

The retry decisions are exported for callers that make calls of their own:
:func:`recovery_of` (what to do after a failure), :func:`recovers` (whether to try again) and
:func:`backoff_delay` (how long to wait first).
"""

from kasagi.client._connection import KasagiClient
from kasagi.client._errors import CallTimeout, ConnectionLost, ServerError
from kasagi.client._lobby import LobbyWatch
from kasagi.client._options import ClientOptions
from kasagi.client._retry import backoff_delay, recovers, recovery_of
from kasagi.client._room import RoomHandle

__all__ = [
    "CallTimeout",
    "ClientOptions",
    "ConnectionLost",
    "KasagiClient",
    "LobbyWatch",
    "RoomHandle",
    "ServerError",
    "backoff_delay",
    "recovers",
    "recovery_of",
]
