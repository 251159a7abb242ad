"""Presence end to end through a real node (grace 3 s, heartbeats 1 s / 1 s): offline with
``until`` on close, leave and missed heartbeat; back within the grace keeps the player; after
it the arena removes the player; and the bad-input cases of connection handling."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.conftest import start_node
from tests.faults.proxy import FaultProxy
from tests.faults.support import Figures, client_options
from tests.waiting import until

pytestmark = pytest.mark.node

GRACE = 3.0
PING = 1.0


@pytest.fixture(scope="module")
def presence_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = start_node(
        tmp_path_factory.mktemp("presence"),
        service={"store": "memory", "tick": 0.02, "grace": GRACE},
        ping_interval_ms=int(PING * 1000),
        ping_timeout_ms=int(PING * 1000),
    )
    yield proc
    proc.stop()


def _member(handle, member: str) -> dict | None:
    return handle.state.get("members", {}).get(member)


@defer.inlineCallbacks
def _pair(url_a: str, url_b: str, room: str, **options):
    a = yield KasagiClient.connect(url_a, "alice", options=client_options(**options))
    b = yield KasagiClient.connect(url_b, "bob", options=client_options())
    ra = yield a.join(room)
    rb = yield b.join(room)
    yield until(lambda: (_member(rb, "alice") or {}).get("online") is True and "alice" in rb.state["players"], 10.0)
    return a, b, ra, rb


@pytest_twisted.inlineCallbacks
def test_a_joined_room_already_holds_the_joiners_presence_and_player(presence_node: NodeProcess):
    """Right after join returns, the joiner is online in its own copy and has its arena player, at the seq of
    the event that brought it; a second member sees both at once too."""
    a = yield KasagiClient.connect(presence_node.url, "alice", options=client_options())
    b = yield KasagiClient.connect(presence_node.url, "bob", options=client_options())
    try:
        ra = yield a.join("p_self")
        assert ra.state["members"]["alice"]["online"] is True
        assert "alice" in ra.state["players"]
        assert ra.seq >= 1
        rb = yield b.join("p_self")
        assert rb.state["members"]["bob"]["online"] is True
        assert {"alice", "bob"} <= set(rb.state["players"])
    finally:
        yield a.close()
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_closing_marks_offline_until_grace_then_the_player_is_removed(presence_node: NodeProcess):
    """A member whose client closes is marked offline with until = since + grace, and its arena player disappears when
    the grace ends."""
    a, b, _, rb = yield _pair(presence_node.url, presence_node.url, "p_close")
    try:
        yield a.close()
        closed = reactor.seconds()
        yield until(lambda: (_member(rb, "alice") or {}).get("online") is False, 5.0, what="alice offline")
        member = _member(rb, "alice")
        assert member["until"] - member["since"] == int(GRACE * 1000)
        assert "alice" in rb.state["players"], "the player stays during the grace"
        yield until(lambda: "alice" not in rb.state["players"], GRACE + 5.0, what="alice removed")
        assert _member(rb, "alice") is None
        assert reactor.seconds() - closed >= GRACE - 0.5
    finally:
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_leave_marks_offline(presence_node: NodeProcess):
    """A member that leaves the room (still connected) is marked offline with the same grace."""
    a, b, ra, rb = yield _pair(presence_node.url, presence_node.url, "p_leave")
    try:
        yield ra.leave()
        yield until(lambda: (_member(rb, "alice") or {}).get("online") is False, 5.0, what="alice offline")
        assert _member(rb, "alice")["until"] - _member(rb, "alice")["since"] == int(GRACE * 1000)
    finally:
        yield a.close()
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_back_within_the_grace_keeps_the_player(presence_node: NodeProcess):
    """A member whose connection drops and comes back within the grace is online again with its player where it was."""
    a, b, ra, rb = yield _pair(presence_node.url, presence_node.url, "p_back")
    try:
        yield ra.act("move", {"dx": 7, "dy": -4})
        yield until(lambda: ra.seq == rb.seq, 5.0)
        player = dict(rb.state["players"]["alice"])
        a.drop_connection()
        yield until(lambda: (_member(rb, "alice") or {}).get("online") is False, 5.0, what="alice offline")
        yield until(lambda: (_member(rb, "alice") or {}).get("online") is True, GRACE, what="alice back")
        assert rb.state["players"]["alice"] == player
        yield until(lambda: ra.in_sync and ra.seq == rb.seq, 5.0)
        assert ra.state == rb.state
    finally:
        yield a.close()
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_a_client_that_stops_answering_pings_is_dropped_within_the_bound(presence_node: NodeProcess):
    """A client that never answers the router's pings (a silent partition) is closed and marked offline within interval
    + timeout + 1 s."""
    proxy = FaultProxy(reactor, "127.0.0.1", presence_node.options.port).start()
    try:
        a, b, _, rb = yield _pair(proxy.url(), presence_node.url, "p_ping", ping_interval=0)
    except BaseException:
        proxy.stop()
        raise
    try:
        proxy.partition()
        start = reactor.seconds()
        yield until(lambda: (_member(rb, "alice") or {}).get("online") is False, 2 * PING + 3.0, what="alice offline")
        took = reactor.seconds() - start
        Figures(f"heartbeat {PING:g} s / {PING:g} s: silent client marked offline", {"offline_after_s": took}).emit()
        assert took <= 2 * PING + 1.0
    finally:
        proxy.stop()
        yield a.close()
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_connections_opened_and_closed_in_a_tight_loop_leave_the_room_unaffected(presence_node: NodeProcess):
    """A member connecting, joining and dropping 150 times in a row (half of them without a goodbye) leaves the room
    consistent -- the others keep acting, the member ends offline -- and the node's memory does not grow with it."""
    b = yield KasagiClient.connect(presence_node.url, "bob", options=client_options())
    try:
        rb = yield b.join("p_churn")
        acks = []
        rss_before = 0
        for i in range(150):
            if i == 30:  # after a warm-up: caches, imports, first rooms
                rss_before = presence_node.rss()
            c = yield KasagiClient.connect(presence_node.url, "mallory", options=client_options(reconnect=False))
            yield c.join("p_churn")
            if i % 2:
                c.drop_connection()
            yield c.close()
            acks.append((yield rb.act("move", {"dx": 1 if i % 4 < 2 else -1, "dy": 0})))
        yield until(lambda: (_member(rb, "mallory") or {}).get("online") is False, 5.0, what="mallory offline")
        yield until(lambda: rb.seq >= acks[-1]["seq"], 5.0)
        growth = (presence_node.rss() - rss_before) / 2**20
        Figures("connect/join/close x150 (half without goodbye)", {"node_rss_growth_mib": growth}).emit()
        fresh = yield KasagiClient.connect(presence_node.url, "carol", options=client_options())
        rc = yield fresh.join("p_churn")
        yield until(lambda: rc.seq == rb.seq and "carol" in rb.state["members"], 5.0)
        assert rc.state == rb.state
        assert set(rb.state["members"]) == {"bob", "mallory", "carol"}
        yield until(lambda: "mallory" not in rb.state["players"], GRACE + 5.0, what="mallory's player removed")
        yield fresh.close()
        assert growth < 40, f"the node grew by {growth:.1f} MiB over 120 connections"
    finally:
        yield b.close()


@pytest_twisted.inlineCallbacks
def test_since_from_another_room_or_the_future_gets_a_snapshot(presence_node: NodeProcess):
    """A join whose since belongs to another room or lies in the future is answered with a snapshot, never with someone
    else's events."""
    a = yield KasagiClient.connect(presence_node.url, "alice", options=client_options())
    try:
        r1 = yield a.join("p_since_one")
        r2 = yield a.join("p_since_two")
        yield r2.act("move", {"dx": 1, "dy": 1})
        yield until(lambda: r1.seq >= 1 and r2.seq >= 2, 5.0)
        assert r1.epoch != r2.epoch, "rooms of one owner have distinct epochs"
        other = yield a.call("kasagi.room.p_since_one.join", {"epoch": r2.epoch, "seq": 1})
        assert "state" in other and "events" not in other
        future = yield a.call("kasagi.room.p_since_one.join", {"epoch": r1.epoch, "seq": r1.seq + 1000})
        assert "state" in future
        with pytest.raises(ApplicationError) as info:
            yield a.call("kasagi.room.p_since_one.join", {"epoch": "x", "seq": -1})
        assert info.value.error == "kasagi.error.invalid_argument"
    finally:
        yield a.close()


@pytest_twisted.inlineCallbacks
def test_a_restarted_node_marks_vanished_sessions_offline(tmp_path):
    """After the node restarts on its stored rooms, a member whose client never came back is marked offline with a
    fresh grace and removed after it, while a member whose client reconnects is online again with its player."""
    from twisted.internet import threads

    node = yield threads.deferToThread(start_node, tmp_path, service={"store": "sqlite", "tick": 0.02, "grace": GRACE})
    clients = []
    try:
        a = yield KasagiClient.connect(node.url, "alice", options=client_options(reconnect=False))
        clients.append(a)
        b = yield KasagiClient.connect(node.url, "bob", options=client_options(connect_timeout=30.0))
        clients.append(b)
        yield a.join("p_restart")
        rb = yield b.join("p_restart")
        yield until(lambda: {"alice", "bob"} <= set(rb.state["players"]), 10.0, what="both players")
        bob_player = dict(rb.state["players"]["bob"])
        node.kill()
        yield a.close()  # alice's client is gone for good
        node = NodeProcess(node.options, env=node.env)
        yield threads.deferToThread(node.start, 120.0)
        yield until(lambda: rb.in_sync and (_member(rb, "bob") or {}).get("online") is True, 15.0, what="bob back")
        yield until(lambda: (_member(rb, "alice") or {}).get("online") is False, 5.0, what="alice offline")
        alice = _member(rb, "alice")
        assert alice["until"] - alice["since"] == int(GRACE * 1000)
        assert rb.state["players"]["bob"] == bob_player
        yield until(lambda: "alice" not in rb.state["players"], GRACE + 5.0, what="alice removed")
        assert _member(rb, "alice") is None and "bob" in rb.state["players"]
    finally:
        for c in clients:
            yield c.close()
        node.kill()
