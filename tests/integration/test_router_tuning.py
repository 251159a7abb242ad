"""A node as shipped runs its router tunings (``router/tuning.py``) and serves through them:
its log names each one, and a client's acts land over a tuned connection."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.defer import gatherResults

from kasagi.client import ClientOptions, KasagiClient
from kasagi.testing.node import NodeProcess

pytestmark = pytest.mark.node

#: The lines ``router/tuning.py`` logs for what ``kasagi up`` turns on by default.
SHIPPED = (
    "router tuning: lean connections",
    "router tuning: backlogged acts refused before routing",
    "router tuning: direct writes on WebSocket connections",
    "debug log-argument helpers replaced",
)


@pytest_twisted.inlineCallbacks
def test_the_shipped_tunings_are_on_and_acts_land_through_them(node: NodeProcess):
    """The node's log reports every default tuning installed in the router worker; over such
    a connection (options from its class, handshake let go, send queue made when used), eight
    acts made at once by a client keeping four unanswered all land, in the order made."""
    log = node.log_path.read_text()
    missing = [line for line in SHIPPED if line not in log]
    assert not missing, f"not in the node's log: {missing}"
    client = yield KasagiClient.connect(node.url, "tuned_alice", options=ClientOptions(max_unanswered=4))
    try:
        room = yield client.join("tuned_room", "doc")
        results = yield gatherResults(
            [room.act("set", {"path": [f"k{i}"], "value": i}) for i in range(8)], consumeErrors=True
        )
        seqs = [r["seq"] for r in results]
        assert seqs == sorted(seqs) and len(set(seqs)) == 8, seqs
    finally:
        yield client.close()
