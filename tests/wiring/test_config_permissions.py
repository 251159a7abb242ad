"""Every URI the code registers, publishes, subscribes or calls is permitted in
.crossbar/config.json to exactly the roles that need it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from autobahn.wamp.types import ComponentConfig
from crossbar.router.role import RouterRoleStaticAuth
from twisted.internet.defer import succeed

from components.room_service import RoomService
from kasagi import wire
from kasagi.auth import RoomCheck, admits, authorize_client

CONFIG = Path(__file__).resolve().parents[2] / ".crossbar" / "config.json"
ACTIONS = ("call", "register", "publish", "subscribe")


def roles() -> dict[str, dict[str, Any]]:
    config = json.loads(CONFIG.read_text())
    router = next(w for w in config["workers"] if w["type"] == "router")
    return {r["name"]: r for r in router["realms"][0]["roles"]}


def allowed(role: str, uri: str, action: str, options: dict[str, Any] | None = None) -> bool:
    spec = roles()[role]
    if "authorizer" in spec:
        assert spec["authorizer"] == wire.AUTHORIZE
        decision = authorize_client(uri, action, options or {"match": "exact"})
        if isinstance(decision, RoomCheck):
            # Depends on the room's member list: here, a public room.
            return admits({"room": decision.room, "exists": True, "members": None}, "someone")
        return bool(decision["allow"])
    return bool(
        RouterRoleStaticAuth(None, role, spec["permissions"]).authorize(None, uri, action, options or {})["allow"]
    )


class RecordingRoomService(RoomService):
    """The real room service, with its WAMP calls recorded instead of sent."""

    def __init__(self) -> None:
        super().__init__(ComponentConfig(realm=wire.REALM, extra={"service": {"store": "memory"}}))
        self.used: list[tuple[str, str]] = []

    def register(self, endpoint: Any, procedure: str | None = None, options: Any = None) -> Any:
        self.used.append(("register", procedure or ""))
        return succeed(None)

    def subscribe(self, handler: Any, topic: str | None = None, options: Any = None) -> Any:
        self.used.append(("subscribe", topic or ""))
        return succeed(None)

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self.used.append(("publish", topic))


def room_service_uses() -> set[tuple[str, str]]:
    """Everything the single-node room service does on its router, recorded from the real session."""
    from kasagi.core.commands import OpenCommand

    service = RecordingRoomService()
    try:
        for d in (service.onJoin(None), service.registry.open(OpenCommand("r1", "arena", {}))):
            failures: list[Any] = []
            d.addErrback(failures.append)
            assert d.called and not failures, failures
        # What a room's runner publishes goes through the procedures' publish.
        service.procedures.publish(wire.room_topic("r1"), {"epoch": 1, "seq": 1, "ops": []})
    finally:
        service.onLeave(None)
    return set(service.used)


def concrete(uri: str) -> str:
    """A wildcard registration is checked on a URI it stands for."""
    return uri.replace("..", ".r1.")


def deployment_uses(deployment: str) -> set[tuple[str, str]]:
    return room_service_uses() if deployment == "single_node" else worker_uses()


DEPLOYMENTS = pytest.mark.parametrize("deployment", ["single_node", "cluster_worker"])


@DEPLOYMENTS
def test_backend_may_do_everything_the_room_service_does(deployment):
    """Each register/subscribe/publish of the room service (single node or cluster worker) is allowed to the backend
    role."""
    uses = deployment_uses(deployment)
    assert ("register", wire.LOBBY_OPEN) in uses
    assert ("publish", wire.room_topic("r1")) in uses
    assert {("register", wire.room_procedure("r1", v)) for v in wire.ROOM_VERBS} <= uses
    assert ("subscribe", wire.META_SESSION_ON_LEAVE) in uses
    for action, uri in uses:
        assert allowed("backend", concrete(uri), action), (action, uri)


@DEPLOYMENTS
def test_clients_may_call_and_subscribe_to_what_the_client_uses_and_nothing_else(deployment):
    """Clients call the lobby and room procedures and subscribe to exact room topics, but never register or publish
    what a room service (single node or cluster worker) registers or publishes."""
    for verb in wire.ROOM_VERBS:
        assert allowed("client", wire.room_procedure("r1", verb), "call")
    assert allowed("client", wire.LOBBY_OPEN, "call")
    assert allowed("client", wire.room_topic("r1"), "subscribe")
    for action, uri in deployment_uses(deployment):
        if action in ("register", "publish"):
            assert not allowed("client", concrete(uri), action), (action, uri)
    assert not allowed("client", wire.room_topic("r1"), "subscribe", {"match": "prefix"})
    assert not allowed("client", wire.ROOM_PREFIX, "subscribe", {"match": "prefix"})
    assert not allowed("client", wire.META_SESSION_ON_LEAVE, "subscribe")
    assert not allowed("client", "wamp.session.list", "call")
    assert not allowed("client", wire.AUTHENTICATE, "call")
    assert not allowed("client", "kasagi.room.r1.other", "call")
    assert not allowed("client", wire.ROOM_ACCESS, "call")
    forged = {"forward_for": [{"session": 1, "authid": "b", "authrole": "client"}]}
    assert not allowed("client", wire.room_procedure("r1", "act"), "call", forged)


@pytest.mark.parametrize("action", ACTIONS)
def test_the_authenticator_role_can_only_register_the_auth_procedures(action):
    """The role of the router-side auth sessions registers kasagi.auth.* and calls only room_access."""
    for uri in (wire.LOBBY_OPEN, wire.room_topic("r1"), wire.room_procedure("r1", "act"), wire.META_SESSION_ON_LEAVE):
        assert not allowed("authenticator", uri, action)
    for uri in (wire.AUTHENTICATE, wire.AUTHORIZE):
        assert allowed("authenticator", uri, action) == (action == "register")
    # The client authorizer asks the room service who may read a private room.
    assert allowed("authenticator", wire.ROOM_ACCESS, action) == (action == "call")


@DEPLOYMENTS
def test_the_room_service_registers_room_access_for_the_authorizer(deployment):
    """The backend (single node or cluster worker) registers kasagi.backend.room_access, which the authorizer
    (authenticator role) may call."""
    assert ("register", wire.ROOM_ACCESS) in deployment_uses(deployment)


def test_only_the_backend_publishes_on_room_topics():
    """No role but backend may publish on a room topic."""
    for role in roles():
        assert allowed(role, wire.room_topic("r1"), "publish") == (role == "backend")


class RecordingSession:
    """A WAMP session that records what a worker registers, subscribes, publishes and calls."""

    def __init__(self) -> None:
        self.used: list[tuple[str, str]] = []

    def register(self, endpoint: Any, procedure: str, options: Any = None) -> Any:
        self.used.append(("register", procedure))
        return succeed(None)

    def subscribe(self, handler: Any, topic: str, options: Any = None) -> Any:
        self.used.append(("subscribe", topic))
        return succeed(None)

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self.used.append(("publish", topic))

    def call(self, procedure: str, *args: Any, **kwargs: Any) -> Any:
        self.used.append(("call", procedure))
        return succeed({})

    def is_attached(self) -> bool:
        return True


def worker_uses() -> set[tuple[str, str]]:
    """Everything a cluster worker does on a router, recorded from the real RouterSessions."""
    from kasagi.core.commands import JoinCommand, OpenCommand
    from kasagi.testing import make_cluster_worker

    routers, rooms, clock = make_cluster_worker("w1")
    session = RecordingSession()
    for d in (
        routers.attach("rs://r1", session),
        rooms.open(OpenCommand("r1", "arena", {})),
        routers.forward("w2", OpenCommand("r2", "arena", {})),
    ):
        failures: list[Any] = []
        d.addErrback(failures.append)
        assert d.called and not failures, failures
    rooms.runner("r1").join("alice", "rs://r1#7", JoinCommand(None))
    clock.advance(0)
    return set(session.used)


def test_backend_may_do_everything_a_cluster_worker_does():
    """A worker's registrations (lobby, fallbacks, its own kasagi.worker.<id>.open, the rooms'),
    its calls to other workers and its publishes are all allowed to the backend role."""
    uses = worker_uses()
    assert ("register", wire.worker_procedure("w1", "open")) in uses
    assert ("call", wire.worker_procedure("w2", "open")) in uses
    assert ("publish", wire.room_topic("r1")) in uses
    for action, uri in uses:
        assert allowed("backend", concrete(uri), action), (action, uri)


def test_clients_can_not_reach_the_workers_procedures():
    """A client may neither call nor register kasagi.worker.*."""
    for action in ACTIONS:
        assert not allowed("client", wire.worker_procedure("w1", "open"), action)


def test_the_monitor_role_only_asks_whether_procedures_are_registered():
    """The router's metrics component may call wamp.registration.match and nothing else."""
    assert allowed("monitor", "wamp.registration.match", "call")
    for uri in (wire.LOBBY_OPEN, wire.room_topic("r1"), "wamp.session.list", wire.worker_procedure("w1", "open")):
        for action in ACTIONS:
            assert not allowed("monitor", uri, action)


def test_both_deployments_use_the_same_uris_but_the_workers_own():
    """A single node and a cluster worker register, subscribe and publish the same URIs; a worker adds only its own
    kasagi.worker.<id>.open and calls other workers'."""
    worker_only = {("register", wire.worker_procedure("w1", "open")), ("call", wire.worker_procedure("w2", "open"))}
    assert worker_uses() - worker_only == room_service_uses()
