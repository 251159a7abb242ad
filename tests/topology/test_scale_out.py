"""The distributed deployment of docker-compose.yml run as local processes (its own ``kasagi
up`` commands, local addresses): 2 routers, 3 workers joined to both, Redis with AOF. Clients
on either router see the same room; a killed or paused owner is replaced within 2 s and fenced
out; a stopped one hands over."""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor, threads

from kasagi.client import ClientOptions, KasagiClient
from kasagi.node import project_root
from kasagi.service.registry import wall_ms
from kasagi.store.factory import open_store
from kasagi.testing import free_port
from kasagi.testing.history import check_failover, stored_result
from kasagi.testing.topology import Topology
from tests.topology.keyed_workload import KeyedRun
from tests.topology.ownership import owner_of, stored_room
from tests.waiting import until

pytestmark = [pytest.mark.node, pytest.mark.redis]

#: The takeover bound (``docs/scaling.md``): from the owner's death to clients seeing the new owner.
TAKEOVER_BOUND = 2.0
#: A room type with a durable timer (its deadline), served by every worker.
AUCTION = "examples.auction.rooms:Auction"


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """The compose file's 2 routers + 3 workers + a private Redis (AOF), started once."""
    topo = Topology.from_compose(project_root() / "docker-compose.yml", tmp_path_factory.mktemp("topology"))
    topo.room_types = (AUCTION,)  # the workers serve the auction example too (durable timers)
    topo.start()
    yield topo
    topo.stop()


def replace_dead_workers(topo: Topology) -> None:
    """Keep three live workers for the next test."""
    for worker in list(topo.members):
        if not worker.alive:
            topo.members.remove(worker)
    while len(topo.members) < 3:
        topo.add_worker(f"w{next(_names)}")


_names = itertools.count(3)


@defer.inlineCallbacks
def connect_spread(topo: Topology, members: list[str], **options: Any):  # type: ignore[no-untyped-def]
    """One client per member, alternating between the routers."""
    clients = []
    for i, member in enumerate(members):
        url = topo.urls[i % len(topo.urls)]
        client = yield KasagiClient.connect(url, member, options=ClientOptions(**options) if options else None)
        clients.append(client)
    return clients


@defer.inlineCallbacks
def held_events(topo: Topology, room: str, epoch: int):  # type: ignore[no-untyped-def]
    """Every event of ``room``'s ``epoch`` (from the fence on; the room is small and young)."""
    assert topo.redis is not None
    store = yield open_store(topo.redis.url, reactor)
    try:
        stored = yield store.load(room)
        for seq in range(stored.seq + 1):  # the epoch's history starts after its fence
            events = yield store.events_since(room, epoch, seq)
            if events is not None:
                return events
    finally:
        yield store.close()
    raise AssertionError(f"the store holds no history of {room} at epoch {epoch}")


@defer.inlineCallbacks
def keyed_run(topo: Topology, room: str, members: list[str], **options: Any):  # type: ignore[no-untyped-def]
    """Members spread over the routers, joined to ``room`` and recorded (not acting yet)."""
    clients = yield connect_spread(topo, members, **options)
    run = KeyedRun(room, members, clients)
    try:
        yield run.join()
    except Exception:
        yield run.close()
        raise
    return run


@defer.inlineCallbacks
def settle_and_check(topo: Topology, run: KeyedRun):  # type: ignore[no-untyped-def]
    """Wait until every client sits at the store's head, then check I1-I6."""
    room, history, handles = run.room, run.history, run.handles
    deadline = time.monotonic() + 30
    while True:
        stored, state = yield stored_room(topo, room)
        at_head = all(h.epoch == stored.epoch and h.seq == stored.seq for h in handles.values())
        if at_head or time.monotonic() > deadline:
            break
        yield until(lambda s=stored: all(h.seq >= s.seq or h.epoch != s.epoch for h in handles.values()), timeout=10)
    finals = {label: h.state for label, h in handles.items()}
    check_failover(history, room=room, stored=stored, store_state=state, final_states=finals).assert_ok()
    return stored


@pytest_twisted.inlineCallbacks
def test_clients_on_both_routers_converge(topology: Topology):
    """Members connected to different routers act in one room and all end with the state a
    late joiner loads, and with each other's presence."""
    clients = yield connect_spread(topology, ["ann", "ben", "cat", "dan"])
    try:
        handles = yield defer.gatherResults([c.join("conv_two_routers") for c in clients])
        acks = yield defer.gatherResults([h.act("move", {"dx": 2, "dy": -1}) for h in handles for _ in range(5)])
        last = max(a["seq"] for a in acks)
        yield until(lambda: all(h.seq >= last for h in handles), timeout=20)
        late = yield KasagiClient.connect(topology.urls[1], "eve")
        lh = yield late.join("conv_two_routers")
        yield until(
            lambda: len({h.seq for h in [*handles, lh]}) == 1 and "eve" in handles[0].state["players"], timeout=20
        )
        assert all(h.state == lh.state for h in handles)
        assert set(lh.state["players"]) == {"ann", "ben", "cat", "dan", "eve"}
        assert all(m["online"] for m in lh.state["members"].values())
        yield late.close()
        # Leaving on router 1 is seen on router 0.
        yield until(lambda: not handles[0].state["members"]["eve"]["online"], timeout=20)
    finally:
        for c in clients:
            yield c.close()


@pytest_twisted.inlineCallbacks
def test_health_and_metrics_report_the_deployment(topology: Topology):
    """Routers and workers say ready, and their metrics show rooms, members, lease renewals
    and the router's sessions and messages."""
    for i in range(len(topology.nodes)):
        status, body = topology.router_ready(i)
        assert status == 200, body
    for worker in topology.members:
        status, body = worker.health()
        assert status == 200, body
    client = yield KasagiClient.connect(topology.urls[0], "mia")
    try:
        yield client.join("metrics_room")
        metrics = [w.metrics() for w in topology.members]
        assert sum(m.get("kasagi_rooms", 0) for m in metrics) >= 1
        assert all(m.get("kasagi_lease_renewals_total", 0) > 0 for m in metrics)
        assert all(m.get("kasagi_routers_joined") == 2 for m in metrics)
        assert sum(m.get("kasagi_members_online", 0) for m in metrics) >= 1
        from kasagi.testing.topology import http_get

        status, text = http_get(topology.router_metrics_url(0))
        assert status == 200
        assert 'kasagi_router_sessions{role="client"}' in text
        assert 'kasagi_router_messages_received_total{type="call"}' in text
    finally:
        yield client.close()


@pytest_twisted.inlineCallbacks
def test_killed_owner_is_replaced_within_two_seconds_and_nothing_is_lost(topology: Topology):
    """kill -9 of a room's owner mid-stream: clients on both routers see a new owner (new
    epoch) within 2 s, every acknowledged action survives with its seq, none applies twice,
    and every client ends with the store's state."""
    run = yield keyed_run(topology, "kill_owner", ["k1", "k2", "k3", "k4"])
    try:
        owner = owner_of(topology, run.room)
        assert owner is not None
        epoch = run.epoch
        run.start()
        yield until(lambda: run.acked() >= 20, timeout=30)
        t_kill = time.monotonic()
        owner.kill()
        yield until(lambda: run.left_epoch(epoch), timeout=30)
        takeover = run.takeover_s(epoch, t_kill)
        acked_at_kill = run.acked()
        yield until(lambda: run.acked() >= acked_at_kill + 20, timeout=60)
        yield run.stop()
        yield settle_and_check(topology, run)
        print(f"\ntakeover after kill -9: {takeover:.3f} s; acked {run.acked()}, lost 0")
        assert takeover <= TAKEOVER_BOUND, f"takeover took {takeover:.2f} s"
    finally:
        yield run.close()
        replace_dead_workers(topology)


@pytest_twisted.inlineCallbacks
def test_a_timer_fires_exactly_once_on_the_worker_that_takes_a_killed_owners_room(topology: Topology):
    """A deadline timer set on one worker, whose process is then killed -9 before it is due,
    fires once on the worker that takes the room over, at or after its time: one event sells
    the lot to the highest bidder, and the store holds no pending timer."""
    client = yield KasagiClient.connect(topology.urls[0], "timer_bidder")
    try:
        room = yield client.join("failover_timer", "auction", {"seconds": 4})
        ack = yield room.act("bid", {"amount": 7})
        yield until(lambda: room.seq >= ack["seq"] and "deadline" in room.state.get("timers", {}), timeout=20)
        due = room.state["timers"]["deadline"]["at"]
        owner = owner_of(topology, "failover_timer")
        assert owner is not None
        epoch = room.epoch
        owner.kill()
        assert wall_ms() < due, "the owner was killed before the deadline"
        yield until(lambda: room.state["sold"] is not None, timeout=30)
        seen = wall_ms()
        sold = room.state["sold"]
        assert sold["to"] == "timer_bidder" and sold["price"] == 7
        assert due <= sold["at"] <= seen, (due, sold, seen)
        assert room.epoch != epoch, "another worker serves the room, fenced at a new epoch"
        assert owner_of(topology, "failover_timer") not in (None, owner)
        stored, state = yield stored_room(topology, "failover_timer")
        assert state["sold"] == sold and state.get("timers", {}) == {}
        events = yield held_events(topology, "failover_timer", stored.epoch)
        fired = [e for e in events if any(op[1] == ["sold"] for op in e["ops"])]
        assert len(fired) == 1, "the timer fired exactly once"
    finally:
        yield client.close()
        replace_dead_workers(topology)


@pytest_twisted.inlineCallbacks
def test_paused_owner_is_fenced_out_when_it_wakes(topology: Topology):
    """SIGSTOP of a room's owner past its lease: another worker takes the room over; on
    SIGCONT the old owner's writes are refused by the epoch fence, it drops the room, and the
    invariants hold."""
    run = yield keyed_run(topology, "pause_owner", ["p1", "p2", "p3"], call_timeout=3.0)
    try:
        owner = owner_of(topology, run.room)
        assert owner is not None
        before = owner.metrics()
        epoch = run.epoch
        run.start()
        yield until(lambda: run.acked() >= 15, timeout=30)
        t_stop = time.monotonic()
        owner.signal(signal.SIGSTOP)
        try:
            yield until(lambda: run.left_epoch(epoch), timeout=30)
            takeover = run.takeover_s(epoch, t_stop)
        finally:
            owner.signal(signal.SIGCONT)

        def refused() -> bool:
            m = owner.metrics()
            return m.get('kasagi_commit_failures_total{reason="StaleEpoch"}', 0) > before.get(
                'kasagi_commit_failures_total{reason="StaleEpoch"}', 0
            ) and m.get("kasagi_rooms_lost_total", 0) > before.get("kasagi_rooms_lost_total", 0)

        yield until(refused, timeout=30)
        acked_at_wake = run.acked()
        yield until(lambda: run.acked() >= acked_at_wake + 10, timeout=60)
        yield run.stop()
        stored = yield settle_and_check(topology, run)
        assert stored.epoch != epoch
        assert owner_of(topology, run.room) is not owner
        print(f"\ntakeover after SIGSTOP: {takeover:.3f} s; the woken owner's writes were refused")
        assert takeover <= TAKEOVER_BOUND, f"takeover took {takeover:.2f} s"
    finally:
        yield run.close()


@pytest_twisted.inlineCallbacks
def test_graceful_stop_hands_rooms_over_in_the_same_epoch(topology: Topology):
    """SIGTERM of a room's owner: another worker serves the room at the same epoch, clients
    continue by catching up (no snapshot), and nothing is lost."""
    run = yield keyed_run(topology, "handover", ["h1", "h2"])
    try:
        owner = owner_of(topology, run.room)
        assert owner is not None
        epoch = run.epoch
        snapshots = {m: h.stats["snapshots"] for m, h in run.handles.items()}
        run.start()
        yield until(lambda: run.acked() >= 10, timeout=30)
        owner.signal(signal.SIGTERM)
        yield until(lambda: not owner.alive, timeout=30)
        acked_at_stop = run.acked()
        yield until(lambda: run.acked() >= acked_at_stop + 10, timeout=60)
        yield run.stop()
        stored = yield settle_and_check(topology, run)
        assert stored.epoch == epoch, "a clean handover keeps the epoch"
        assert {m: h.stats["snapshots"] for m, h in run.handles.items()} == snapshots, "clients caught up, no snapshot"
        assert owner_of(topology, run.room) not in (None, owner)
    finally:
        yield run.close()
        replace_dead_workers(topology)


@pytest.mark.heavy
@pytest_twisted.inlineCallbacks
def test_takeover_times_over_ten_kills(topology: Topology):
    """Ten kill -9s of a busy room's owner: every takeover within 2 s, nothing lost; prints
    the median and the maximum."""
    times = []
    lost = 0
    for round_ in range(10):
        run = yield keyed_run(topology, f"kills_{round_}", [f"r{round_}a", f"r{round_}b"])
        try:
            owner = owner_of(topology, run.room)
            assert owner is not None
            epoch = run.epoch
            run.start()
            yield until(lambda r=run: r.acked() >= 10, timeout=30)
            t_kill = time.monotonic()
            owner.kill()
            yield until(lambda r=run, e=epoch: r.left_epoch(e), timeout=30)
            times.append(run.takeover_s(epoch, t_kill))
            n = run.acked()
            yield until(lambda r=run, n=n: r.acked() >= n + 10, timeout=60)
            yield run.stop()
            stored, _ = yield stored_room(topology, run.room)
            acked = run.history.by_outcome("ok")
            lost += sum(1 for c in acked if stored_result(stored.results, c.member, c.cseq) != c.seq)
            yield settle_and_check(topology, run)
        finally:
            yield run.close()
            replace_dead_workers(topology)
    print(
        f"\ntakeover over {len(times)} kills: median {statistics.median(times):.3f} s, max {max(times):.3f} s, "
        f"all {[round(t, 3) for t in times]}; acked actions lost: {lost}"
    )
    assert lost == 0
    assert max(times) <= TAKEOVER_BOUND


@pytest_twisted.inlineCallbacks
def test_the_load_balancer_config_sends_clients_to_ready_routers(topology: Topology, tmp_path):
    """deploy/haproxy.cfg balances over both compose routers, checking each one's
    /health/ready on its metrics port; run with local addresses (when haproxy is installed),
    a client through it joins a room and sees the same state as a client on a router."""
    import re
    import shutil

    config = (project_root() / "deploy" / "haproxy.cfg").read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+)", config, re.M)
    assert [name for name, _, _ in servers] == [node.name for node in topology.nodes]  # type: ignore[union-attr]
    assert "option httpchk GET /health/ready" in config and "check port 9100" in config
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        print("\nhaproxy is not installed: its config was checked, not run")
        return
    lb_port = free_port()
    local = config.replace("bind :8080", f"bind 127.0.0.1:{lb_port}").replace(" init-addr last,libc,none", "")
    local = re.sub(r"maxconn \d+", "maxconn 1000", local)  # this machine's file descriptor limit
    for node in topology.nodes:
        local = re.sub(
            rf"server {node.name} \S+", f"server {node.name} 127.0.0.1:{node.port} port {node.metrics_port}", local
        )
    local = local.replace("check port 9100", "check")
    path = tmp_path / "haproxy.cfg"
    path.write_text(local, encoding="utf-8")
    proc = subprocess.Popen([haproxy, "-db", "-f", str(path)], start_new_session=True)
    clients = []
    try:
        lb = yield until_connected(f"ws://127.0.0.1:{lb_port}/ws", "lb_user")
        direct = yield KasagiClient.connect(topology.urls[0], "direct_user")
        clients = [lb, direct]
        rl = yield lb.join("through_lb")
        rd = yield direct.join("through_lb")
        ack = yield rl.act("move", {"dx": 1, "dy": 1})
        yield until(
            lambda: rl.seq >= ack["seq"] and rd.seq == rl.seq and "direct_user" in rl.state["players"], timeout=20
        )
        assert rl.state == rd.state
    finally:
        for c in clients:
            yield c.close()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@defer.inlineCallbacks
def until_connected(url: str, authid: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    """A client connected through ``url`` (the load balancer needs a health check or two first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = yield KasagiClient.connect(
                url, authid, options=ClientOptions(connect_timeout=2.0, reconnect=False)
            )
        except Exception:
            if time.monotonic() > deadline:
                raise
            continue
        return client


@pytest_twisted.inlineCallbacks
def test_a_router_killed_and_restarted_loses_nothing(topology: Topology):
    """kill -9 of one router: members on the other router keep acting undisturbed; the
    workers drop the dead router's client sessions (those members go offline), and when it
    comes back workers re-register the rooms on it, its clients reconnect and re-join, and
    everyone converges with nothing acknowledged lost."""
    # q1, q3 on router 0; q2, q4 on router 1
    run = yield keyed_run(topology, "router_restart", ["q1", "q2", "q3", "q4"])
    router = topology.nodes[1]
    q1 = run.handles["q1"]
    try:
        run.start()
        yield until(lambda: run.acked() >= 12, timeout=30)
        router.kill()
        yield until(lambda: not q1.state["members"]["q2"]["online"], timeout=30)
        acked = {m: run.acked(m) for m in run.members}
        yield until(lambda: run.acked("q1") >= acked["q1"] + 5, timeout=30)
        yield threads.deferToThread(router.start)  # blocks until its WebSocket answers
        yield until(lambda: q1.state["members"]["q2"]["online"], timeout=60)
        yield until(lambda: run.acked("q2") >= acked["q2"] + 5, timeout=60)
        yield run.stop()
        yield settle_and_check(topology, run)
        # Every worker rejoins the restarted router (each retries with its own backoff).
        yield until(lambda: all(w.health()[0] == 200 for w in topology.members), timeout=30)
    finally:
        yield run.close()


@pytest_twisted.inlineCallbacks
def test_a_private_room_stays_private_across_routers_and_workers(topology: Topology):
    """A room opened for alice and bob is usable by both from different routers, whichever
    worker owns it; carol's open, join and subscription are refused on either router."""
    alice = yield KasagiClient.connect(topology.urls[0], "alice_p")
    bob = yield KasagiClient.connect(topology.urls[1], "bob_p")
    carol = yield defer.gatherResults([KasagiClient.connect(url, "carol_p") for url in topology.urls])
    members = {"members": ["alice_p", "bob_p"]}
    try:
        ha = yield alice.join("private_two_routers", "arena", members)
        hb = yield bob.join("private_two_routers")
        ack = yield hb.act("move", {"dx": 1, "dy": 2})
        yield until(lambda: ha.seq >= ack["seq"] and "bob_p" in ha.state["players"], timeout=20)
        for client in carol:
            for call in (
                client.open("private_two_routers"),
                client.call("kasagi.room.private_two_routers.join", None),
            ):
                with pytest.raises(ApplicationError) as info:
                    yield call
                assert info.value.error == "kasagi.error.not_authorized"
            with pytest.raises(ApplicationError) as info:
                yield client.session.subscribe(lambda *a: None, "kasagi.room.private_two_routers")
            assert info.value.error in ("wamp.error.not_authorized", "kasagi.error.not_authorized")
        assert set(ha.state["members"]) == {"alice_p", "bob_p"}
    finally:
        for c in [alice, bob, *carol]:
            yield c.close()


@pytest_twisted.inlineCallbacks
def test_the_fast_input_path_works_through_every_router(topology: Topology):
    """Inputs published on either router reach the room's owner, whichever worker it is: each
    is acknowledged in an event seen on both routers, and a refused one is answered to its
    sender."""
    clients = yield connect_spread(topology, ["fi_a", "fi_b"])
    try:
        handles = yield defer.gatherResults([c.join("fast_cluster") for c in clients])
        acks = yield defer.gatherResults([h.send("move", {"dx": 1, "dy": 0}) for h in handles for _ in range(3)])
        last = max(a["seq"] for a in acks)
        yield until(lambda: all(h.seq >= last for h in handles), timeout=20)
        assert handles[0].state == handles[1].state
        with pytest.raises(ApplicationError) as info:
            yield handles[1].send("move", {"dx": 99, "dy": 0})
        assert info.value.error == "kasagi.error.rejected"
    finally:
        for c in clients:
            yield c.close()
