"""A flood of connections does not lock members out (localhost only, bounded in count and time)."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor

from kasagi.client import KasagiClient
from kasagi.deadline import within
from kasagi.testing.node import NodeProcess
from tests.security.nodes import token
from tests.security.test_malformed_frames import UPGRADE
from tests.waiting import until

pytestmark = pytest.mark.node

FLOOD = 2000


class FloodPeer(protocol.Protocol):
    """Connects, maybe sends a WebSocket upgrade, then idles (never HELLO, never answers)."""

    def __init__(self, request: bytes, stats: dict[str, int], peers: list[FloodPeer]) -> None:
        self.request, self.stats, self.peers = request, stats, peers
        self.lost = defer.Deferred()
        self.upgraded = False

    def connectionMade(self) -> None:
        self.stats["connected"] += 1
        self.peers.append(self)
        if self.request:
            self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        if not self.upgraded and data.startswith(b"HTTP/1.1 101"):
            self.upgraded = True
            self.stats["upgraded"] += 1

    def connectionLost(self, reason: object = None) -> None:
        self.stats["lost"] += 1
        if not self.lost.called:
            self.lost.callback(None)


class FloodFactory(protocol.ClientFactory):
    def __init__(self, request: bytes, stats: dict[str, int], peers: list[FloodPeer]) -> None:
        self.request, self.stats, self.peers = request, stats, peers

    def buildProtocol(self, addr: object) -> FloodPeer:
        return FloodPeer(self.request, self.stats, self.peers)

    def clientConnectionFailed(self, connector: object, reason: object) -> None:
        self.stats["failed"] += 1


@pytest_twisted.inlineCallbacks
def test_a_member_joins_within_5_s_during_a_flood_of_2000_connections(secure_node: NodeProcess):
    """With 2,000 connections open at once (half idle TCP, half WebSockets that never send HELLO),
    a new member connects, logs in, opens and joins a room and has an action acknowledged within 5 s."""
    stats = {"connected": 0, "upgraded": 0, "lost": 0, "failed": 0}
    peers: list[FloodPeer] = []
    started = reactor.seconds()
    for i in range(FLOOD):
        reactor.connectTCP(
            "127.0.0.1", secure_node.options.port, FloodFactory(UPGRADE if i % 2 else b"", stats, peers), timeout=30
        )
    probe = None
    try:
        yield until(lambda: stats["connected"] + stats["failed"] >= FLOOD, timeout=60)
        yield until(lambda: stats["upgraded"] >= FLOOD // 2 - stats["failed"], timeout=60)
        flood_s = reactor.seconds() - started
        open_now = stats["connected"] - stats["lost"]
        t0 = reactor.seconds()

        @defer.inlineCallbacks
        def join_and_act():  # type: ignore[no-untyped-def]
            nonlocal probe
            probe = yield KasagiClient.connect(secure_node.url, "probe", token("probe"))
            handle = yield probe.join("flooded")
            yield handle.act("move", {"dx": 1, "dy": 1})

        yield within(join_and_act(), 5.0, reactor, "the probe joining during the flood")
        probe_s = reactor.seconds() - t0
        print(
            f"\nflood: {stats['connected']} connected ({stats['failed']} failed) in {flood_s:.2f} s, "
            f"{open_now} open and {stats['upgraded']} upgraded when the probe started; "
            f"probe connect+login+open+join+act: {probe_s * 1000:.0f} ms"
        )
        assert stats["failed"] == 0
    finally:
        if probe is not None:
            yield probe.close()
        for peer in peers:
            if peer.transport is not None:
                peer.transport.abortConnection()
        yield within(defer.DeferredList([p.lost for p in peers]), 60.0, reactor, "closing the flood")


STORM = 500


@pytest_twisted.inlineCallbacks
def test_a_storm_of_500_failed_logins_does_not_lock_members_out(secure_node: NodeProcess):
    """While 500 clients try to log in at once with forged tickets (each refused), a new member logs
    in, joins a room and has an action acknowledged (bound 15 s; the figure is printed)."""
    from tests.security.wamp_raw import Login, Refused, connect_ws

    attempts = [
        connect_ws(secure_node.options.port, Login(f"bot{i}", token(f"bot{i}", secret="forged")), timeout=60)
        for i in range(STORM)
    ]
    t0 = reactor.seconds()
    probe = None

    @defer.inlineCallbacks
    def join_and_act():  # type: ignore[no-untyped-def]
        nonlocal probe
        probe = yield KasagiClient.connect(secure_node.url, "probe2", token("probe2"))
        handle = yield probe.join("stormed")
        yield handle.act("move", {"dx": 1, "dy": 1})

    try:
        yield within(join_and_act(), 15.0, reactor, "the probe joining during the login storm")
        probe_s = reactor.seconds() - t0
        results = yield defer.DeferredList(attempts, consumeErrors=True)
        refused = sum(1 for ok, r in results if not ok and r.check(Refused))
        storm_s = reactor.seconds() - t0
        print(
            f"\nlogin storm: {refused}/{STORM} refused in {storm_s:.2f} s; "
            f"probe login+open+join+act: {probe_s * 1000:.0f} ms"
        )
        assert refused == STORM
    finally:
        if probe is not None:
            yield probe.close()
