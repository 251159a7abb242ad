"""The single-node default with --metrics-port: one endpoint shows the router's figures and
the in-router room service's, only client and admin sessions count as sessions, and readiness
follows the room service, in text or JSON."""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.request
from pathlib import Path

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError

from kasagi.auth import mint_token
from kasagi.client import KasagiClient
from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from kasagi.testing.topology import http_get
from tests.conftest import start_node
from tests.waiting import until

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


ADMIN_SECRET = "kasagi-admin-" + secrets.token_urlsafe(24)


@pytest_twisted.inlineCallbacks
def test_only_client_and_admin_sessions_are_counted_and_health_answers_json(tmp_path: Path):
    """With one client and one admin connected, the router's session gauge shows exactly one
    of each (the room service, authenticator, tuning and metrics components are not
    counted), and /health/ready answers text by default and JSON when asked."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KASAGI_SECRET", "KASAGI_BACKEND_SECRET")}
    env["KASAGI_ADMIN_SECRET"] = ADMIN_SECRET
    options = NodeOptions(
        port=free_port(), data_dir=tmp_path / "node", loglevel="warn", service={"store": "memory"}, metrics_port=port
    )
    node = NodeProcess(options, env=env).start()
    metrics = f"http://127.0.0.1:{port}/metrics"
    clients: list[KasagiClient] = []
    try:
        # Only the node's own sessions are joined (the start-up probe's client session may
        # still be closing).
        yield until(lambda: 'kasagi_router_sessions{role="client"} 0.0' in http_get(metrics)[1], what="no client")
        assert 'kasagi_router_sessions{role="admin"} 0.0' in http_get(metrics)[1]
        clients.append((yield KasagiClient.connect(node.url, "alice")))
        ticket = mint_token("ops", ADMIN_SECRET.encode(), time.time(), 600, role="admin")
        clients.append((yield KasagiClient.connect(node.url, "ops", ticket)))
        yield until(
            lambda: 'kasagi_router_sessions{role="admin"} 1.0' in http_get(metrics)[1], what="the admin counted"
        )
        text = http_get(metrics)[1]
        assert 'kasagi_router_sessions{role="client"} 1.0' in text
        assert "kasagi_router_sessions_joined" not in text
        assert [line for line in text.splitlines() if line.startswith("kasagi_router_sessions{")] == [
            'kasagi_router_sessions{role="client"} 1.0',
            'kasagi_router_sessions{role="admin"} 1.0',
        ]

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready") as reply:
            assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert reply.read() == b"ready\n"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/health/ready", headers={"Accept": "application/json"}
        )
        with urllib.request.urlopen(request) as reply:  # noqa: S310 -- a local http URL built here
            assert reply.status == 200 and reply.headers["Content-Type"] == "application/json"
            body = json.loads(reply.read())
        assert body["status"] == "ready" and body["checks"]["room_service"]["ok"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live?format=json") as reply:
            assert json.loads(reply.read()) == {"status": "live", "checks": {}}
    finally:
        for client in clients:
            yield client.close()
        node.stop()
