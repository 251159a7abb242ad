"""A component in its own process reconnects to a restarted router within the capped delay
(Autobahn's default would let the delay grow to 300 s)."""

from __future__ import annotations

import os
import secrets

import pytest
import pytest_twisted
from autobahn.twisted.component import Component
from autobahn.wamp.component import _Transport
from twisted.internet import reactor

from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from kasagi.wamp.reconnect import RECONNECT_CAP, component_transport
from tests.faults.support import Figures, pause
from tests.waiting import until


def _delays(transport: _Transport, attempts: int) -> list[float]:
    out = []
    for _ in range(attempts):
        out.append(transport.next_delay())
        transport.connect_attempts += 1
    return out


def test_the_transport_caps_autobahns_retry_delay():
    """With Kasagi's transport settings no wait between attempts exceeds the cap (2.5 s), however many
    attempts fail; Autobahn's defaults reach minutes."""
    settings = {
        k: v
        for k, v in component_transport("rs://localhost", unix_path="/tmp/x.sock").items()
        if k not in ("type", "url", "endpoint", "serializer")
    }
    ours = _delays(
        _Transport(0, "rawsocket", "rs://localhost", {"type": "unix", "path": "/tmp/x.sock"}, ["msgpack"], **settings),
        60,
    )
    assert max(ours) <= RECONNECT_CAP
    assert max(ours) >= RECONNECT_CAP * 0.9, "it does grow to the cap"
    default = _delays(
        _Transport(0, "rawsocket", "rs://localhost", {"type": "unix", "path": "/tmp/x.sock"}, ["msgpack"]), 60
    )
    assert max(default) > 60


@pytest.mark.node
@pytest_twisted.inlineCallbacks
def test_a_component_rejoins_a_restarted_router_within_the_cap(tmp_path):
    """A backend component connected over the backend socket rejoins within the cap after the router is killed (kill
    -9) and started again."""
    env = {**os.environ, "KASAGI_BACKEND_SECRET": secrets.token_urlsafe(24)}
    port = free_port()
    options = NodeOptions(port=port, data_dir=tmp_path / "node", loglevel="warn", service={"store": "memory"})
    joins: list[float] = []
    leaves: list[float] = []
    component = Component(
        transports=[
            component_transport("rs://localhost", unix_path=str((tmp_path / "node" / "backend.sock").resolve()))
        ],
        realm="kasagi",
        authentication={"wampcra": {"authid": "kasagi_backend", "secret": env["KASAGI_BACKEND_SECRET"]}},
    )
    component.on("join", lambda session, details: joins.append(reactor.seconds()))
    component.on("leave", lambda session, details: leaves.append(reactor.seconds()))
    node = NodeProcess(options, env=env)
    done = None
    try:
        node.start()
        done = component.start(reactor)
        yield until(lambda: len(joins) == 1, 20.0, what="first join")
        node.kill()
        yield until(lambda: len(leaves) == 1, 10.0, what="the component noticing")
        yield pause(8.0)  # the router stays down long enough for the delay to grow to the cap
        restarted = reactor.seconds()
        node = NodeProcess(options, env=env).start()
        ready = reactor.seconds()
        yield until(lambda: len(joins) == 2, RECONNECT_CAP + 10.0, what="rejoin")
        took = max(0.0, joins[1] - ready)
        Figures(
            "component rejoin after router kill -9 + restart",
            {
                "down_s": restarted - leaves[0],
                "boot_s": ready - restarted,
                "rejoin_after_restart_s": joins[1] - restarted,
                "rejoin_after_ready_s": took,
                "cap_s": RECONNECT_CAP,
            },
        ).emit()
        assert joins[1] - restarted <= (ready - restarted) + RECONNECT_CAP + 2.0
    finally:
        if done is not None:
            component.stop()
            done.addErrback(lambda _: None)
        node.kill()
