"""Per-member private state across a failover: 2 routers, 2 workers and Redis as local processes.
Private changes are as durable as public ones: after kill -9 of a room's owner, the worker that
takes the room over serves each member its own view, private part included, hash-checked, with
nothing acknowledged lost and nothing of one member's shown to the other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer

from kasagi.client import KasagiClient
from kasagi.core.canonical import state_hash
from kasagi.core.views import view_of
from kasagi.testing.topology import Topology
from tests.topology.ownership import owner_of, stored_room
from tests.waiting import until

pytestmark = [pytest.mark.node, pytest.mark.redis]

SECRETS = "kasagi.testing.secrets:Secrets"
ROOM = "vault_failover"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """2 routers + 2 workers serving the secrets room type, the state hash in every event."""
    topo = Topology(
        tmp_path_factory.mktemp("private_failover"),
        routers=2,
        workers=2,
        service={"hash_every": 1},
        room_types=(SECRETS,),
    )
    topo.start()
    yield topo
    topo.stop()


def secret_of(handle: Any, member: str) -> int:
    """The secret ``member``'s own view holds."""
    return int(handle.state["private"][member]["secret"])


@defer.inlineCallbacks
def acked(handle: Any, action: str, args: dict[str, Any], *everyone: Any):  # type: ignore[no-untyped-def]
    """Act, and wait until every handle in ``everyone`` has applied the acknowledged event."""
    ack = yield handle.act(action, args)
    yield until(lambda: all(h.seq >= ack["seq"] for h in everyone), timeout=20)
    return ack


@pytest_twisted.inlineCallbacks
def test_private_changes_survive_kill_9_of_the_owner(cluster: Topology):
    """alice (router 0) and bob (router 1) change their secrets and each other's, all
    acknowledged; the room's owner is killed -9 and the other worker takes the room over at a
    new epoch: each member's view equals its view of the stored state, with its own latest
    secret and no trace of the other's, every acknowledged change counted once, and the events
    after the takeover pass the hash check of each member's view without a resync."""
    alice = yield KasagiClient.connect(cluster.urls[0], "alice")
    bob = yield KasagiClient.connect(cluster.urls[1], "bob")
    try:
        yield alice.open(ROOM, "secrets")
        ha = yield alice.join(ROOM, "secrets")
        hb = yield bob.join(ROOM, "secrets")
        handles = {"alice": ha, "bob": hb}
        yield until(lambda: ha.seq == hb.seq and ha.state["changes"] == 2, timeout=20)
        changes = 2  # one secret drawn for each member on joining
        seen = {"alice": {secret_of(ha, "alice")}, "bob": {secret_of(hb, "bob")}}
        for actor, action, args in (
            (ha, "roll", {}),
            (hb, "roll", {}),
            (ha, "give", {"to": "bob"}),
            (hb, "give", {"to": "alice"}),
            (ha, "roll", {}),
            (hb, "roll", {}),
        ):
            yield acked(actor, action, args, ha, hb)
            changes += 1
            for member, handle in handles.items():
                seen[member].add(secret_of(handle, member))
        expected = {member: secret_of(handle, member) for member, handle in handles.items()}
        owner = owner_of(cluster, ROOM)
        assert owner is not None
        epoch = ha.epoch
        owner.kill()
        # An action sent while nobody owns the room: retried until the new owner acknowledges it.
        in_flight = yield acked(hb, "note", {"text": "after the kill"}, ha, hb)
        yield until(lambda: all(h.epoch != epoch and h.in_sync for h in handles.values()), timeout=30)
        assert owner_of(cluster, ROOM) not in (None, owner), "the other worker owns the room"
        stored, state = yield stored_room(cluster, ROOM)
        assert stored.epoch != epoch and stored.seq >= in_flight["seq"]
        assert state["changes"] == changes and state["note"] == "after the kill"
        for member, handle in handles.items():
            assert handle.state == view_of(state, member)
            assert handle.state["private"] == {member: {"secret": expected[member]}}
        for member, other in (("alice", "bob"), ("bob", "alice")):
            text = json.dumps(handles[member].state)
            assert not any(str(s) in text for s in seen[other]), f"{member} sees a secret of {other}"

        # After the takeover: new private changes, each event hash-checked against each view.
        checked = {m: h.replica.hash_checked for m, h in handles.items()}
        resyncs = {m: h.stats["resyncs"] for m, h in handles.items()}
        yield acked(ha, "roll", {}, ha, hb)
        yield acked(hb, "give", {"to": "alice"}, ha, hb)
        yield acked(hb, "roll", {}, ha, hb)
        changes += 3
        stored, state = yield stored_room(cluster, ROOM)
        assert state["changes"] == changes
        for member, handle in handles.items():
            assert handle.state == view_of(state, member)
            assert handle.replica.hash_checked >= checked[member] + 3
            assert handle.stats["resyncs"] == resyncs[member], "no hash mismatch, no gap"
            assert state_hash(handle.state) == state_hash(view_of(state, member))
        assert secret_of(ha, "alice") not in seen["alice"] and "bob" not in ha.state["private"]
        assert "alice" not in hb.state["private"]
    finally:
        yield alice.close()
        yield bob.close()
