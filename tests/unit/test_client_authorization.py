"""The client authorizer's rules (pure)."""

from __future__ import annotations

import pytest

from kasagi.auth import DENY, CacheBudget, RoomCheck, admits, authorize_client


@pytest.mark.parametrize(
    "uri", ["kasagi.lobby.open", "kasagi.room.r1.join", "kasagi.room.r1.act", "kasagi.room.r1.leave"]
)
def test_clients_may_call_the_lobby_and_room_procedures_with_disclosure(uri):
    """Allowed calls are disclosed to the callee."""
    assert authorize_client(uri, "call", None) == {"allow": True, "disclose": True, "cache": True}


@pytest.mark.parametrize(
    ("uri", "action", "options"),
    [
        ("kasagi.room.r1", "publish", {"acknowledge": True}),
        ("kasagi.room.r1.join", "register", {}),
        ("kasagi.room.r1.act", "register", {"match": "exact"}),
        ("kasagi.room.", "subscribe", {"match": "prefix"}),
        ("kasagi.room.r1", "subscribe", {"match": "prefix"}),
        ("kasagi.room..", "subscribe", {"match": "wildcard"}),
        ("kasagi.room.r1.join", "subscribe", {}),
        ("wamp.session.list", "call", None),
        ("wamp.session.on_join", "subscribe", {}),
        ("kasagi.backend.room_access", "call", None),
        ("kasagi.auth.authenticate", "call", None),
        ("kasagi.room.R1.join", "call", None),
        ("kasagi.room.r1.delete", "call", None),
        ("kasagi.room.r1.x.join", "call", None),
        ("kasagi.room.r1\n.join", "call", None),
        ("kasagi.room.r1\n", "subscribe", {"match": "exact"}),
    ],
)
def test_everything_else_is_refused_and_never_cached(uri, action, options):
    """Publishing, registering, pattern subscriptions, meta and backend procedures are refused, uncached."""
    assert authorize_client(uri, action, options) == DENY


def test_exact_room_subscriptions_depend_on_the_room():
    """An exact subscription to a room topic needs the room's member list."""
    assert authorize_client("kasagi.room.r1", "subscribe", {"match": "exact"}) == RoomCheck("r1")


@pytest.mark.parametrize(
    ("access", "authid", "allowed"),
    [
        ({"room": "r", "exists": True, "members": None}, "anyone", True),
        ({"room": "r", "exists": False, "members": None}, "anyone", True),
        ({"room": "r", "exists": True, "members": ["alice"]}, "alice", True),
        ({"room": "r", "exists": True, "members": ["alice"]}, "mallory", False),
        ({"room": "r", "exists": True, "members": "alice"}, "alice", False),
        (None, "alice", False),
        ("garbage", "alice", False),
    ],
)
def test_room_access_admits_members_of_private_rooms_only(access, authid, allowed):
    """Public rooms admit everyone, private rooms their members, unclear answers no one."""
    assert admits(access, authid) is allowed


def test_the_call_cache_budget_bounds_what_the_router_caches():
    """After the budget, allowed calls are answered uncached; URIs granted before stay cached."""
    budget = CacheBudget(limit=2)
    allow = {"allow": True, "disclose": True, "cache": True}
    assert budget.apply("a", allow)["cache"] is True
    assert budget.apply("b", allow)["cache"] is True
    assert budget.apply("c", allow)["cache"] is False
    assert budget.apply("a", allow)["cache"] is True
    assert budget.apply("d", DENY) == DENY
    assert len(budget) == 2


@pytest.mark.parametrize("action", ["call", "subscribe", "publish", "register"])
def test_any_action_claiming_to_forward_for_someone_is_refused(action):
    """forward_for (meant for router links) in a client's options is refused, for every action."""
    options = {"forward_for": [{"session": 1, "authid": "bob", "authrole": "client"}], "match": "exact"}
    assert authorize_client("kasagi.room.r1.act" if action == "call" else "kasagi.room.r1", action, options) == DENY


def test_the_room_service_answers_forged_invocations_with_not_authorized():
    """An invocation carrying forward_for is answered with kasagi.error.not_authorized; others pass."""
    from autobahn.wamp import message

    from kasagi.wamp import screen_invocation

    forged = message.Invocation(
        7, 1, args=["move"], forward_for=[{"session": 1, "authid": "bob", "authrole": "client"}]
    )
    error = screen_invocation(forged)
    assert error is not None and error.request == 7 and error.error == "kasagi.error.not_authorized"
    assert error.kwargs["field"] == "forward_for"
    assert screen_invocation(message.Invocation(8, 1, args=["move"], kwargs={"cseq": 1})) is None


@pytest.mark.parametrize("key", ["f", "fun", "self"])
def test_keywords_autobahn_cannot_dispatch_are_answered_with_invalid_argument(key):
    """A keyword named f, fun or self is refused before dispatch (it would
    leave the call unanswered)."""
    from autobahn.wamp import message

    from kasagi.wamp import screen_invocation

    error = screen_invocation(message.Invocation(9, 1, args=[], kwargs={key: 1}))
    assert error is not None and error.request == 9 and error.error == "kasagi.error.invalid_argument"


@pytest.mark.parametrize(
    "session_class", ["components.room_service.RoomService", "kasagi.cluster.routers.WorkerSession"]
)
def test_a_forged_invocation_arriving_after_the_transport_is_gone_is_dropped(session_class):
    """Regression: the single-node room service answered a screened invocation with
    ``self._transport.send`` even when its transport was gone (None), raising AttributeError
    inside Autobahn's message loop; both deployments' sessions now drop it quietly."""
    import importlib

    from autobahn.wamp import message
    from autobahn.wamp.types import ComponentConfig

    module, _, name = session_class.rpartition(".")
    session = getattr(importlib.import_module(module), name)(ComponentConfig(realm="kasagi"))
    forged = message.Invocation(7, 1, args=[], forward_for=[{"session": 1, "authid": "bob", "authrole": "client"}])
    session.onMessage(forged)  # no transport: nothing to answer on, and no error
    sent: list[object] = []
    session.onOpen(type("Transport", (), {"send": lambda self, msg: sent.append(msg)})())
    session.onMessage(forged)
    assert [m.error for m in sent if isinstance(m, message.Error)] == ["kasagi.error.not_authorized"]
