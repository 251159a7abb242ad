"""Row 13 of the fault matrix (``docs/resilience.md``): a slow link (200 ms each way through the
fault proxy; packet loss is added by the network-namespace tier). Checked: nothing lost or
doubled, p99 act -> ack within 1.5 s, no spurious disconnect."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from kasagi.client import KasagiClient
from kasagi.testing.history import History
from kasagi.testing.node import NodeProcess
from tests.faults.proxy import FaultProxy
from tests.faults.support import Figures, Writer, client_options, pause, settle_and_check

pytestmark = pytest.mark.node

MEMBERS = ("alice", "bob", "carol")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@defer.inlineCallbacks
def latency_scenario(*, node_url: str, proxy: FaultProxy, room: str, row: str, seconds: float = 20.0):
    history = History(now=reactor.seconds)
    clients, handles, writers = {}, {}, []
    disconnects = []
    try:
        for member in MEMBERS:
            # The product's default heartbeats: a slow, lossy link must not look dead.
            client = yield KasagiClient.connect(
                proxy.url(), member, options=client_options(ping_interval=10.0, ping_timeout=10.0)
            )
            client.on_connection_change(lambda up, m=member: disconnects.append(m) if not up else None)
            clients[member] = client
            handles[member] = yield client.join(room, "doc")
            history.track(member, handles[member])
            writers.append(Writer(history, member, client, handles[member], rate=10.0))
        for w in writers:
            w.start()
        yield pause(seconds)
        yield defer.gatherResults([w.stop() for w in writers])
        report = yield settle_and_check(history, node_url, room, handles, timeout=60.0)
        latencies = history.ack_latencies()
        fig = Figures(row)
        fig.add(
            one_way_latency_s=proxy.latency,
            p50_ack_s=_percentile(latencies, 0.50),
            p99_ack_s=_percentile(latencies, 0.99),
            max_ack_s=max(latencies),
            disconnects=len(disconnects),
            **report.summary(),
        )
        fig.emit()
        report.assert_ok()
        assert _percentile(latencies, 0.99) <= 1.5
        assert disconnects == [], "no spurious disconnect"
    finally:
        for c in clients.values():
            yield c.close()


@pytest_twisted.inlineCallbacks
def test_high_latency_loses_nothing(fault_node: NodeProcess, proxy: FaultProxy):
    """Row 13 (proxy): 200 ms each way -- nothing lost or doubled, p99 ack within 1.5 s, no spurious disconnect."""
    proxy.latency = 0.2
    yield latency_scenario(
        node_url=fault_node.url, proxy=proxy, room="row13_latency", row="13 latency 200 ms each way (proxy)"
    )
