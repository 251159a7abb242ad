"""Rows 1 and 2 of the fault matrix (``docs/resilience.md``): client connections reset, or cut
in the middle of a frame, while members keep acting. Checked: no acknowledged action lost, none
applied twice, every client back in sync, resumed within 3 s of each fault."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from kasagi.client import KasagiClient
from kasagi.testing.history import History
from kasagi.testing.node import NodeProcess
from tests.faults.proxy import FaultProxy
from tests.faults.support import Figures, Writer, client_options, pause, settle_and_check
from tests.waiting import until

pytestmark = pytest.mark.node

WRITERS = ("alice", "bob", "carol")


@defer.inlineCallbacks
def _writers(history: History, url: str, room: str, rate: float = 15.0):
    clients, handles, writers = {}, {}, []
    for member in WRITERS:
        client = yield KasagiClient.connect(url, member, options=client_options())
        client.on_connection_change(lambda up, m=member: history.connection(m, up))
        handle = yield client.join(room, "doc")
        history.track(member, handle)
        clients[member], handles[member] = client, handle
        writers.append(Writer(history, member, client, handle, rate))
    return clients, handles, writers


def _resume_times(history: History, faults: list) -> list[float]:
    """Per fault and client: from the fault to the first ack of an action sent after it."""
    out = []
    for fault in faults:
        for member in WRITERS:
            acked = history.first_ack_after(fault.start, member)
            if acked is not None:
                out.append(acked - fault.start)
    return out


def _detect_times(history: History, faults: list) -> list[float]:
    """Per fault and client: from the fault to the client noticing its connection was lost."""
    out = []
    for fault in faults:
        for member in WRITERS:
            lost = [t for t, up in history.connections[member] if not up and t >= fault.start]
            if lost:
                out.append(min(lost) - fault.start)
    return out


@defer.inlineCallbacks
def _faults_every_3_s(
    history: History, url: str, room: str, handles: dict, writers: list, inject: dict, row: str, count: str
):  # type: ignore[no-untyped-def]
    """Writers act while each fault of ``inject`` (name -> a call that injects it and returns
    how many connections it hit) strikes, 3 s apart; then the invariants are checked, the
    row's figures printed, and every client must have resumed within 3 s of each fault."""
    for w in writers:
        w.start()
    yield pause(1.0)
    faults = []
    for name, strike in inject.items():
        fault = history.fault(name)
        assert strike() >= len(WRITERS)
        faults.append(fault)
        yield pause(3.0)
    yield defer.gatherResults([w.stop() for w in writers])
    report = yield settle_and_check(history, url, room, handles)
    resume, detect = _resume_times(history, faults), _detect_times(history, faults)
    fig = Figures(row)
    fig.add(
        **{count: len(faults)},
        detect_max_s=max(detect),
        resume_max_s=max(resume),
        act_retries=sum(h.stats["act_retries"] for h in handles.values()),
        **report.summary(),
    )
    fig.emit()
    report.assert_ok()
    assert max(resume) <= 3.0, f"resume took {max(resume):.2f} s"
    return report


@pytest_twisted.inlineCallbacks
def test_resets_every_3_s_lose_nothing(fault_node: NodeProcess, proxy: FaultProxy):
    """Row 1: with every client connection reset every 3 s, no acked action is lost or doubled and each client resumes
    within 3 s."""
    history = History(now=reactor.seconds)
    room = "row1_resets"
    clients, handles, writers = yield _writers(history, proxy.url(), room)
    try:
        resets = {f"reset {i + 1}": proxy.reset for i in range(5)}
        report = yield _faults_every_3_s(
            history, fault_node.url, room, handles, writers, resets, "1 reset every 3 s", "resets"
        )
        assert report.acked > 50
        assert all(h.stats["catchups"] >= 1 for h in handles.values())
    finally:
        for c in clients.values():
            yield c.close()


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("direction", ["down", "up"])
def test_connections_cut_mid_frame_lose_nothing(fault_node: NodeProcess, proxy: FaultProxy, direction: str):
    """Row 2: connections cut after a few bytes, in the middle of a WebSocket frame, lose no acked action, double none,
    and resume within 3 s."""
    history = History(now=reactor.seconds)
    room = f"row2_cut_{direction}"
    clients, handles, writers = yield _writers(history, proxy.url(), room)
    try:
        cuts = {
            f"cut {direction} after {n} bytes": lambda n=n: proxy.cut_after(n, direction) for n in (1, 7, 33, 150, 500)
        }
        yield _faults_every_3_s(
            history, fault_node.url, room, handles, writers, cuts, f"2 cut mid-frame ({direction})", "cuts"
        )
    finally:
        for c in clients.values():
            yield c.close()


@pytest_twisted.inlineCallbacks
def test_clients_resync_after_reset_under_load(fault_node: NodeProcess, proxy: FaultProxy):
    """After a reset, a reconnected client catches up from its position (no snapshot) while the room's history covers
    the gap."""
    history = History(now=reactor.seconds)
    room = "row1_catchup"
    clients, handles, writers = yield _writers(history, proxy.url(), room, rate=10.0)
    direct = yield KasagiClient.connect(fault_node.url, "dave", options=client_options())
    try:
        dave = yield direct.join(room, "doc")
        for w in writers:
            w.start()
        yield pause(0.5)
        proxy.partition()
        fault = history.fault("partition")
        # dave, not behind the proxy, keeps the room moving while the others are cut off
        for i in range(10):
            yield dave.act("set", {"path": ["dave", str(i)], "value": i})
        proxy.heal()
        proxy.reset()
        history.heal(fault)
        yield until(lambda: all(h.seq >= dave.seq for h in handles.values()), 15.0, what="catch-up")
        yield defer.gatherResults([w.stop() for w in writers])
        assert all(h.stats["snapshots"] == 1 for h in handles.values()), {m: h.stats for m, h in handles.items()}
        assert all(h.stats["catchups"] >= 1 for h in handles.values())
    finally:
        yield direct.close()
        for c in clients.values():
            yield c.close()
