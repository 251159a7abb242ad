"""Rows 3 and 4 of the fault matrix (``docs/resilience.md``): a client cut off by a silent
partition (no RST, no FIN), for a few seconds or for 30 s, while the room moves on. Checked:
both ends detect the dead connection within ping interval + timeout + 1 s, no call waits past
its deadline, the client catches up (without a snapshot) within 2 s of reconnecting, and the
invariants hold."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from kasagi.client import KasagiClient
from kasagi.testing.history import History
from kasagi.testing.node import NodeProcess
from tests.faults.conftest import PING_INTERVAL_MS, PING_TIMEOUT_MS
from tests.faults.proxy import FaultProxy
from tests.faults.support import ACT_DEADLINE, Figures, Writer, client_options, pause, settle_and_check
from tests.waiting import until

pytestmark = pytest.mark.node

DETECT_BOUND = (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 1.0


@defer.inlineCallbacks
def partition_scenario(
    *,
    node_url: str,
    alice_url: str,
    partition: Callable[[], None],
    heal: Callable[[], None],
    room: str,
    outage: float,
    row: str,
    detect_bound: float = DETECT_BOUND,
    alice_options: dict | None = None,
):
    """alice is cut off by ``partition()`` for ``outage`` seconds while bob and carol (not cut
    off) keep acting; measure detection on both sides, reconnection and catch-up; check."""
    history = History(now=reactor.seconds)
    alice = yield KasagiClient.connect(alice_url, "alice", options=client_options(**(alice_options or {})))
    alice.on_connection_change(lambda up: history.connection("alice", up))
    others = {}
    handles = {}
    for member in ("bob", "carol"):
        others[member] = yield KasagiClient.connect(node_url, member, options=client_options())
        handles[member] = yield others[member].join(room, "doc")
        history.track(member, handles[member])
    handles["alice"] = yield alice.join(room, "doc")
    history.track("alice", handles["alice"])
    writers = [Writer(history, m, c, handles[m], rate=10.0) for m, c in (("alice", alice), *others.items())]
    seen_offline: list[float] = []
    handles["bob"].on_change(
        lambda _: (
            seen_offline.append(reactor.seconds())
            if not seen_offline and handles["bob"].state.get("members", {}).get("alice", {}).get("online") is False
            else None
        )
    )
    try:
        yield until(lambda: handles["bob"].state["members"].get("alice", {}).get("online") is True, 10.0)
        for w in writers:
            w.start()
        yield pause(1.0)
        fault = history.fault(f"silent partition {outage:g} s")
        partition()
        yield until(lambda: bool(seen_offline), detect_bound + 5.0, what="the router noticing")
        server_detect = seen_offline[0] - fault.start
        yield until(lambda: alice.session is None, detect_bound + 5.0, what="the client noticing")
        client_detect = next(t for t, up in history.connections["alice"] if not up) - fault.start
        yield pause(max(0.0, outage - (reactor.seconds() - fault.start)))
        catchups_before = handles["alice"].stats["catchups"]
        snapshots_before = handles["alice"].stats["snapshots"]
        heal()
        history.heal(fault)
        yield until(lambda: alice.session is not None, 15.0, what="reconnection")
        reconnected = [t for t, up in history.connections["alice"] if up][-1]
        bob = handles["bob"]
        yield until(lambda: handles["alice"].in_sync and handles["alice"].seq >= bob.seq - 1, 10.0, what="catch-up")
        caught_up = reactor.seconds() - reconnected
        yield pause(1.0)
        yield defer.gatherResults([w.stop() for w in writers])
        report = yield settle_and_check(history, node_url, room, dict(handles))
        first_ack = history.first_ack_after(fault.end, "alice")
        resume = (first_ack or reactor.seconds()) - fault.end
        alice_calls = [c for c in history.calls if c.client == "alice" and c.end is not None]
        longest_call = max(c.end - c.start for c in alice_calls)
        fig = Figures(row)
        fig.add(
            outage_s=outage,
            detect_router_s=server_detect,
            detect_client_s=client_detect,
            reconnect_after_heal_s=reconnected - fault.end,
            catch_up_after_reconnect_s=caught_up,
            resume_s=resume,
            longest_call_s=longest_call,
            catchups=handles["alice"].stats["catchups"] - catchups_before,
            snapshots=handles["alice"].stats["snapshots"] - snapshots_before,
            **report.summary(),
        )
        fig.emit()
        report.assert_ok()
        assert server_detect <= detect_bound + 0.5, (
            f"the router took {server_detect:.2f} s (tick and delivery included)"
        )
        assert client_detect <= detect_bound, f"the client took {client_detect:.2f} s"
        assert longest_call <= ACT_DEADLINE + 1.0, "no call waited past its deadline"
        assert caught_up <= 2.0, f"catch-up took {caught_up:.2f} s after reconnecting"
        assert handles["alice"].stats["snapshots"] == snapshots_before, "history covered the gap: no snapshot"
        assert first_ack is not None
    finally:
        yield alice.close()
        for c in others.values():
            yield c.close()


@pytest_twisted.inlineCallbacks
def test_silent_partition_is_detected_by_both_ends(fault_node: NodeProcess, proxy: FaultProxy):
    """Row 4: a silent partition is noticed by the router (member offline) and the client within interval + timeout + 1
    s; after the heal the client catches up and nothing is lost."""
    yield partition_scenario(
        node_url=fault_node.url,
        alice_url=proxy.url(),
        partition=proxy.partition,
        heal=proxy.heal,
        room="row4_silent",
        outage=8.0,
        row="4 silent partition (proxy)",
    )


@pytest.mark.heavy
@pytest_twisted.inlineCallbacks
def test_client_offline_30_s_catches_up(fault_node: NodeProcess, proxy: FaultProxy):
    """Row 3: a client offline for 30 s behind a silent partition catches up without a snapshot within 2 s of
    reconnecting."""
    yield partition_scenario(
        node_url=fault_node.url,
        alice_url=proxy.url(),
        partition=proxy.partition,
        heal=proxy.heal,
        room="row3_offline30",
        outage=30.0,
        row="3 client offline 30 s",
    )


@pytest_twisted.inlineCallbacks
def test_an_action_whose_result_was_lost_is_applied_once(fault_node: NodeProcess, proxy: FaultProxy):
    """An act applied by the room whose result never reached the client is retried after the reconnect with the same
    cseq and returns the same seq, applied once."""
    history = History(now=reactor.seconds)
    room = "lost_result"
    alice = yield KasagiClient.connect(proxy.url(), "alice", options=client_options())
    bob = yield KasagiClient.connect(fault_node.url, "bob", options=client_options())
    try:
        ra = yield alice.join(room, "doc")
        rb = yield bob.join(room, "doc")
        history.track("alice", ra)
        proxy.partition(("down",))  # the router hears alice, alice hears nothing back
        cseq = ra.next_cseq()
        call = history.invoke("alice", room, "alice", cseq)
        d = ra.act("set", {"path": ["log", f"alice:{cseq}"], "value": 1}, cseq=cseq)
        yield until(lambda: f"alice:{cseq}" in rb.state.get("log", {}), 10.0, what="the room applying the action")
        applied_seq = rb.seq
        proxy.reset()  # the result is lost with the connection
        proxy.heal()
        result = yield d
        history.ok(call, result["seq"])
        assert result["seq"] == applied_seq
        assert ra.stats["act_retries"] >= 1
        report = yield settle_and_check(history, fault_node.url, room, {"alice": ra, "bob": rb})
        report.assert_ok()
        assert report.acked == 1 and not report.duplicates
    finally:
        yield alice.close()
        yield bob.close()
