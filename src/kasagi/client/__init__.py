"""The Python client of Kasagi, for bots, tests and the benchmark.

    from twisted.internet import reactor
    from kasagi.client import KasagiClient

    client = yield KasagiClient.connect("ws://localhost:8080/ws", authid="alice")
    room = yield client.join("lobby1", type="arena")
    yield room.act("move", {"dx": 3, "dy": -2})
    print(room.state["players"]["alice"])

It keeps a local copy of each joined room by applying events in seq order, repairs gaps and
new epochs with ``join(since)``, numbers actions with an increasing cseq, races every call
against a deadline, and reconnects with capped exponential backoff plus jitter, re-joining
from the last position and retrying actions whose result was lost (same cseq: applied once).
"""

from kasagi.client._client import ClientOptions, KasagiClient, RoomHandle
from kasagi.client._errors import CallTimeout, ConnectionLost

__all__ = ["CallTimeout", "ClientOptions", "ConnectionLost", "KasagiClient", "RoomHandle"]
