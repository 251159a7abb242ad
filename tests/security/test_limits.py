"""Limits through a real router and room service (a node with small limits: 5 actions/s in
bursts of 5 per member, 3 members per room, 4096-byte states; a dedicated node for rooms per
process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor, task

from kasagi import wire
from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.security.nodes import start
from tests.security.test_authorization import refused
from tests.security.wamp_raw import Login, close, connect_ws
from tests.waiting import until

pytestmark = pytest.mark.node


@defer.inlineCallbacks
def settled(calls: list[defer.Deferred]):  # type: ignore[no-untyped-def]
    """Results or ApplicationErrors of ``calls``, in order."""
    results = yield defer.DeferredList(calls, consumeErrors=True)
    return [r if ok else r.value for ok, r in results]


@pytest_twisted.inlineCallbacks
def test_a_member_acting_too_fast_is_rate_limited(limits_node: NodeProcess):
    """Ten moves sent at once: five pass, the rest get kasagi.error.rate_limited with retry_after and
    move nothing; after waiting retry_after the member may act again."""
    observer = yield KasagiClient.connect(limits_node.url, "watcher")
    speedy = yield connect_ws(limits_node.options.port, Login("speedy", "dev"))
    try:
        handle = yield observer.join("ratelimited")
        yield speedy.call("kasagi.room.ratelimited.join", None)
        yield until(lambda: "speedy" in handle.state["players"])
        x0 = handle.state["players"]["speedy"]["x"]
        results = yield settled(
            [speedy.call("kasagi.room.ratelimited.act", "move", {"dx": 1, "dy": 0}, cseq) for cseq in range(1, 11)]
        )
        passed = [r for r in results if isinstance(r, dict)]
        limited = [r for r in results if isinstance(r, ApplicationError)]
        assert all(e.error == "kasagi.error.rate_limited" and e.kwargs["retryable"] for e in limited)
        assert len(passed) >= 5 and len(limited) >= 4
        last = max(r["seq"] for r in passed)
        yield until(lambda: handle.seq >= last)
        assert handle.state["players"]["speedy"]["x"] == min(1000, x0 + len(passed))
        assert all(0 < e.kwargs["retry_after"] <= 1.0 for e in limited)
        # The bucket refills: retried (same cseq) until accepted, within a deadline.
        deadline = reactor.seconds() + 10
        while True:
            try:
                again = yield speedy.call("kasagi.room.ratelimited.act", "move", {"dx": 1, "dy": 0}, 100)
                break
            except ApplicationError as exc:
                assert exc.error == "kasagi.error.rate_limited" and reactor.seconds() < deadline
                yield task.deferLater(reactor, exc.kwargs["retry_after"], lambda: None)
        assert again["seq"] > last
    finally:
        yield close(speedy)
        yield observer.close()


@pytest_twisted.inlineCallbacks
def test_the_sdk_backs_off_and_every_action_lands(limits_node: NodeProcess):
    """Through the Python client, twelve moves at once all land (it retries rate_limited later with
    the same cseq), each exactly once."""
    client = yield KasagiClient.connect(limits_node.url, "patient")
    try:
        handle = yield client.join("sdkrate")
        yield until(lambda: "patient" in handle.state["players"])
        x0 = handle.state["players"]["patient"]["x"]
        acks = yield defer.gatherResults([handle.act("move", {"dx": 1, "dy": 0}) for _ in range(12)])
        yield until(lambda: handle.seq >= max(a["seq"] for a in acks))
        assert handle.state["players"]["patient"]["x"] == min(1000, x0 + 12)
    finally:
        yield client.close()


@pytest_twisted.inlineCallbacks
def test_a_full_room_refuses_another_member(limits_node: NodeProcess):
    """With 3 members per room, a fourth member's join gets kasagi.error.full and the room is unchanged."""
    clients = []
    try:
        for name in ("m1", "m2", "m3"):
            client = yield KasagiClient.connect(limits_node.url, name)
            clients.append(client)
            handle = yield client.join("crowded")
        yield until(lambda: len(handle.state["members"]) == 3)
        late = yield connect_ws(limits_node.options.port, Login("m4", "dev"))
        clients.append(late)
        error = yield refused(late.call("kasagi.room.crowded.join", None), "kasagi.error.full")
        assert error.kwargs["field"] == "members" and error.kwargs["retryable"] is True
        seq = handle.seq
        reply = yield clients[0].call("kasagi.room.crowded.join", {"epoch": handle.epoch, "seq": seq})
        assert reply["events"] == [] and "m4" not in handle.state["members"]
    finally:
        for c in clients:
            if isinstance(c, KasagiClient):
                yield c.close()
            else:
                yield close(c)


@pytest_twisted.inlineCallbacks
def test_a_state_larger_than_the_limit_is_refused(limits_node: NodeProcess):
    """In a doc room limited to 4096 bytes, a set that would pass the limit gets kasagi.error.rejected
    (field state) and changes nothing; smaller changes still apply."""
    client = yield KasagiClient.connect(limits_node.url, "writer")
    try:
        handle = yield client.join("bigstate", "doc")
        yield handle.act("set", {"path": ["a"], "value": "x" * 3000})
        seq = handle.seq
        with pytest.raises(ApplicationError) as info:
            yield handle.act("set", {"path": ["b"], "value": "y" * 1500})
        assert info.value.error == "kasagi.error.rejected" and info.value.kwargs["field"] == "state"
        assert "4096" in info.value.kwargs["expected"]
        reply = yield client.call("kasagi.room.bigstate.join", None)
        assert "b" not in reply["state"] and reply["seq"] == seq
        yield handle.act("set", {"path": ["a"], "value": "short"})
        yield handle.act("set", {"path": ["b"], "value": "y" * 1500})
    finally:
        yield client.close()


@pytest_twisted.inlineCallbacks
def test_oversized_values_are_refused_at_the_boundary(limits_node: NodeProcess):
    """A 20,000-character string or a 40-level nesting is refused with invalid_argument naming its position."""
    client = yield KasagiClient.connect(limits_node.url, "bulky")
    try:
        yield client.join("bulkydoc", "doc")
        error = yield refused(
            client.call("kasagi.room.bulkydoc.act", "set", {"path": ["a"], "value": "z" * 20_000}, 1),
            "kasagi.error.invalid_argument",
        )
        assert error.kwargs["field"] == "args.value"
        deep: object = 1
        for _ in range(40):
            deep = [deep]
        error = yield refused(
            client.call("kasagi.room.bulkydoc.act", "set", {"path": ["a"], "value": deep}, 2),
            "kasagi.error.invalid_argument",
        )
        assert error.kwargs["field"].startswith("args.value")
    finally:
        yield client.close()


@pytest_twisted.inlineCallbacks
def test_a_process_serves_at_most_max_rooms(tmp_path: Path):
    """With max_rooms 3, opening a fourth room is refused with kasagi.error.full; the open rooms keep working."""
    node = start(tmp_path, secret=None, loglevel="warn", service={"store": "memory", "tick": 0.005, "max_rooms": 3})
    client = None
    try:
        client = yield KasagiClient.connect(node.url, "opener")
        for i in range(3):
            yield client.open(f"cap_{i}")
        error = yield refused(client.open("cap_3"), "kasagi.error.full")
        assert error.kwargs["field"] == "rooms" and error.kwargs["retryable"] is True
        yield refused(client.call("kasagi.room.cap_3.join", None), "kasagi.error.no_such_room")
        handle = yield client.join("cap_0")
        yield handle.act("move", {"dx": 1, "dy": 1})
    finally:
        if client is not None:
            yield client.close()
        node.stop()


@pytest.fixture(scope="module")
def quota_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node allowing 3 sessions per member and 5 subscriptions per session."""
    node = start(
        tmp_path_factory.mktemp("quotas"),
        secret=None,
        loglevel="warn",
        service={"store": "memory", "tick": 0.005},
        max_sessions_per_member=3,
        max_subscriptions_per_session=5,
    )
    yield node
    node.stop()


@pytest_twisted.inlineCallbacks
def test_a_members_session_beyond_the_quota_is_closed_and_the_others_keep_working(quota_node: NodeProcess):
    """With 3 sessions per member, a fourth session of one member is closed right after it
    joined with kasagi.error.full naming sessions_per_member; the first three stay attached
    and are served."""
    port = quota_node.options.port
    opener = yield KasagiClient.connect(quota_node.url, "opener")
    sessions: list = []
    try:
        yield opener.join("quota_sessions", "doc")
        for _ in range(3):
            sessions.append((yield connect_ws(port, Login("tabs", "dev"))))
        fourth = yield connect_ws(port, Login("tabs", "dev"))
        sessions.append(fourth)
        yield until(lambda: fourth.closed.called, what="the fourth session closed")
        assert fourth.goodbye is not None and fourth.goodbye[0] == "kasagi.error.full", fourth.goodbye
        assert "sessions_per_member" in fourth.goodbye[1], fourth.goodbye
        replies = yield defer.gatherResults(
            [s.call(wire.room_procedure("quota_sessions", "join"), None) for s in sessions[:3]]
        )
        assert all(s.is_attached() for s in sessions[:3])
        assert all(reply["room"] == "quota_sessions" and "state" in reply for reply in replies)
    finally:
        yield close(*sessions)
        yield opener.close()


@pytest_twisted.inlineCallbacks
def test_a_subscription_beyond_the_quota_is_refused_and_the_first_five_still_receive(quota_node: NodeProcess):
    """With 5 subscriptions per session, a sixth subscribe fails with
    wamp.error.authorization_failed carrying kasagi.error.full and subscriptions_per_session,
    and events of all five subscribed rooms still reach the session."""
    rooms = [f"quota_subs_{i}" for i in range(6)]
    writers = []
    subscriber = None
    try:
        handles = []
        for group in (rooms[:3], rooms[3:5]):  # each client's own subscriptions stay within the quota
            writer = yield KasagiClient.connect(quota_node.url, f"writer{len(writers)}")
            writers.append(writer)
            for room in group:
                handles.append((yield writer.join(room, "doc")))
        subscriber = yield connect_ws(quota_node.options.port, Login("reader", "dev"))
        received: dict[str, list[int]] = {room: [] for room in rooms[:5]}
        for room in rooms[:5]:
            yield subscriber.subscribe(
                lambda event, room=room: received[room].append(event["seq"]), wire.room_topic(room)
            )
        error = yield refused(
            subscriber.subscribe(lambda event: None, wire.room_topic(rooms[5])), "wamp.error.authorization_failed"
        )
        assert "kasagi.error.full" in str(error) and "subscriptions_per_session" in str(error), error
        for handle in handles:
            yield handle.act("set", {"path": ["k"], "value": 1})
        yield until(lambda: all(received[room] for room in rooms[:5]), what="an event of every subscribed room")
    finally:
        yield close(subscriber)
        for writer in writers:
            yield writer.close()
