"""Least privilege through a real router, with raw WAMP sessions (not the Kasagi client):
what a client may not do, and that it can't act as another member."""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, PublishOptions, RegisterOptions, SubscribeOptions
from twisted.internet import defer, reactor

from kasagi.client import KasagiClient
from kasagi.deadline import within
from kasagi.testing.node import NodeProcess
from tests.security.nodes import token
from tests.security.wamp_raw import Login, close, connect_unix, connect_ws
from tests.waiting import until

pytestmark = pytest.mark.node
NOT_AUTHORIZED = "wamp.error.not_authorized"


def backend_login(node: NodeProcess) -> Login:
    return Login("kasagi_backend", authmethods=("wampcra",), secret=node.env["KASAGI_BACKEND_SECRET"])


@pytest.fixture
def port(secure_node: NodeProcess) -> int:
    return secure_node.options.port


@defer.inlineCallbacks
def refused(d: defer.Deferred, *uris: str):  # type: ignore[no-untyped-def]
    uris = uris or (NOT_AUTHORIZED,)
    try:
        yield d
    except ApplicationError as exc:
        assert exc.error in uris, exc
        return exc
    raise AssertionError(f"expected {uris}, the action succeeded")


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", ["json", "cbor", "msgpack"])
def test_publishing_to_a_room_topic_is_refused_and_reaches_nobody(secure_node: NodeProcess, port: int, serializer: str):
    """A client's publish to a room topic is refused (acknowledge=True) and, unacknowledged, never
    reaches the room's members: their replicas see only the owner's events."""
    room = f"pub_{serializer}"
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"), serializer=serializer)
    mallory = yield connect_ws(port, Login("mallory", token("mallory")), serializer)
    try:
        handle = yield alice.join(room)
        yield until(lambda: "alice" in handle.state["players"])
        forged = {"epoch": handle.epoch, "seq": handle.seq + 1, "ops": [["set", ["players", "alice", "hp"], 0]]}
        yield refused(mallory.publish(f"kasagi.room.{room}", forged, options=PublishOptions(acknowledge=True)))
        mallory.publish(f"kasagi.room.{room}", forged)
        ack = yield handle.act("move", {"dx": 1, "dy": 0})
        yield until(lambda: handle.seq >= ack["seq"])
        assert handle.state["players"]["alice"]["hp"] == 100
        assert handle.stats["dropped"] == 0 and handle.stats["resyncs"] == 0
    finally:
        yield close(mallory)
        yield alice.close()


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize(
    "uri",
    [
        "kasagi.room.reg.join",
        "kasagi.room.reg.act",
        "kasagi.room..join",
        "kasagi.lobby.open",
        "kasagi.backend.room_access",
        "app.mine",
    ],
)
def test_registering_any_procedure_is_refused(port: int, uri: str):
    """A client can't register a room procedure, the lobby, a backend procedure or anything else."""
    mallory = yield connect_ws(port, Login("mallory", token("mallory")))
    try:
        match = "wildcard" if ".." in uri else None
        yield refused(
            mallory.register(lambda *a, **k: None, uri, options=RegisterOptions(match=match, invoke="roundrobin"))
        )
    finally:
        yield close(mallory)


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize(
    ("topic", "match"),
    [
        ("kasagi.room.", "prefix"),
        ("kasagi.", "prefix"),
        ("kasagi.room.sub", "prefix"),
        ("kasagi.room.", "wildcard"),
        ("kasagi..sub", "wildcard"),
        ("kasagi.room.sub.join", None),
        ("wamp.session.on_join", None),
        ("wamp.session.on_leave", None),
        ("wamp.subscription.on_create", None),
    ],
)
def test_pattern_and_meta_subscriptions_are_refused(port: int, topic: str, match: str | None):
    """Prefix and wildcard subscriptions, and subscriptions to anything but a room topic, are refused."""
    mallory = yield connect_ws(port, Login("mallory", token("mallory")))
    try:
        yield refused(mallory.subscribe(lambda *a, **k: None, topic, options=SubscribeOptions(match=match)))
    finally:
        yield close(mallory)


@pytest_twisted.inlineCallbacks
def test_an_allowed_exact_subscription_does_not_open_the_prefix(secure_node: NodeProcess, port: int):
    """After an exact subscription to a room topic is allowed, a prefix subscription to the same URI
    is still refused (the router's decision cache ignores match)."""
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"))
    mallory = yield connect_ws(port, Login("mallory", token("mallory")))
    try:
        yield alice.open("cachetrap")
        yield mallory.subscribe(lambda *a, **k: None, "kasagi.room.cachetrap")
        yield refused(
            mallory.subscribe(lambda *a, **k: None, "kasagi.room.cachetrap", options=SubscribeOptions(match="prefix"))
        )
        yield refused(
            mallory.subscribe(lambda *a, **k: None, "kasagi.room.cachetrap", options=SubscribeOptions(match="wildcard"))
        )
    finally:
        yield close(mallory)
        yield alice.close()


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize(
    "uri",
    [
        "wamp.session.list",
        "wamp.session.count",
        "wamp.session.get",
        "wamp.session.kill",
        "wamp.registration.list",
        "wamp.registration.lookup",
        "wamp.subscription.list",
        "wamp.subscription.list_subscribers",
        "kasagi.backend.room_access",
        "kasagi.auth.authenticate",
        "kasagi.auth.authorize",
        "kasagi.room.x.y.join",
        "crossbar.get_status",
    ],
)
def test_meta_and_backend_procedures_are_refused(port: int, uri: str):
    """The meta API and backend-only procedures are refused to clients."""
    mallory = yield connect_ws(port, Login("mallory", token("mallory")))
    try:
        yield refused(mallory.call(uri, "kasagi.room.x", 1))
    finally:
        yield close(mallory)


@defer.inlineCallbacks
def two_members(node: NodeProcess, room: str, room_type: str = "arena"):  # type: ignore[no-untyped-def]
    bob = yield KasagiClient.connect(node.url, "bob", token("bob"))
    handle = yield bob.join(room, room_type)
    mallory = yield connect_ws(node.options.port, Login("mallory", token("mallory")))
    yield mallory.call(f"kasagi.room.{room}.join", None)
    yield until(lambda: {"bob", "mallory"} <= set(handle.state["members"]))
    return bob, handle, mallory


@pytest_twisted.inlineCallbacks
def test_another_members_id_in_arguments_changes_nothing_for_that_member(secure_node: NodeProcess):
    """Naming bob in arguments (leave(bob), member=bob, a player field, a spoofed details keyword)
    is refused or acts on the caller only: bob stays online and unmoved."""
    bob, handle, mallory = yield two_members(secure_node, "others")
    try:
        position = dict(handle.state["players"]["bob"])
        seq = handle.seq
        cases = [
            mallory.call("kasagi.room.others.leave", "bob"),
            mallory.call("kasagi.room.others.leave", member="bob"),
            mallory.call("kasagi.room.others.join", None, member="bob"),
            mallory.call("kasagi.room.others.act", "move", {"dx": 5, "dy": 5}, 1, member="bob"),
            mallory.call("kasagi.room.others.act", "move", {"dx": 5, "dy": 5, "player": "bob"}, 2),
            mallory.call("kasagi.room.others.act", action="move", args={"dx": 5, "dy": 5}, cseq=3, room="other"),
        ]
        for d in cases:
            yield refused(d, "kasagi.error.invalid_argument")
        spoof = yield mallory.call(
            "kasagi.room.others.act", "move", {"dx": 5, "dy": 5}, 4, details={"caller_authid": "bob"}
        )
        yield until(lambda: handle.seq >= spoof["seq"])
        assert handle.state["players"]["bob"] == position
        assert handle.state["members"]["bob"]["online"] is True
        assert handle.seq == seq + 1, "only mallory's own move made an event"
    finally:
        yield close(mallory)
        yield bob.close()


@pytest_twisted.inlineCallbacks
def test_server_owned_members_are_not_writable(secure_node: NodeProcess):
    """In a doc room, setting or deleting members/bob is rejected and bob stays online."""
    bob, handle, mallory = yield two_members(secure_node, "ownedmembers", "doc")
    try:
        for args in (
            {"path": ["members", "bob"], "value": {"online": False}},
            {"path": ["members", "bob", "online"], "value": False},
        ):
            yield refused(mallory.call("kasagi.room.ownedmembers.act", "set", args, 1), "kasagi.error.rejected")
        yield refused(
            mallory.call("kasagi.room.ownedmembers.act", "del", {"path": ["members", "bob"]}, 2),
            "kasagi.error.rejected",
        )
        assert handle.state["members"]["bob"]["online"] is True
    finally:
        yield close(mallory)
        yield bob.close()


@pytest_twisted.inlineCallbacks
def test_a_forged_forward_for_cannot_impersonate_another_member(secure_node: NodeProcess):
    """A client claiming, in the call's forward_for, to relay a call of bob is refused -- by the
    authorizer, or by the room service once the router has cached the call permission: bob's player
    does not move and bob is not made to leave. Acts called past the dealer (local calls) never ask
    the authorizer, so a forwarded act, which they leave to the dealer, meets it uncached until an
    act that does go through the dealer (one with a router-side timeout) has cached it."""
    bob, handle, mallory = yield two_members(secure_node, "forwarded")
    try:
        ok = yield mallory.call("kasagi.room.forwarded.act", "move", {"dx": 1, "dy": 1}, 1)
        yield until(lambda: handle.seq >= ok["seq"])
        position, seq = dict(handle.state["players"]["bob"]), handle.seq
        forged = CallOptions(forward_for=[{"session": 1, "authid": "bob", "authrole": "client"}])
        # Nothing went through the dealer yet: the authorizer refuses.
        yield refused(mallory.call("kasagi.room.forwarded.act", "move", {"dx": 9, "dy": 9}, 2, options=forged))
        through_dealer = CallOptions(timeout=10_000)
        primed = yield mallory.call("kasagi.room.forwarded.act", "move", {"dx": 1, "dy": 1}, 3, options=through_dealer)
        yield until(lambda: handle.seq >= primed["seq"])
        # act's permission is cached now: the room service itself must refuse.
        yield refused(
            mallory.call("kasagi.room.forwarded.act", "move", {"dx": 9, "dy": 9}, 4, options=forged),
            "kasagi.error.not_authorized",
        )
        yield refused(
            mallory.call("kasagi.room.forwarded.leave", options=forged), "kasagi.error.not_authorized", NOT_AUTHORIZED
        )
        yield refused(
            mallory.call("kasagi.lobby.open", "forwarded2", options=forged),
            "kasagi.error.not_authorized",
            NOT_AUTHORIZED,
        )
        again = yield mallory.call("kasagi.room.forwarded.act", "move", {"dx": 1, "dy": 1}, 5)
        yield until(lambda: handle.seq >= again["seq"])
        assert handle.state["players"]["bob"] == position and handle.state["members"]["bob"]["online"]
        assert handle.seq == seq + 2
    finally:
        yield close(mallory)
        yield bob.close()


@pytest_twisted.inlineCallbacks
def test_every_room_call_discloses_the_caller(secure_node: NodeProcess, port: int):
    """A backend callee of a room's join, act and leave (and of an unopened room's fallback) always
    learns the calling member and session, whatever the caller asks."""
    seen: list[tuple[str, str | None, int | None]] = []
    backend = yield connect_unix(
        str(secure_node.options.data_dir.resolve() / "backend.sock"), backend_login(secure_node)
    )
    alice = yield connect_ws(port, Login("alice", token("alice")))
    try:
        for verb in ("join", "act", "leave"):

            def record(*args, details, verb=verb, **kwargs):  # type: ignore[no-untyped-def]
                seen.append((verb, details.caller_authid, details.caller))
                return {}

            yield backend.register(
                record, f"kasagi.room.disclosed.{verb}", options=RegisterOptions(details_arg="details")
            )
        yield alice.call("kasagi.room.disclosed.join", None)
        yield alice.call("kasagi.room.disclosed.act", "move", {}, 1, options=CallOptions(caller_authid="bob"))
        yield alice.call("kasagi.room.disclosed.leave")
        assert seen == [(verb, "alice", alice.session_id) for verb in ("join", "act", "leave")]
    finally:
        yield close(alice, backend)


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("keyword", ["f", "fun", "self"])
def test_a_keyword_autobahn_cannot_dispatch_is_answered(secure_node: NodeProcess, port: int, keyword: str):
    """Regression: a call with a keyword named f, fun or self used to stay unanswered forever (it
    broke Autobahn's dispatch in the room service); it is now refused with invalid_argument."""
    mallory = yield connect_ws(port, Login("mallory", token("mallory")))
    try:
        for uri in ("kasagi.lobby.open", "kasagi.room.kwroom.join", "kasagi.room.nowhere.act"):
            call = mallory.call_raw(uri, ["kwroom"] if uri == "kasagi.lobby.open" else [], {keyword: 1})
            yield refused(within(call, 10.0, reactor, f"an answer to {uri}"), "kasagi.error.invalid_argument")
    finally:
        yield close(mallory)


def admin_token(authid: str) -> str:
    """An admin ticket of the secure node (its admin secret is its deployment secret)."""
    import time

    from kasagi.auth import mint_token
    from tests.security.nodes import SECRET

    return mint_token(authid, SECRET.encode(), time.time(), 600, role="admin")


@pytest_twisted.inlineCallbacks
def test_a_client_ticket_can_not_reach_the_admin_surface(secure_node: NodeProcess, port: int):
    """A client may call no admin procedure and may not subscribe to the admin summary, by any match."""
    mallory = yield connect_ws(port, Login("mallory", token("mallory")))
    try:
        for verb in ("inspect", "remove", "close"):
            yield refused(mallory.call(f"kasagi.admin.node.{verb}", "r1", "alice"))
        for match in ("exact", "prefix", "wildcard"):
            uri = {"exact": "kasagi.admin.summary", "prefix": "kasagi.admin.", "wildcard": "kasagi.admin."}[match]
            yield refused(mallory.subscribe(lambda *a: None, uri, options=SubscribeOptions(match=match)))
    finally:
        yield close(mallory)


@pytest_twisted.inlineCallbacks
def test_an_admin_ticket_reads_the_summary_and_inspects_but_reaches_no_room(secure_node: NodeProcess, port: int):
    """An admin session hears the summary within seconds and may inspect a room, but may not call the lobby, act
    in a room or register an admin procedure."""
    alice = yield KasagiClient.connect(secure_node.url, "alice", token("alice"))
    ops = yield connect_ws(port, Login("ops", admin_token("ops")))
    heard: list[dict] = []
    try:
        yield alice.join("admin_seen")
        yield ops.subscribe(lambda summary: heard.append(summary), "kasagi.admin.summary")
        yield until(lambda: any(r["room"] == "admin_seen" for s in heard for r in s["rooms"]), timeout=10)
        view = yield ops.call("kasagi.admin.node.inspect", "admin_seen")
        assert [m["member"] for m in view["members"]] == ["alice"]
        yield refused(ops.call("kasagi.lobby.open", "admin_other"))
        yield refused(ops.call("kasagi.room.admin_seen.act", "move", {"dx": 1}, 1))
        yield refused(ops.register(lambda: None, "kasagi.admin.ops.inspect"))
    finally:
        yield close(ops)
        yield alice.close()
