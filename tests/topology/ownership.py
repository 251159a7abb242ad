"""What the cluster's Redis says about a room: which worker owns it, and the room it holds."""

from __future__ import annotations

import subprocess
import time

from twisted.internet import defer, reactor

from kasagi.core.restore import rebuild
from kasagi.service.room_types import load_room_types
from kasagi.service.settings import ServiceSettings
from kasagi.store.factory import open_store
from kasagi.testing.topology import Topology, WorkerProcess

__all__ = ["owner_of", "stored_room"]


def owner_of(topo: Topology, room: str) -> WorkerProcess | None:
    """The worker process whose lease owns ``room`` (from the ownership record in Redis)."""
    assert topo.redis is not None
    out = subprocess.run(
        ["redis-cli", "-p", str(topo.redis.port), "HGET", f"kasagi:owner:{room}", "worker"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    return next((w for w in topo.members if w.proc is not None and out.startswith(f"{w.name}_{w.proc.pid}_")), None)


@defer.inlineCallbacks
def stored_room(topo: Topology, room: str):  # type: ignore[no-untyped-def]
    """The room as the store holds it, and its state at the head."""
    assert topo.redis is not None
    store = yield open_store(topo.redis.url, reactor)
    try:
        stored = yield store.load(room)
    finally:
        yield store.close()
    types = load_room_types(topo.room_types, use_entry_points=False)
    state = rebuild(
        stored, config=ServiceSettings().room_config(), now_ms=int(time.time() * 1000), types=types
    ).room.committed
    return stored, state
