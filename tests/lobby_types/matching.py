"""The matchmaking workload shared by the single-node and the cluster test: N members, each on
its own connection (spread over the given routers), match into 4-seat rooms at once and join."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from kasagi.client import ClientOptions, KasagiClient
from tests.waiting import until

#: Options for many clients on a loaded machine.
PATIENT = ClientOptions(call_timeout=30.0, act_deadline=60.0, connect_timeout=30.0)


@dataclass
class MatchRun:
    """What the run saw: the rooms, their fill, and how long matching and joining took."""

    rooms: dict[str, list[str]]
    listing: list[dict[str, Any]]
    match_seconds: float
    total_seconds: float


@defer.inlineCallbacks
def match_many(urls: Sequence[str], n: int = 100, criteria: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    """Connect ``n`` members, match them all at once into ``quad`` rooms, join, and read the
    listing back once every room's join is committed."""
    clients: list[KasagiClient] = yield defer.gatherResults(
        [KasagiClient.connect(urls[i % len(urls)], f"matcher{i:03}", options=PATIENT) for i in range(n)]
    )
    try:
        start = time.monotonic()
        seats = yield defer.gatherResults([c.match("quad", criteria or {"mode": "ranked"}) for c in clients])
        matched = time.monotonic() - start
        handles = yield defer.gatherResults([c.join(s["room"], "quad") for c, s in zip(clients, seats, strict=True)])
        rooms: dict[str, list[str]] = {}
        for client, seat in zip(clients, seats, strict=True):
            rooms.setdefault(seat["room"], []).append(client.authid)
        yield until(lambda: all(len(h.state.get("members", {})) == len(rooms[h.room]) for h in handles), timeout=30)
        total = time.monotonic() - start
        listing: list[dict[str, Any]] = []

        @defer.inlineCallbacks
        def read_all():  # type: ignore[no-untyped-def]
            cursor = None
            out: list[dict[str, Any]] = []
            while True:
                page = yield clients[0].list("quad", {"mode": "ranked"}, cursor)
                out += page["rooms"]
                cursor = page["next"]
                if cursor is None:
                    return out

        def settled() -> bool:
            return len(listing) == len(rooms) and all(r["members"] == len(rooms[r["room"]]) for r in listing)

        deadline = time.monotonic() + 30
        while True:  # each read is a round trip: the owners' listing writes land meanwhile
            listing = yield read_all()
            if settled() or time.monotonic() > deadline:
                break
        return MatchRun(rooms, listing, matched, total)
    finally:
        yield defer.gatherResults([c.close() for c in clients])
