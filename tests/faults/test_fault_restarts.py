"""Rows 5, 6 and 7 of the fault matrix (``docs/resilience.md``) on the embedded (SQLite) store:
the router killed with SIGKILL or stopped with SIGTERM and started again while members act, and
the room service killed with an action in flight. Checked: no acknowledged action lost or
doubled, clients back within 3 s of the node being ready, every call answered within its
deadline."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, threads

from kasagi.client import KasagiClient
from kasagi.testing.history import History, effect_key
from kasagi.testing.node import NodeProcess
from tests.conftest import start_node
from tests.faults.support import ACT_DEADLINE, Figures, Writer, classify, client_options, pause, settle_and_check
from tests.waiting import until

pytestmark = pytest.mark.node

SERVICE = {
    "store": "sqlite",
    "tick": 0.02,
    "grace": 600.0,
    "history_events": 1_000_000,
    "store_history_bytes": 0,
    "snapshot_every": 100,
}
MEMBERS = ("alice", "bob", "carol")
#: Clients keep retrying an action across a whole node restart (boot takes 5-15 s here).
RESTART_OPTIONS = {"act_deadline": ACT_DEADLINE, "connect_timeout": 30.0}


def _rooms_worker(node: NodeProcess) -> int:
    """The pid of the room service's own process (component="process")."""
    for pid in node.pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "kasagi rooms" in cmdline or "--worker rooms1" in cmdline:
            return pid
    raise AssertionError("no room service process in the node")


@defer.inlineCallbacks
def _restart(node: NodeProcess, history: History, *, stop: str):
    """Stop the node (``kill`` = SIGKILL of its process group, ``term`` = SIGTERM), start it
    again on the same port and data directory; return (new node, when it was ready)."""
    # Freeze the node first, so that actions are in flight when it goes.
    node.signal(signal.SIGSTOP)
    yield pause(0.3)
    fault = history.fault(f"router {stop}")
    if stop == "kill":
        node.kill()
    else:
        node.signal(signal.SIGTERM)
        node.signal(signal.SIGCONT)
        yield threads.deferToThread(node.stop, 30.0)
    stopped = reactor.seconds()
    fresh = NodeProcess(node.options, env=node.env)
    yield threads.deferToThread(fresh.start, 120.0)
    ready = reactor.seconds()
    history.heal(fault)
    return fresh, fault, stopped, ready


@defer.inlineCallbacks
def _restart_row(tmp_path: Path, *, stop: str, row: str):
    node = yield threads.deferToThread(start_node, tmp_path, service=SERVICE)
    history = History(now=reactor.seconds)
    room = f"row_{stop}"
    clients, handles, writers = {}, {}, []
    try:
        for member in MEMBERS:
            client = yield KasagiClient.connect(node.url, member, options=client_options(**RESTART_OPTIONS))
            client.on_connection_change(lambda up, m=member: history.connection(m, up))
            clients[member] = client
            handles[member] = yield client.join(room, "doc")
            history.track(member, handles[member])
            writers.append(Writer(history, member, client, handles[member], rate=15.0))
        for w in writers:
            w.start()
        yield pause(2.0)
        node, fault, stopped, ready = yield _restart(node, history, stop=stop)
        yield until(
            lambda: all(history.first_ack_after(ready, m) for m in MEMBERS), 30.0, what="every writer acking again"
        )
        detect = max(
            min(t for t, up in history.connections[m] if not up and t >= fault.start) - fault.start for m in MEMBERS
        )
        back = max(min(t for t, up in history.connections[m] if up and t >= fault.start) - ready for m in MEMBERS)
        resume = max(history.first_ack_after(ready, m) - ready for m in MEMBERS)
        in_flight = [c for c in history.calls if c.start <= fault.start and (c.end is None or c.end > fault.start)]
        yield pause(2.0)
        yield defer.gatherResults([w.stop() for w in writers])
        report = yield settle_and_check(history, node.url, room, handles, timeout=60.0)
        fig = Figures(row)
        fig.add(
            stop_s=stopped - fault.start,
            boot_s=ready - stopped,
            detect_max_s=detect,
            reconnect_after_ready_max_s=back,
            resume_after_ready_max_s=resume,
            in_flight_at_fault=len(in_flight),
            **report.summary(),
        )
        fig.emit()
        report.assert_ok()
        assert in_flight, "the fault hit actions in flight"
        assert resume <= 3.0, f"writers acked again {resume:.2f} s after the node was ready"
        if stop == "term":
            assert report.undetermined == 0, "a graceful stop leaves nothing undetermined"
    finally:
        for c in clients.values():
            yield c.close()
        node.kill()


@pytest_twisted.inlineCallbacks
def test_router_killed_and_restarted_loses_nothing(tmp_path: Path):
    """Row 5: the node killed with SIGKILL (process group) and started again on the same data: no acked action lost or
    doubled, clients acking again within 3 s of it being ready."""
    yield _restart_row(tmp_path, stop="kill", row="5 router kill -9, restart (sqlite)")


@pytest_twisted.inlineCallbacks
def test_router_stopped_gracefully_loses_nothing(tmp_path: Path):
    """Row 6: the node stopped with SIGTERM and started again: as row 5, and no action is left undetermined."""
    yield _restart_row(tmp_path, stop="term", row="6 router SIGTERM, restart (sqlite)")


@pytest_twisted.inlineCallbacks
def test_room_service_killed_with_an_action_in_flight(tmp_path: Path):
    """Row 7: the room service's process killed while it holds an action: the caller gets an error within its deadline,
    and its retry with the same cseq after the restart is applied once and answered with the same seq every time."""
    node = yield threads.deferToThread(start_node, tmp_path, service=SERVICE, component="process")
    history = History(now=reactor.seconds)
    room = "row7_inflight"
    clients: list[KasagiClient] = []
    try:
        alice = yield KasagiClient.connect(node.url, "alice", options=client_options(**RESTART_OPTIONS))
        clients.append(alice)
        bob = yield KasagiClient.connect(node.url, "bob", options=client_options(**RESTART_OPTIONS))
        clients.append(bob)
        ra = yield alice.join(room, "doc")
        rb = yield bob.join(room, "doc")
        history.track("alice", ra)
        history.track("bob", rb)
        pid = _rooms_worker(node)
        os.kill(pid, signal.SIGSTOP)  # the room service holds whatever reaches it now
        cseq = ra.next_cseq()
        args = {"path": ["log", effect_key("alice", cseq)], "value": cseq}
        call = history.invoke("alice", room, "alice", cseq)
        sent = reactor.seconds()
        raw = alice.call(f"kasagi.room.{room}.act", "set", args, cseq, timeout=3.0)
        outcome: list = []
        raw.addBoth(lambda r: outcome.append((reactor.seconds(), r)))
        yield pause(0.3)  # the call reaches the router, which hands it to the frozen service
        fault = history.fault("room service kill -9")
        os.kill(pid, signal.SIGKILL)
        yield until(lambda: bool(outcome), 10.0, what="the caller's answer")
        error_after = outcome[0][0] - sent
        error = classify(outcome[0][1]) if hasattr(outcome[0][1], "value") else "ok"
        # The node stops itself when a worker dies (Crossbar's shutdown_on_worker_exit); a
        # supervisor starts it again -- here, the test.
        yield until(lambda: node.proc.poll() is not None, 30.0, what="the node stopping")
        node.kill()
        stopped = reactor.seconds()
        node = NodeProcess(node.options, env=node.env)
        yield threads.deferToThread(node.start, 120.0)
        ready = reactor.seconds()
        history.heal(fault)
        first = yield ra.act("set", args, cseq=cseq)
        acked = reactor.seconds()
        again = yield ra.act("set", args, cseq=cseq)
        history.ok(call, first["seq"])
        report = yield settle_and_check(history, node.url, room, {"alice": ra, "bob": rb}, timeout=60.0)
        fig = Figures("7 room service kill -9 with an action in flight (sqlite)")
        fig.add(
            caller_error=error,
            caller_error_after_s=error_after,
            call_deadline_s=3.0,
            boot_s=ready - stopped,
            retry_acked_after_ready_s=acked - ready,
            same_seq=first["seq"] == again["seq"],
            **report.summary(),
        )
        fig.emit()
        report.assert_ok()
        assert error != "ok" and error_after <= 3.0 + 0.5, f"{error} after {error_after:.2f} s"
        assert first["seq"] == again["seq"]
        assert not report.duplicates
    finally:
        for c in clients:
            yield c.close()
        node.kill()
