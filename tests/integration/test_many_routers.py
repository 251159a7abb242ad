"""``kasagi up --routers 2``: two router processes on one port, room-service workers joined
to both; clients on either router share rooms, and a router killed with -9 leaves the other
serving while its clients reconnect."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer

from kasagi.client import KasagiClient
from kasagi.testing import free_port
from tests.integration.up_command import UpCommand
from tests.waiting import until

pytestmark = pytest.mark.node
KASAGI = [str(Path(sys.executable).with_name("kasagi"))]
ENV = {k: v for k, v in os.environ.items() if k not in ("KASAGI_SECRET", "KASAGI_BACKEND_SECRET")}
#: Connections tried to find a client on each router (the kernel picks the listener by a hash
#: of the connection's addresses: about half land on each).
ATTEMPTS = 30


class TwoRouters:
    def __init__(self, up: UpCommand, port: int, banner: list[str]) -> None:
        self.up = up
        self.port = port
        self.banner = banner

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@pytest.fixture
def two_routers(tmp_path: Path) -> Iterator[TwoRouters]:
    """A fresh ``kasagi up --routers 2`` (SQLite store and leases in its data directory)."""
    port = free_port()
    args = ["--routers", "2", "--port", str(port), "--data-dir", str(tmp_path / "data"), "--tick", "0.01"]
    up = UpCommand(KASAGI, args, cwd=tmp_path, env=ENV)
    try:
        banner = up.read_until_ready()
        yield TwoRouters(up, port, banner)
        status, _, err = up.interrupt()
        assert status == 0 and "Traceback" not in err
    finally:
        up.kill()


def router_of(client: KasagiClient) -> tuple[str, int]:
    """The router worker a client's session is on, and its process id (Crossbar's welcome)."""
    assert client.session is not None
    extra: dict[str, Any] = client.session.session_details.authextra or {}
    return str(extra["x_cb_worker"]), int(extra["x_cb_pid"])


@defer.inlineCallbacks
def one_client_per_router(url: str, names: tuple[str, str]):  # type: ignore[no-untyped-def]
    """Two clients (``names``) whose sessions are on different routers."""
    found: dict[str, KasagiClient] = {}
    for attempt in range(ATTEMPTS):
        client = yield KasagiClient.connect(url, f"probe{attempt}")
        worker, _ = router_of(client)
        yield client.close()
        if worker in found:
            continue
        name = names[len(found)]
        # Reconnect as the member until it lands on this router (same odds each time).
        for _ in range(ATTEMPTS):
            member = yield KasagiClient.connect(url, name)
            if router_of(member)[0] == worker:
                found[worker] = member
                break
            yield member.close()
        if len(found) == 2:
            return list(found.values())
    raise AssertionError(f"no client on each router after {ATTEMPTS} connections: {sorted(found)}")


@pytest_twisted.inlineCallbacks
def test_clients_on_either_router_share_a_room(two_routers: TwoRouters):
    """The banner names both routers; a member on each router joins one room and each sees the other's moves."""
    assert "2 routers sharing port" in "\n".join(two_routers.banner)
    assert two_routers.banner[-1].startswith("kasagi: ready")
    alice, bob = yield one_client_per_router(two_routers.url, ("alice", "bob"))
    try:
        assert router_of(alice)[0] != router_of(bob)[0]
        ra = yield alice.join("shared")
        rb = yield bob.join("shared")
        yield ra.act("move", {"dx": 3, "dy": 0})
        yield rb.act("move", {"dx": 0, "dy": 4})
        yield until(lambda: ra.seq == rb.seq and {"alice", "bob"} <= set(ra.state["players"]), what="convergence")
        assert ra.state == rb.state
    finally:
        yield alice.close()
        yield bob.close()


@pytest_twisted.inlineCallbacks
def test_a_router_killed_with_minus_9_leaves_the_other_serving(two_routers: TwoRouters):
    """After kill -9 of one router process, its client reconnects to the other and the room goes on for both."""
    alice, bob = yield one_client_per_router(two_routers.url, ("alice", "bob"))
    try:
        ra = yield alice.join("survivor")
        rb = yield bob.join("survivor")
        yield until(lambda: {"alice", "bob"} <= set(rb.state["players"]), what="both present")
        alive, dead = router_of(alice), router_of(bob)
        os.kill(dead[1], signal.SIGKILL)
        yield until(lambda: bob.session is not None and router_of(bob)[0] == alive[0], timeout=20.0, what="reconnect")
        x = rb.state["players"]["bob"]["x"]
        ack = yield rb.act("move", {"dx": 2, "dy": 0})
        yield ra.act("move", {"dx": 1, "dy": 0})
        yield until(lambda: ra.seq == rb.seq >= ack["seq"], timeout=20.0, what="convergence after the kill")
        assert ra.state == rb.state and ra.state["players"]["bob"]["x"] == min(1000, x + 2)
        assert router_of(alice) == alive, "the surviving router's client was not disturbed"
    finally:
        yield alice.close()
        yield bob.close()
