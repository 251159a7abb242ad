"""Shared frames (``router/shared_frames.py``) through a real node: members on different
serializers in one room each get the event in their own serializer, and a message over the
incoming limit still reaches its client the long way."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from kasagi.wire import Limits
from tests.waiting import until

pytestmark = pytest.mark.node


@pytest_twisted.inlineCallbacks
def test_members_on_every_serializer_get_each_event_in_their_own(node: NodeProcess):
    """One room, a member on each of CBOR, MessagePack and JSON: twenty moves of one member
    reach all three, and their states are the same."""
    clients = []
    try:
        rooms = []
        for name, serializer in (("fr_cbor", "cbor"), ("fr_msgpack", "msgpack"), ("fr_json", "json")):
            client = yield KasagiClient.connect(node.url, name, serializer=serializer)
            clients.append(client)
            rooms.append((yield client.join("frames_mixed")))
        yield until(lambda: all(len(r.state["players"]) == 3 for r in rooms))
        acks = yield defer.gatherResults([rooms[0].act("move", {"dx": 1, "dy": 0}) for _ in range(20)])
        last = max(ack["seq"] for ack in acks)
        yield until(lambda: all(r.seq >= last for r in rooms))
        assert rooms[0].state == rooms[1].state == rooms[2].state
        assert rooms[2].state["players"]["fr_cbor"]["x"] == rooms[0].state["players"]["fr_cbor"]["x"]
    finally:
        for client in clients:
            yield client.close()


@pytest_twisted.inlineCallbacks
def test_a_snapshot_over_the_incoming_limit_reaches_a_new_member(node: NodeProcess):
    """A doc room grown past the router's incoming message limit (each change under it):
    a member joining later gets its whole state in the snapshot, and members already in
    the room saw every change."""
    a = yield KasagiClient.connect(node.url, "fr_writer", serializer="msgpack")
    b = None
    try:
        room = yield a.join("frames_big", "doc")
        value = "x" * (Limits.MAX_STRING - 16)
        keys = Limits.INCOMING_MESSAGE_BYTES // len(value) + 2
        for i in range(keys):
            yield room.act("set", {"path": [f"k{i}"], "value": value})
        b = yield KasagiClient.connect(node.url, "fr_reader", serializer="json")
        late = yield b.join("frames_big", "doc")
        doc = {k: v for k, v in late.state.items() if k.startswith("k")}
        assert doc == {f"k{i}": value for i in range(keys)}
        assert sum(len(v) for v in doc.values()) > Limits.INCOMING_MESSAGE_BYTES
        yield until(lambda: room.state == late.state)
    finally:
        yield a.close()
        if b is not None:
            yield b.close()
