"""Rows 16 and 17 of the fault matrix (``docs/resilience.md``): the same action sent several
times at once (from two sessions of one member, across a reset), and events lost or reordered at
clients -- including the room's last event, which only the head beacon reveals."""

from __future__ import annotations

import random

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from kasagi.client import KasagiClient
from kasagi.testing.history import History, effect_key
from kasagi.testing.node import NodeProcess
from tests.faults.proxy import FaultProxy
from tests.faults.support import Figures, Writer, classify, client_options, pause, settle_and_check
from tests.waiting import until

pytestmark = pytest.mark.node

#: The fault node's head beacon interval (the service default).
BEACON = 5.0


class LossyTap:
    """A client-side event tap that drops a share of events and delays another share (so
    they arrive after their successors)."""

    def __init__(self, seed: int, drop: float = 0.10, reorder: float = 0.10) -> None:
        self.rng = random.Random(seed)
        self.drop, self.reorder = drop, reorder
        self.dropped = self.reordered = self.delivered = 0
        self.drop_next = False

    def __call__(self, room: str, event: object, deliver) -> None:
        if self.drop_next:
            self.drop_next = False
            self.dropped += 1
            return
        r = self.rng.random()
        if r < self.drop:
            self.dropped += 1
        elif r < self.drop + self.reorder:
            self.reordered += 1
            reactor.callLater(self.rng.uniform(0.01, 0.15), deliver, event)
        else:
            self.delivered += 1
            deliver(event)


@pytest_twisted.inlineCallbacks
def test_the_same_action_sent_three_times_at_once_is_applied_once(fault_node: NodeProcess, proxy: FaultProxy):
    """Row 16: an action sent three times at once (twice from one session, once from another session of the same
    member and client instance), also across a reset, gets one seq, returned three times."""
    history = History(now=reactor.seconds)
    room = "row16_dupes"
    tab1 = yield KasagiClient.connect(proxy.url(), "alice", options=client_options())
    tab2 = yield KasagiClient.connect(fault_node.url, "alice", options=client_options())
    try:
        r1 = yield tab1.join(room, "doc")
        r2 = yield tab2.join(room, "doc")
        # One client instance on two sessions: an action is (member, instance, cseq), so the copy
        # sent by the second session names the same instance.
        r2.instance = r1.instance
        history.track("tab1", r1)
        history.track("tab2", r2)
        distinct = []
        for i in range(30):
            cseq = r1.next_cseq()
            args = {"path": ["log", effect_key("alice", cseq)], "value": cseq}
            call = history.invoke("alice", room, "alice", cseq)
            sends = [r1.act("set", args, cseq=cseq), r1.act("set", args, cseq=cseq), r2.act("set", args, cseq=cseq)]
            if i % 10 == 5:
                proxy.reset()  # tab1's two copies are in flight: they are retried after reconnecting
            results = yield defer.DeferredList(sends, consumeErrors=True)
            seqs = {r["seq"] for ok, r in results if ok}
            failures = [classify(r) for ok, r in results if not ok]
            assert not failures, failures
            distinct.append(len(seqs))
            history.ok(call, seqs.pop())
        report = yield settle_and_check(history, fault_node.url, room, {"tab1": r1, "tab2": r2})
        fig = Figures("16 same cseq sent 3 times at once")
        fig.add(actions=30, sends=90, max_distinct_seqs=max(distinct), resets=3, **report.summary())
        fig.emit()
        report.assert_ok()
        assert max(distinct) == 1
    finally:
        yield tab1.close()
        yield tab2.close()


@pytest_twisted.inlineCallbacks
def test_lost_and_reordered_events_are_repaired(fault_node: NodeProcess):
    """Row 17: with 10% of events dropped and 10% delayed past their successors at every client, gaps are repaired and
    all clients end equal to the room."""
    history = History(now=reactor.seconds)
    room = "row17_lossy"
    clients, handles, taps, writers = {}, {}, {}, []
    try:
        for n, member in enumerate(("alice", "bob", "carol")):
            client = yield KasagiClient.connect(fault_node.url, member, options=client_options())
            taps[member] = client.event_tap = LossyTap(seed=n)
            clients[member] = client
            handles[member] = yield client.join(room, "doc")
            history.track(member, handles[member])
            writers.append(Writer(history, member, client, handles[member], rate=15.0))
        for w in writers:
            w.start()
        yield pause(12.0)
        yield defer.gatherResults([w.stop() for w in writers])
        report = yield settle_and_check(history, fault_node.url, room, handles, timeout=4 * BEACON)
        fig = Figures("17 10% of events lost, 10% reordered, at every client")
        fig.add(
            dropped=sum(t.dropped for t in taps.values()),
            reordered=sum(t.reordered for t in taps.values()),
            resyncs=sum(h.stats["resyncs"] for h in handles.values()),
            catchups=sum(h.stats["catchups"] for h in handles.values()),
            snapshots=sum(h.stats["snapshots"] for h in handles.values()),
            **report.summary(),
        )
        fig.emit()
        report.assert_ok()
        assert sum(t.dropped for t in taps.values()) > 20
    finally:
        for c in clients.values():
            yield c.close()


@pytest_twisted.inlineCallbacks
def test_a_client_that_lost_the_last_event_notices_within_the_beacon_bound(fault_node: NodeProcess):
    """A client that lost the room's last event (no later event reveals the gap) gets it from the head beacon within
    1.25 x the beacon interval."""
    room = "row17_last"
    alice = yield KasagiClient.connect(fault_node.url, "alice", options=client_options(quiet_rejoin=0))
    bob = yield KasagiClient.connect(fault_node.url, "bob", options=client_options())
    tap = alice.event_tap = LossyTap(seed=1, drop=0.0, reorder=0.0)
    try:
        ra = yield alice.join(room, "doc")
        rb = yield bob.join(room, "doc")
        yield until(lambda: ra.seq == rb.seq and "bob" in ra.state["members"], 10.0)
        times = []
        for i in range(3):
            tap.drop_next = True
            ack = yield rb.act("set", {"path": ["k"], "value": i})
            sent = reactor.seconds()
            took = yield until(lambda ack=ack: ra.seq >= ack["seq"], 1.25 * BEACON + 3.0, what="the lost last event")
            times.append(reactor.seconds() - sent)
            assert took is not None
        assert tap.dropped == 3
        assert ra.state == rb.state
        fig = Figures("17 last event lost (head beacon)")
        fig.add(beacon_s=BEACON, notice_max_s=max(times), notice_min_s=min(times), bound_s=1.25 * BEACON)
        fig.emit()
        assert max(times) <= 1.25 * BEACON + 2.0, "within the bound, plus delivery on a busy machine"
    finally:
        yield alice.close()
        yield bob.close()
