"""The single-node default with --metrics-port: one endpoint shows the router's figures and
the in-router room service's, and readiness follows the room service."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError

from kasagi.client import KasagiClient
from kasagi.testing import free_port
from kasagi.testing.topology import http_get
from tests.conftest import start_node

pytestmark = pytest.mark.node


@pytest_twisted.inlineCallbacks
def test_single_node_serves_router_and_room_metrics_and_readiness(tmp_path: Path):
    """After a member joins a room and acts (once refused), the node's /metrics shows the
    room, the member, the accepted and refused actions and the router's sessions and
    messages, and /health/ready says ready."""
    port = free_port()
    node = start_node(tmp_path, service={"store": "memory"}, metrics_port=port)
    client = None
    try:
        status, body = http_get(f"http://127.0.0.1:{port}/health/ready")
        assert (status, body) == (200, "ready\n")
        client = yield KasagiClient.connect(node.url, "alice")
        room = yield client.join("metrics_single")
        yield room.act("move", {"dx": 1, "dy": 1})
        with pytest.raises(ApplicationError):
            yield room.act("move", {"dx": 11, "dy": 0})
        status, text = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        for needle in (
            "kasagi_rooms 1.0",
            "kasagi_members_online 1.0",
            "kasagi_actions_accepted_total 1.0",
            'kasagi_calls_refused_total{reason="rejected"} 1.0',
            'kasagi_router_messages_received_total{type="call"}',
            "kasagi_router_sessions",
            "kasagi_store_append_seconds_count",
            "process_resident_memory_bytes",
        ):
            assert needle in text, needle
    finally:
        if client is not None:
            yield client.close()
        node.stop()
