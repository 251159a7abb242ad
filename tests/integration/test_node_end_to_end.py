"""End to end through a real Crossbar node with the Python client, under every serializer."""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer

from kasagi.client import KasagiClient
from kasagi.core.canonical import state_hash
from kasagi.testing.node import NodeProcess
from tests.waiting import until

pytestmark = pytest.mark.node
SERIALIZERS = ["cbor", "msgpack", "json"]


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_two_clients_converge_to_a_fresh_join(node: NodeProcess, serializer: str):
    """Two members moving in one room end with the same state as a client that joins afterwards."""
    room_id = f"conv_{serializer}"
    a = yield KasagiClient.connect(node.url, "alice", serializer=serializer)
    b = yield KasagiClient.connect(node.url, "bob", serializer=serializer)
    try:
        ra = yield a.join(room_id)
        rb = yield b.join(room_id)
        acks = yield defer.gatherResults(
            [ra.act("move", {"dx": 3, "dy": -2, "t": 1.5}) for _ in range(5)]
            + [rb.act("move", {"dx": -1, "dy": 4}) for _ in range(5)]
        )
        last = max(ack["seq"] for ack in acks)
        yield until(lambda: ra.seq >= last and rb.seq >= last)
        c = yield KasagiClient.connect(node.url, "carol", serializer=serializer)
        rc = yield c.join(room_id)
        # carol's own arrival is the event after her snapshot.
        yield until(lambda: ra.seq == rb.seq == rc.seq and all("carol" in r.state["players"] for r in (ra, rb, rc)))
        assert ra.state == rb.state == rc.state
        assert set(rc.state["players"]) == {"alice", "bob", "carol"}
        yield c.close()
    finally:
        yield a.close()
        yield b.close()


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_invalid_move_is_rejected_and_changes_nothing(node: NodeProcess, serializer: str):
    """A move over the speed limit is refused with kasagi.error.rejected naming dx, and no event follows."""
    a = yield KasagiClient.connect(node.url, "alice", serializer=serializer)
    try:
        ra = yield a.join(f"rej_{serializer}")
        yield until(lambda: "alice" in ra.state["players"])
        before, seq = dict(ra.state["players"]["alice"]), ra.seq
        with pytest.raises(ApplicationError) as info:
            yield ra.act("move", {"dx": 11, "dy": 0})
        assert info.value.error == "kasagi.error.rejected"
        assert info.value.kwargs["field"] == "args.dx"
        assert info.value.kwargs["got"] == "int 11"
        ok = yield ra.act("move", {"dx": 1, "dy": 0})
        assert ok["seq"] == seq + 1, "the refused move took no seq"
        yield until(lambda: ra.seq == ok["seq"])
        assert ra.state["players"]["alice"]["x"] == min(1000, before["x"] + 1)
    finally:
        yield a.close()


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_repeated_cseq_returns_the_first_seq(node: NodeProcess, serializer: str):
    """An act repeated with the same cseq (three at once, then once more) is applied once."""
    a = yield KasagiClient.connect(node.url, "alice", serializer=serializer)
    try:
        ra = yield a.join(f"dup_{serializer}")
        yield until(lambda: "alice" in ra.state["players"])
        x0 = ra.state["players"]["alice"]["x"]
        cseq = ra.next_cseq()
        results = yield defer.gatherResults([ra.act("move", {"dx": 5, "dy": 0}, cseq=cseq) for _ in range(3)])
        again = yield ra.act("move", {"dx": 5, "dy": 0}, cseq=cseq)
        assert len({r["seq"] for r in [*results, again]}) == 1
        yield until(lambda: ra.seq >= again["seq"])
        assert ra.state["players"]["alice"]["x"] == min(1000, x0 + 5)
    finally:
        yield a.close()


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_catch_up_join_returns_events_and_bogus_since_a_snapshot(node: NodeProcess, serializer: str):
    """join(since) from a recent position gets the missing events; a bogus since gets a snapshot."""
    room_id = f"since_{serializer}"
    a = yield KasagiClient.connect(node.url, "alice", serializer=serializer)
    try:
        ra = yield a.join(room_id)
        yield until(lambda: "alice" in ra.state["players"])
        mark = {"epoch": ra.epoch, "seq": ra.seq}
        for _ in range(3):
            yield ra.act("move", {"dx": 1, "dy": 1})
        reply = yield a.call(f"kasagi.room.{room_id}.join", mark)
        assert "events" in reply and "state" not in reply
        assert [e["seq"] for e in reply["events"]] == list(range(mark["seq"] + 1, reply["seq"] + 1))
        bogus = yield a.call(f"kasagi.room.{room_id}.join", {"epoch": 12345, "seq": 7})
        assert "state" in bogus and bogus["seq"] == reply["seq"]
        future = yield a.call(f"kasagi.room.{room_id}.join", {"epoch": ra.epoch, "seq": reply["seq"] + 100})
        assert "state" in future
    finally:
        yield a.close()


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_state_hash_in_events_matches_the_client_state(serializer: str, tmp_path):
    """With a hash in every 2nd event, each hash equals the hash of the client's own copy."""
    from tests.conftest import start_node

    proc = start_node(tmp_path, service={"store": "memory", "tick": 0.005, "hash_every": 2})
    a = None
    try:
        a = yield KasagiClient.connect(proc.url, "alice", serializer=serializer)
        ra = yield a.join("hashed")
        seen = []
        ra.on_change(lambda ev: seen.append((ev, state_hash(ra.state))) if ev and "hash" in ev else None)
        for _ in range(6):
            yield ra.act("move", {"dx": 2, "dy": 3, "t": 0.25})
        yield until(lambda: len(seen) >= 3)
        assert all(ev["hash"] == mine for ev, mine in seen)
        assert ra.replica.hash_checked >= 3
    finally:
        if a is not None:
            yield a.close()
        proc.stop()


@pytest_twisted.inlineCallbacks
def test_a_doc_rooms_schema_belongs_to_the_room(node: NodeProcess):
    """Re-opening a doc room created without a schema with a schema is refused on ``options``;
    without options it opens as created."""
    a = yield KasagiClient.connect(node.url, "alice")
    try:
        yield a.open("schema_owned", "doc", {})
        with pytest.raises(ApplicationError) as info:
            yield a.open("schema_owned", "doc", {"schema": {"type": "object"}})
        assert info.value.error == "kasagi.error.invalid_argument"
        assert info.value.kwargs["field"] == "options"
        reply = yield a.open("schema_owned", "doc")
        assert reply["type"] == "doc"
    finally:
        yield a.close()
