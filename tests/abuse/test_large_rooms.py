"""Rooms up to the largest state (``docs/protocol.md``, Limits) through a real node: joined,
caught up and acted on by the Python client and the JS SDK; an action whose event would be
too big is refused to its sender, and no subscriber ever misses an event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, threads

from kasagi import wire
from kasagi.client import KasagiClient
from kasagi.core.canonical import state_hash
from kasagi.core.size import json_size
from kasagi.testing.node import NodeProcess
from tests.js_script import run_js
from tests.waiting import until

pytestmark = [pytest.mark.node, pytest.mark.abuse, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "large_room_client.mjs"
#: One piece of a large state: four strings of 15,000 characters (60 KB, under the largest
#: string and the largest message a client may send).
PIECE = ["p" * 15_000] * 4


@defer.inlineCallbacks
def fill(handle: Any, target: int, prefix: str = "k"):  # type: ignore[no-untyped-def]
    """Grow ``handle``'s doc room to about ``target`` bytes, one 60 KB piece per action."""
    acks = []
    i = 0
    while json_size(handle.state) + json_size(PIECE) < target:
        ack = yield handle.act("set", {"path": ["blob", f"{prefix}{i}"], "value": PIECE})
        acks.append(ack)
        yield until(lambda seq=ack["seq"]: handle.seq >= seq, timeout=15)
        i += 1
    return acks


def _run_js(url: str, serializer: str, room: str) -> dict[str, Any]:
    return run_js(SCRIPT, url, serializer, room)


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", ["json", "cbor"])
def test_a_room_of_the_largest_state_is_joined_caught_up_and_acted_on(abuse_node: NodeProcess, serializer: str):
    """A doc room grown to within 60 KB of the largest state (1 MiB) is joined with a snapshot by a newcomer, answers a
    join(since) two 60 KB events back with those events, and takes actions whose events every
    member applies (the Python client's copies and the JS SDK's end equal)."""
    room_id = f"large_{serializer}"
    writer = yield KasagiClient.connect(abuse_node.url, "writer", serializer=serializer)
    newcomer = yield KasagiClient.connect(abuse_node.url, "newcomer", serializer=serializer)
    try:
        handle = yield writer.join(room_id, "doc")
        yield fill(handle, wire.Limits.MAX_STATE_BYTES - 5_000)
        late = yield newcomer.join(room_id, "doc")
        assert late.seq >= handle.seq - 1 and json_size(late.state) > 990_000
        back = handle.seq - 2
        reply = yield writer.call(wire.room_procedure(room_id, "join"), {"epoch": handle.epoch, "seq": back})
        assert [e["seq"] for e in reply["events"]] == [back + 1, back + 2]
        ack = yield late.act("set", {"path": ["blob", "k0"], "value": "small"})
        yield until(lambda: handle.seq >= ack["seq"] and late.seq >= ack["seq"], timeout=15)
        assert handle.state == late.state
        hashes: dict[int, str] = {}
        handle.on_change(lambda _event: hashes.__setitem__(handle.seq, state_hash(handle.state)))
        js = yield threads.deferToThread(_run_js, abuse_node.url, serializer, room_id)
        assert js["joinedBytes"] > 920_000 and js["catchUp"]["events"] == 2
        yield until(lambda: handle.seq >= js["seq"] and late.seq >= js["seq"], timeout=15)
        assert js["hash"] == hashes[js["seq"]], "the JS copy equals the Python one at the same seq"
        assert handle.state == late.state
        assert handle.stats["resyncs"] == late.stats["resyncs"] == 0, "no member missed an event"
    finally:
        yield writer.close()
        yield newcomer.close()


@pytest_twisted.inlineCallbacks
def test_an_action_whose_event_would_be_too_big_is_refused_to_its_sender(abuse_node: NodeProcess):
    """An action that would write 64 copies of 15,000 characters (an event of about 960 KB) is
    refused with kasagi.error.rejected naming the field, the limit and the size, changes
    nothing, and the members that watch see every later event in order."""
    actor = yield KasagiClient.connect(abuse_node.url, "amplifier")
    watcher = yield KasagiClient.connect(abuse_node.url, "bystander")
    try:
        handle = yield actor.join("amplified", "copies")
        watching = yield watcher.join("amplified", "copies")
        before = watching.seq
        with pytest.raises(ApplicationError) as refused:
            yield handle.act("fill", {"key": "big", "copies": 64, "text": "a" * 15_000})
        assert refused.value.error == wire.ErrorURI.REJECTED
        assert refused.value.kwargs["field"] == "ops"
        assert str(wire.Limits.MAX_EVENT_BYTES) in refused.value.kwargs["expected"]
        assert int(refused.value.kwargs["got"].split()[0]) > wire.Limits.MAX_EVENT_BYTES
        ack = yield handle.act("fill", {"key": "fits", "copies": 8, "text": "b" * 15_000})
        yield until(lambda: watching.seq >= ack["seq"], timeout=15)
        assert "big" not in watching.state.get("filled", {})
        assert len(watching.state["filled"]["fits"]) == 8
        assert watching.seq > before and watching.stats["resyncs"] == 0, "the watcher saw every event"
        assert watching.state == handle.state
    finally:
        yield actor.close()
        yield watcher.close()
