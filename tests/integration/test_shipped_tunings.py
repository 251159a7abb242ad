"""A node as shipped runs its router tunings (``router/tuning.py``) and serves through them:
its log names each one, and a client's acts land over a tuned connection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.defer import gatherResults

from kasagi.client import ClientOptions, KasagiClient
from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess

pytestmark = pytest.mark.node

#: The lines ``router/tuning.py`` logs for what ``kasagi up`` turns on by default.
SHIPPED = (
    "router tuning: lean connections",
    "router tuning: backlogged acts refused before routing",
    "router tuning: clients' acts called in this process, past the dealer",
    "router tuning: direct writes on WebSocket connections",
    "router tuning: one WebSocket frame per message for all its clients",
    "router tuning: small client frames unmasked with one integer XOR",
    "debug log-argument helpers replaced",
)


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[NodeProcess]:
    """A node with ``kasagi up``'s defaults (log level info), on the memory store."""
    port = free_port()
    node = NodeProcess(NodeOptions(port=port, data_dir=tmp_path / f"node-{port}", service={"store": "memory"}))
    node.start()
    yield node
    node.stop()


@pytest_twisted.inlineCallbacks
def test_the_shipped_tunings_are_on_and_acts_land_through_them(shipped: NodeProcess):
    """The node's log reports every default tuning installed in the router worker; over such
    a connection (options from its class, handshake let go, send queue made when used), eight
    acts made at once by a client keeping four unanswered all land, applied in the order made."""
    log = shipped.log_path.read_text()
    missing = [line for line in SHIPPED if line not in log]
    assert not missing, f"not in the node's log: {missing}"
    client = yield KasagiClient.connect(shipped.url, "tuned_alice", options=ClientOptions(max_unanswered=4))
    try:
        room = yield client.join("tuned_room", "doc")
        results = yield gatherResults(
            [room.act("set", {"path": [f"k{i}"], "value": i}) for i in range(8)], consumeErrors=True
        )
        seqs, cseqs = [r["seq"] for r in results], [r["cseq"] for r in results]
        assert seqs == sorted(seqs), f"applied out of order: {seqs}"
        assert cseqs == sorted(set(cseqs)) and len(cseqs) == 8, cseqs
    finally:
        yield client.close()
