"""The fast input path through a real Crossbar node, with the Python client."""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.waiting import until

pytestmark = pytest.mark.node


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", ["cbor", "msgpack", "json"])
def test_published_input_is_applied_and_acknowledged_in_its_event(node: NodeProcess, serializer: str):
    """A move published on kasagi.input.<room> moves the player, and the event carrying it acks its cseq."""
    a = yield KasagiClient.connect(node.url, "alice", serializer=serializer)
    b = yield KasagiClient.connect(node.url, "bob", serializer=serializer)
    try:
        ra = yield a.join(f"fast_{serializer}")
        rb = yield b.join(f"fast_{serializer}")
        yield until(lambda: "alice" in ra.state["players"] and "bob" in ra.state["players"])
        x0 = ra.state["players"]["alice"]["x"]
        acks = yield defer.gatherResults([ra.send("move", {"dx": 2, "dy": 0, "t": 5.5}) for _ in range(3)])
        assert len({ack["cseq"] for ack in acks}) == 3
        last = max(ack["seq"] for ack in acks)
        yield until(lambda: ra.seq >= last and rb.seq >= last)
        assert ra.state["players"]["alice"]["x"] == min(1000, x0 + 6)
        assert rb.state == ra.state
    finally:
        yield a.close()
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_refused_input_reaches_only_its_sender_and_changes_nothing(node: NodeProcess):
    """A move over the speed limit is refused with kasagi.error.rejected to its sender alone; nothing changes."""
    a = yield KasagiClient.connect(node.url, "alice")
    b = yield KasagiClient.connect(node.url, "bob")
    try:
        ra = yield a.join("fast_refused")
        rb = yield b.join("fast_refused")
        yield until(lambda: "alice" in rb.state["players"] and "bob" in ra.state["players"])
        before, seq = dict(ra.state["players"]["alice"]), ra.seq
        heard_by_bob: list[dict] = []
        yield b.session.subscribe(
            lambda *args, **kw: heard_by_bob.append(kw["reply"]) if "reply" in kw else None, "kasagi.room.fast_refused"
        )
        with pytest.raises(ApplicationError) as info:
            yield ra.send("move", {"dx": 11, "dy": 0})
        assert info.value.error == "kasagi.error.rejected"
        assert info.value.kwargs["field"] == "args.dx"
        ok = yield ra.send("move", {"dx": 0, "dy": 1})
        assert ok["seq"] == seq + 1, "the refused input took no seq"
        yield until(lambda: rb.seq >= ok["seq"])
        assert rb.state["players"]["alice"]["x"] == before["x"]
        assert heard_by_bob == []
    finally:
        yield a.close()
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_input_of_a_non_member_is_refused(node: NodeProcess):
    """A session that has not joined the room gets kasagi.error.not_member for its input."""
    a = yield KasagiClient.connect(node.url, "alice")
    c = yield KasagiClient.connect(node.url, "carol")
    try:
        ra = yield a.join("fast_members")
        yield until(lambda: "alice" in ra.state["players"])
        yield c.open("fast_members")
        session = c.session
        replies: list[dict] = []
        yield session.subscribe(lambda *args, **kw: replies.append(kw.get("reply")), "kasagi.room.fast_members")
        session.publish("kasagi.input.fast_members", "move", {"dx": 1, "dy": 0}, 42)
        yield until(lambda: any(r and r.get("cseq") == 42 for r in replies))
        refusal = next(r for r in replies if r and r.get("cseq") == 42)
        assert refusal["error"] == "kasagi.error.not_member"
        assert "carol" not in ra.state["players"]
    finally:
        yield a.close()
        yield c.close()


@pytest_twisted.inlineCallbacks
def test_repeated_input_cseq_is_applied_once_and_answered(node: NodeProcess):
    """An input sent again with an applied cseq changes nothing and is answered with its first seq."""
    a = yield KasagiClient.connect(node.url, "alice")
    try:
        ra = yield a.join("fast_repeat")
        yield until(lambda: "alice" in ra.state["players"])
        x0 = ra.state["players"]["alice"]["x"]
        cseq = ra.next_cseq()
        first = yield ra.send("move", {"dx": 3, "dy": 0}, cseq=cseq)
        again = yield ra.send("move", {"dx": 3, "dy": 0}, cseq=cseq)
        assert again == first
        yield until(lambda: ra.seq >= first["seq"])
        assert ra.state["players"]["alice"]["x"] == min(1000, x0 + 3)
    finally:
        yield a.close()


@pytest_twisted.inlineCallbacks
def test_the_answer_to_a_repeated_input_reaches_only_its_sender(node: NodeProcess):
    """The reply that answers a repeated cseq (its first result) goes to the publishing session;
    another member of the room receives no reply at all."""
    a = yield KasagiClient.connect(node.url, "alice")
    b = yield KasagiClient.connect(node.url, "bob")
    try:
        ra = yield a.join("fast_repeat_private")
        rb = yield b.join("fast_repeat_private")
        yield until(lambda: "alice" in rb.state["players"] and "bob" in ra.state["players"])
        heard_by_bob: list[dict] = []
        rb._on_reply = heard_by_bob.append  # type: ignore[method-assign]
        cseq = ra.next_cseq()
        first = yield ra.send("move", {"dx": 1, "dy": 0}, cseq=cseq)
        again = yield ra.send("move", {"dx": 1, "dy": 0}, cseq=cseq)
        assert again == first
        # An event after the reply: bob has seen everything the router sent him before it.
        last = yield ra.send("move", {"dx": 0, "dy": 1})
        yield until(lambda: rb.seq >= last["seq"])
        assert heard_by_bob == []
    finally:
        yield a.close()
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_the_map_form_of_an_input_is_applied(node: NodeProcess):
    """An input published as one map {"action", "args", "cseq"} is applied and acknowledged
    like the positional form."""
    a = yield KasagiClient.connect(node.url, "alice")
    try:
        ra = yield a.join("fast_map")
        yield until(lambda: "alice" in ra.state["players"])
        x0 = ra.state["players"]["alice"]["x"]
        acked: list[int] = []
        ra.on_change(lambda event: acked.extend(((event or {}).get("acks") or {}).get("alice", [])))
        a.session.publish("kasagi.input.fast_map", {"action": "move", "args": {"dx": 4, "dy": 0}, "cseq": 77})
        yield until(lambda: 77 in acked)
        assert ra.state["players"]["alice"]["x"] == min(1000, x0 + 4)
    finally:
        yield a.close()


@pytest_twisted.inlineCallbacks
def test_an_input_claiming_to_forward_for_another_member_moves_nobody(node: NodeProcess):
    """A client that puts bob in its input's forward_for (Crossbar would then disclose bob as
    the publisher) moves neither bob nor itself, even after a normal input of its own."""
    from autobahn.wamp.types import PublishOptions

    a = yield KasagiClient.connect(node.url, "alice")
    b = yield KasagiClient.connect(node.url, "bob")
    try:
        ra = yield a.join("fast_forged")
        rb = yield b.join("fast_forged")
        yield until(lambda: "alice" in rb.state["players"] and "bob" in ra.state["players"])
        yield ra.send("move", {"dx": 1, "dy": 0})  # the publish permission is warm now
        bob_before = dict(ra.state["players"]["bob"])
        forged = PublishOptions(forward_for=[{"session": b.session.session_id, "authid": "bob", "authrole": "client"}])
        a.session.publish("kasagi.input.fast_forged", "move", {"dx": 5, "dy": 5}, 900, options=forged)
        ok = yield ra.send("move", {"dx": 0, "dy": 1})  # published after the forged one
        yield until(lambda: ra.seq >= ok["seq"] and rb.seq >= ok["seq"])
        assert ra.state["players"]["bob"] == bob_before
        assert rb.state["players"]["bob"] == bob_before
    finally:
        yield a.close()
        yield b.close()
