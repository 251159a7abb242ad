"""The network-namespace tier: the node runs in its own namespace behind a veth link, and
iptables in the namespace drops packets. Rows of the fault matrix (``docs/resilience.md``): row
4 (silent partition of one client's host) and row 13 (200 ms latency from the fault proxy plus
5% packet loss on the link, both ways). Skipped, with the reason, where root, iproute2 or
iptables are missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_twisted
from twisted.internet import reactor

from kasagi.node import NodeOptions
from kasagi.testing import free_port
from tests.faults.netns import NetNamespace, NetnsNode, unavailable
from tests.faults.proxy import FaultProxy
from tests.faults.test_fault_latency import latency_scenario
from tests.faults.test_fault_partition import partition_scenario

pytestmark = pytest.mark.node

_WHY_NOT = unavailable()
if _WHY_NOT:
    print(f"\nnetwork-namespace tier skipped: {_WHY_NOT}")
    pytestmark = [pytest.mark.node, pytest.mark.skip(reason=f"network-namespace tier: {_WHY_NOT}")]


def _node(tmp, netns: NetNamespace, ping_ms: int) -> NetnsNode:
    port = free_port()
    options = NodeOptions(
        port=port,
        data_dir=tmp / f"node-{port}",
        loglevel="warn",
        service={"store": "memory", "tick": 0.02, "grace": 120.0, "history_events": 50_000, "store_history_bytes": 0},
        ping_interval_ms=ping_ms,
        ping_timeout_ms=ping_ms,
    )
    return NetnsNode(options, netns).start()


@pytest.fixture(scope="module")
def netns() -> Iterator[NetNamespace]:
    ns = NetNamespace().create()
    yield ns
    ns.clear()
    ns.destroy()


@pytest.fixture(scope="module")
def fast_ping_node(netns: NetNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsNode]:
    node = _node(tmp_path_factory.mktemp("netns"), netns, 2000)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def default_ping_node(netns: NetNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsNode]:
    node = _node(tmp_path_factory.mktemp("netns"), netns, 10_000)
    yield node
    node.stop()


@pytest_twisted.inlineCallbacks
def test_iptables_partition_of_a_client_host_is_detected_by_both_ends(netns: NetNamespace, fast_ping_node: NetnsNode):
    """Row 4 (netns): every packet to and from one client's address dropped -- the router and the client both notice
    within interval + timeout + 1 s; after the heal it catches up, nothing lost."""
    alias = netns.host_alias()
    yield partition_scenario(
        node_url=fast_ping_node.url,
        alice_url=fast_ping_node.url,
        partition=lambda: netns.drop_host(alias),
        heal=netns.clear,
        room="row4_netns",
        outage=10.0,
        row="4 silent partition (netns + iptables DROP)",
        alice_options={"bind_address": alias},
    )


@pytest_twisted.inlineCallbacks
def test_latency_and_packet_loss_lose_nothing(netns: NetNamespace, default_ping_node: NetnsNode):
    """Row 13 (netns): 200 ms each way from the proxy plus 5% packet loss on the link -- nothing lost, p99 ack within
    1.5 s, no spurious disconnect."""
    proxy = FaultProxy(reactor, netns.ip, default_ping_node.options.port).start()
    proxy.latency = 0.2
    netns.lose(0.05)
    try:
        yield latency_scenario(
            node_url=default_ping_node.url, proxy=proxy, room="row13_netns", row="13 latency 200 ms + 5% loss (netns)"
        )
    finally:
        netns.clear()
        proxy.stop()
