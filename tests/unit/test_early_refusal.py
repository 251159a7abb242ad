"""The router's early refusal, pure: which messages it answers itself and with what (no router runs here: the
behaviour under a real node is measured by ``kasagi bench`` and ``tests/overload``)."""

from __future__ import annotations

from typing import Any

from autobahn.wamp import message
from twisted.internet.task import Clock

from kasagi.core.admission import AdmissionLimits
from kasagi.service.admission import Admission, running
from router.early_refusal import early_refusal, install


def _backlogged() -> Admission:
    admission = Admission(Clock(), AdmissionLimits(overload_lag=0.04))
    for _ in range(50):
        admission.control.sample(0.5)
    return admission


def test_an_act_call_of_a_backlogged_process_is_answered_with_rate_limited_and_retry_after():
    admission = _backlogged()
    call = message.Call(7, "kasagi.room.r1.act", args=["move", {"dx": 1}, 3])
    error = early_refusal(call, lambda: admission)
    assert isinstance(error, message.Error)
    assert (error.request_type, error.request) == (message.Call.MESSAGE_TYPE, 7)
    assert error.error == "kasagi.error.rate_limited"
    assert error.kwargs["field"] == "service" and error.kwargs["retryable"] is True
    assert 1.0 <= error.kwargs["retry_after"] <= 3.0
    assert "backlog" in error.kwargs["got"]


def test_other_messages_and_a_process_keeping_up_are_left_to_the_router():
    admission = _backlogged()
    assert early_refusal(message.Call(1, "kasagi.room.r1.join", args=[None]), lambda: admission) is None
    assert early_refusal(message.Call(2, "kasagi.lobby.open", args=["r1"]), lambda: admission) is None
    assert early_refusal(message.Publish(3, "kasagi.input.r1", args=[]), lambda: admission) is None
    assert early_refusal(message.Call(4, "kasagi.room.r1.act", args=[]), lambda: None) is None
    calm = Admission(Clock(), AdmissionLimits())
    assert early_refusal(message.Call(5, "kasagi.room.r1.act", args=[]), lambda: calm) is None


def test_the_admission_of_this_process_is_found_while_it_runs():
    admission = Admission(Clock(), AdmissionLimits())
    assert running() is None
    admission.start()
    try:
        assert running() is admission
    finally:
        admission.stop()
    assert running() is None


class _Transport:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, msg: Any) -> None:
        self.sent.append(msg)


class _Session:
    routed: list[Any]

    def __init__(self) -> None:
        self._session_id = 42
        self._transport = _Transport()
        self.routed = []

    def onMessage(self, msg: Any) -> None:
        self.routed.append(msg)


def test_an_installed_session_sends_the_refusal_itself_and_routes_the_rest():
    class Session(_Session):
        pass

    install(Session)
    install(Session)  # twice: still one layer
    admission = _backlogged()
    admission.start()
    try:
        session = Session()
        session.onMessage(message.Call(9, "kasagi.room.r1.act", args=[]))
        session.onMessage(message.Call(10, "kasagi.room.r1.join", args=[None]))
    finally:
        admission.stop()
    assert [m.request for m in session._transport.sent] == [9]
    assert [m.request for m in session.routed] == [10]
