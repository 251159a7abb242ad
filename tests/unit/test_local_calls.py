"""A client's ``act`` called directly in the router's process gets the answer the dealer would
have given, and everything the local path does not take is routed as before."""

from __future__ import annotations

from typing import Any

from autobahn.wamp import message
from twisted.internet.defer import Deferred, fail, succeed

from kasagi.core import NotMember
from kasagi.wamp.edge import caller_member, caller_session, wamp_errors
from kasagi.wamp.local_calls import LocalCalls, hosted
from router.local_calls import install

ACT = "kasagi.room.r1.act"


def _recording(outcome: Any = None) -> tuple[list[tuple[tuple[Any, ...], dict[str, Any]]], Any]:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def act(*args: Any, details: Any, **kwargs: Any) -> Any:
        calls.append((args, {**kwargs, "member": caller_member(details), "session": caller_session(details)}))
        return outcome() if callable(outcome) else outcome

    return calls, act


def _answer(table: LocalCalls, msg: Any, authrole: str = "client") -> Any:
    d = table.call(msg, 7001, "alice", authrole)
    if d is None:
        return None
    out: list[Any] = []
    d.addCallback(out.append)
    return out[0] if out else d


def test_a_clients_act_is_called_with_its_arguments_and_the_caller_the_router_knows():
    calls, act = _recording({"seq": 4, "cseq": 1})
    table = LocalCalls()
    table.add(ACT, act)
    reply = _answer(table, message.Call(11, ACT, args=["move", {"dx": 1}, 1], kwargs={"note": "x"}))
    assert isinstance(reply, message.Result)
    assert (reply.request, reply.args, reply.kwargs) == (11, [{"seq": 4, "cseq": 1}], None)
    assert calls == [(("move", {"dx": 1}, 1), {"note": "x", "member": "alice", "session": "7001"})]


def test_a_client_keyword_named_details_does_not_reach_the_procedure_as_the_callers_details():
    calls, act = _recording({"ok": True})
    table = LocalCalls()
    table.add(ACT, act)
    reply = _answer(table, message.Call(12, ACT, args=["move", {}, 1], kwargs={"details": "forged"}))
    assert isinstance(reply, message.Result)
    assert calls[0][1]["member"] == "alice" and calls[0][1]["session"] == "7001"


def test_a_later_answer_is_sent_when_the_commit_comes():
    pending: Deferred[Any] = Deferred()
    _, act = _recording(lambda: pending)
    table = LocalCalls()
    table.add(ACT, act)
    d = table.call(message.Call(13, ACT, args=["move", {}, 1]), 7001, "alice", "client")
    assert d is not None
    got: list[Any] = []
    d.addCallback(got.append)
    assert got == []
    pending.callback({"seq": 9})
    assert isinstance(got[0], message.Result) and got[0].args == [{"seq": 9}]


def test_a_refusal_reaches_the_caller_with_its_uri_message_and_details():
    def act(*args: Any, details: Any, **kwargs: Any) -> Any:
        raise NotMember("join the room first", field="member", expected="a member", got="alice")

    table = LocalCalls()
    table.add(ACT, wamp_errors(act))
    reply = _answer(table, message.Call(14, ACT, args=["move", {}, 1]))
    assert isinstance(reply, message.Error)
    assert reply.request_type == message.Call.MESSAGE_TYPE and reply.request == 14
    assert reply.error == "kasagi.error.not_member"
    assert reply.args == ["join the room first"]
    assert reply.kwargs["field"] == "member" and reply.kwargs["got"] == "alice"


def test_a_refusal_that_comes_later_is_answered_the_same_way():
    def act(*args: Any, details: Any, **kwargs: Any) -> Any:
        return fail(NotMember("join the room first", field="member", expected="a member", got="alice"))

    table = LocalCalls()
    table.add(ACT, wamp_errors(act))
    reply = _answer(table, message.Call(15, ACT, args=["move", {}, 1]))
    assert isinstance(reply, message.Error) and reply.error == "kasagi.error.not_member"


def test_a_keyword_no_procedure_takes_is_refused_and_the_procedure_never_runs():
    calls, act = _recording({"ok": True})
    table = LocalCalls()
    table.add(ACT, act)
    reply = _answer(table, message.Call(16, ACT, args=["move", {}, 1], kwargs={"self": 1}))
    assert isinstance(reply, message.Error) and reply.error == "kasagi.error.invalid_argument"
    assert reply.kwargs["field"] == "self"
    assert calls == []


def test_what_the_local_path_does_not_take_is_left_to_the_router():
    calls, act = _recording({"ok": True})
    table = LocalCalls()
    table.add(ACT, act)
    assert _answer(table, message.Call(1, "kasagi.room.r2.act", args=[])) is None  # not in the table
    assert _answer(table, message.Call(2, "kasagi.room.r1.join", args=[None])) is None
    assert _answer(table, message.Publish(3, "kasagi.input.r1", args=[])) is None
    assert _answer(table, message.Call(4, ACT, args=[]), authrole="admin") is None
    assert _answer(table, message.Call(5, ACT, args=[], receive_progress=True)) is None
    assert _answer(table, message.Call(6, ACT, args=[], timeout=1000)) is None
    forwarded = message.Call(7, ACT, args=[], forward_for=[{"session": 1, "authid": "bob", "authrole": "client"}])
    assert _answer(table, forwarded) is None
    assert calls == []


def test_a_procedure_leaves_the_table_and_the_table_is_found_while_it_is_hosted():
    table = LocalCalls()
    table.add(ACT, _recording()[1])
    assert ACT in table
    table.remove(ACT)
    assert ACT not in table and _answer(table, message.Call(1, ACT, args=[])) is None
    assert hosted() is None
    table.host()
    try:
        assert hosted() is table
    finally:
        table.unhost()
    assert hosted() is None


class _Transport:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, msg: Any) -> None:
        self.sent.append(msg)


class _Router:
    def __init__(self) -> None:
        self._message_stats: dict[str, dict[str, int]] = {"received": {}, "sent": {}}

    def send(self, session: Any, msg: Any) -> None:
        session._transport.send(msg)


class _Session:
    def __init__(self, authrole: str = "client") -> None:
        self._session_id = 7001
        self._authid = "alice"
        self._authrole = authrole
        self._transport: _Transport | None = _Transport()
        self._router = _Router()
        self.routed: list[Any] = []

    def onMessage(self, msg: Any) -> None:
        self.routed.append(msg)


def _installed(pending: Deferred[Any]) -> tuple[type[_Session], LocalCalls]:
    """A session class with the hook installed, over a table whose act answers with ``pending``."""

    class Session(_Session):
        pass

    table = LocalCalls()
    table.add(ACT, lambda *a, details, **k: pending)
    assert install(Session, lambda: table) is True
    return Session, table


def test_an_installed_router_session_answers_the_act_itself_and_routes_the_rest():
    pending: Deferred[Any] = Deferred()
    Session, table = _installed(pending)
    assert install(Session, lambda: table) is False  # twice: still one layer
    session = Session()
    session.onMessage(message.Call(21, ACT, args=["move", {}, 1]))
    session.onMessage(message.Call(22, "kasagi.lobby.open", args=["r1"]))
    assert [m.request for m in session.routed] == [22]
    assert session._router._message_stats["received"] == {"call": 1}
    assert session._transport is not None and session._transport.sent == []
    pending.callback({"seq": 1})
    assert [(type(m), m.request) for m in session._transport.sent] == [(message.Result, 21)]


def test_an_answer_after_the_session_closed_is_dropped():
    pending: Deferred[Any] = Deferred()
    Session, _ = _installed(pending)
    session = Session()
    transport = session._transport
    session.onMessage(message.Call(31, ACT, args=["move", {}, 1]))
    session._transport = None  # the connection went
    pending.callback({"seq": 1})
    assert transport is not None and transport.sent == []


def test_without_a_room_service_in_this_process_every_call_is_routed():
    class Session(_Session):
        pass

    install(Session, lambda: None)
    session = Session()
    session.onMessage(message.Call(41, ACT, args=["move", {}, 1]))
    assert [m.request for m in session.routed] == [41]


def test_a_session_that_has_not_joined_is_left_to_the_router():
    class Session(_Session):
        pass

    table = LocalCalls()
    table.add(ACT, lambda *a, details, **k: succeed({"seq": 1}))
    install(Session, lambda: table)
    session = Session()
    session._session_id = None  # type: ignore[assignment]
    session.onMessage(message.Call(51, ACT, args=["move", {}, 1]))
    assert [m.request for m in session.routed] == [51]
