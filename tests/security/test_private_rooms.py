"""Private rooms through a real router and room service: only listed members may use or read them."""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.security.nodes import token
from tests.security.test_authorization import refused
from tests.security.wamp_raw import Login, close, connect_ws
from tests.waiting import until

pytestmark = pytest.mark.node
MEMBERS = {"members": ["alice", "bob"]}


@pytest_twisted.inlineCallbacks
def test_members_use_a_private_room_others_are_refused_by_the_room_service(secure_node: NodeProcess):
    """alice opens a room for alice and bob; bob joins and acts; mallory's open, join, act and leave
    get kasagi.error.not_authorized and change nothing."""
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"))
    bob = yield KasagiClient.connect(secure_node.url, "bob", token("bob"))
    mallory = yield connect_ws(secure_node.options.port, Login("mallory", token("mallory")))
    try:
        reply = yield alice.open("priv", "arena", MEMBERS)
        assert reply["members"] == ["alice", "bob"]
        ha = yield alice.join("priv", "arena", MEMBERS)
        hb = yield bob.join("priv")
        ack = yield hb.act("move", {"dx": 2, "dy": 2})
        yield until(lambda: ha.seq >= ack["seq"] and "bob" in ha.state["players"])
        seq = ha.seq
        for d in (
            mallory.call("kasagi.lobby.open", "priv"),
            mallory.call("kasagi.lobby.open", "priv", "arena", {"members": ["alice", "bob", "mallory"]}),
            mallory.call("kasagi.room.priv.join", None),
            mallory.call("kasagi.room.priv.act", "move", {"dx": 1, "dy": 1}, 1),
            mallory.call("kasagi.room.priv.leave"),
        ):
            error = yield refused(d, "kasagi.error.not_authorized")
            assert error.kwargs["field"] == "member" and error.kwargs["got"] == "mallory"
        check = yield alice.call("kasagi.room.priv.join", {"epoch": ha.epoch, "seq": seq})
        assert check["events"] == [] and "mallory" not in ha.state["members"]
    finally:
        yield close(mallory)
        yield alice.close()
        yield bob.close()


@pytest_twisted.inlineCallbacks
def test_only_members_may_subscribe_to_a_private_room(secure_node: NodeProcess):
    """The router's authorizer admits a member's subscription to a private room's topic and then
    refuses a non-member's (the decision is per member, never cached for the whole role)."""
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"))
    bob = yield connect_ws(secure_node.options.port, Login("bob", token("bob")))
    mallory = yield connect_ws(secure_node.options.port, Login("mallory", token("mallory")))
    try:
        yield alice.open("privsub", "arena", MEMBERS)
        yield bob.subscribe(lambda *a: None, "kasagi.room.privsub")
        yield refused(mallory.subscribe(lambda *a: None, "kasagi.room.privsub"))
        yield bob.subscribe(lambda *a: None, "kasagi.room.privsub")
        # A public room stays readable by everyone.
        yield alice.open("pubsub")
        yield mallory.subscribe(lambda *a: None, "kasagi.room.pubsub")
    finally:
        yield close(bob, mallory)
        yield alice.close()


@pytest_twisted.inlineCallbacks
def test_a_subscription_made_before_the_room_was_private_receives_nothing(secure_node: NodeProcess):
    """mallory subscribes to a room id before anyone opened it; when alice then opens it as private,
    its events go to its members only."""
    events: list[object] = []
    mallory = yield connect_ws(secure_node.options.port, Login("mallory", token("mallory")))
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"))
    try:
        yield mallory.subscribe(lambda *a, **k: events.append(a), "kasagi.room.squatted")
        handle = yield alice.join("squatted", "arena", {"members": ["alice"]})
        for _ in range(3):
            ack = yield handle.act("move", {"dx": 1, "dy": 1})
        yield until(lambda: handle.seq >= ack["seq"])
        # A round trip on mallory's connection after the events were published.
        yield mallory.call("kasagi.lobby.open", "squatted_probe")
        assert handle.stats["events"] >= 3
        assert events == []
    finally:
        yield close(mallory)
        yield alice.close()


@pytest_twisted.inlineCallbacks
def test_member_lists_are_validated_and_fixed_at_creation(secure_node: NodeProcess):
    """A list without the caller, a malformed list, or another list for an existing room is refused
    with kasagi.error.invalid_argument naming options.members; a public room can't be made private."""
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"))
    try:
        for room, options, field in (
            ("notme", {"members": ["bob"]}, "options.members"),
            ("badlist", {"members": "alice"}, "options.members"),
            ("badid", {"members": ["alice", "b b"]}, "options.members[1]"),
            ("dupes", {"members": ["alice", "alice"]}, "options.members"),
        ):
            error = yield refused(alice.open(room, "arena", options), "kasagi.error.invalid_argument")
            assert error.kwargs["field"] == field
            yield refused(alice.call(f"kasagi.room.{room}.join", None), "kasagi.error.no_such_room")
        yield alice.open("fixedlist", "arena", MEMBERS)
        error = yield refused(alice.open("fixedlist", "arena", {"members": ["alice"]}), "kasagi.error.invalid_argument")
        assert error.kwargs["field"] == "options.members"
        yield alice.open("publicroom")
        yield refused(alice.open("publicroom", "arena", {"members": ["alice"]}), "kasagi.error.invalid_argument")
    finally:
        yield alice.close()


@pytest_twisted.inlineCallbacks
def test_members_are_a_lobby_option_and_the_room_type_keeps_its_own(secure_node: NodeProcess):
    """A private doc room with a schema: the member list restricts access, the schema still applies."""
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"))
    try:
        schema = {"type": "object", "properties": {"title": {"type": "string"}}}
        handle = yield alice.join("privdoc", "doc", {"members": ["alice"], "schema": schema})
        yield handle.act("set", {"path": ["title"], "value": "ok"})
        with pytest.raises(ApplicationError) as info:
            yield handle.act("set", {"path": ["title"], "value": 5})
        assert info.value.error == "kasagi.error.rejected"
        error = yield refused(
            alice.open("privdoc2", "doc", {"members": ["alice"], "colour": "red"}), "kasagi.error.invalid_argument"
        )
        assert error.kwargs["field"] == "options.colour"
    finally:
        yield alice.close()


@pytest_twisted.inlineCallbacks
def test_a_non_member_client_cannot_join_through_the_sdk(secure_node: NodeProcess):
    """KasagiClient.join of someone else's private room fails with kasagi.error.not_authorized."""
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"))
    mallory = yield KasagiClient.connect(secure_node.url, "mallory", token("mallory"))
    try:
        yield alice.join("sdkpriv", "arena", {"members": ["alice"]})
        with pytest.raises(ApplicationError) as info:
            yield mallory.join("sdkpriv")
        assert info.value.error in ("kasagi.error.not_authorized", "wamp.error.not_authorized")
    finally:
        yield alice.close()
        yield mallory.close()
