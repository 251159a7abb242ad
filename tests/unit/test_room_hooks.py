"""A room type's hook that fails never crashes the room and applies nothing of itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from kasagi.core.errors import Internal
from kasagi.core.room import Room
from kasagi.rooms import Effect, Rejected, RoomType, set_op, set_timer
from kasagi.wire import ErrorURI


class Fragile(RoomType):
    """Each hook raises when the state says so."""

    name = "fragile"
    actions = frozenset({"set", "boom"})
    tick_hz = 10

    def initial_state(self) -> dict[str, Any]:
        return {"break": [], "v": 0}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> Sequence[Effect]:
        if action == "boom":
            raise KeyError("oops")
        if action == "no-effect":
            return ["not an effect"]  # type: ignore[list-item]
        return [set_op(["v"], args["v"]), set_op(["break"], args.get("break", state["break"]))]

    def check(self, state: Mapping[str, Any]) -> None:
        if "check" in state["break"]:
            raise ZeroDivisionError("check")
        if state["v"] == -1:
            raise Rejected("no -1")

    def on_join(self, state: Mapping[str, Any], member: str) -> Sequence[Effect]:
        if "on_join" in state["break"] or member == "mallory":
            raise RuntimeError("on_join")
        return [set_op(["joined", member], True)]

    def on_leave(self, state: Mapping[str, Any], member: str) -> Sequence[Effect]:
        if "on_leave" in state["break"]:
            raise RuntimeError("on_leave")
        return [set_op(["left", member], True)]

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> Sequence[Effect]:
        if "on_tick" in state["break"]:
            return [set_op(["v"], 99), set_op(["members"], {})]  # a server-owned write fails the hook
        return [set_op(["v"], state["v"] + 1)]

    def on_timer(self, state: Mapping[str, Any], name: str, data: Any, now_ms: int) -> Sequence[Effect]:
        if "on_timer" in state["break"]:
            raise RuntimeError("on_timer")
        return [set_op(["timer"], name)]


def joined_room(*breaks: str) -> Room:
    room = Room("r", Fragile(), epoch=1)
    room.join("alice", "s1", None, 0)
    room.act("alice", 1, "set", {"v": 1, "break": list(breaks)}, now_ms=0)
    room.take_hook_failures()
    return room


def test_a_raising_apply_refuses_with_internal_and_applies_nothing() -> None:
    """apply raising an unexpected exception: kasagi.error.internal naming type and hook, no change."""
    room = joined_room()
    before = room.state.copy()
    with pytest.raises(Internal) as info:
        room.act("alice", 2, "boom", {}, now_ms=0)
    details = info.value.details()
    assert info.value.uri == ErrorURI.INTERNAL == "kasagi.error.internal"
    assert details["retryable"] is False
    assert details["room_type"] == "fragile" and details["hook"] == "apply"
    assert "Traceback" not in repr(details)
    assert room.state == before
    [failure] = room.take_hook_failures()
    assert failure.hook == "apply" and failure.member == "alice" and "KeyError" in failure.traceback


def test_the_room_goes_on_serving_after_a_failed_apply() -> None:
    """After an internal refusal the same member's next action is applied normally."""
    room = joined_room()
    with pytest.raises(Internal):
        room.act("alice", 2, "boom", {}, now_ms=0)
    room.act("alice", 3, "set", {"v": 7}, now_ms=0)
    assert room.state["v"] == 7


def test_a_hook_returning_something_that_is_not_an_effect_is_internal() -> None:
    """An apply returning a non-effect is refused with internal."""
    room = joined_room()
    with pytest.raises(Internal):
        room.act("alice", 2, "no-effect", {}, now_ms=0)


def test_a_raising_check_refuses_with_internal_and_undoes_the_ops() -> None:
    """check raising unexpectedly: internal, the action's ops rolled back; Rejected stays rejected."""
    room = joined_room()
    with pytest.raises(Internal) as info:
        room.act("alice", 2, "set", {"v": 5, "break": ["check"]}, now_ms=0)
    assert info.value.details()["hook"] == "check"
    assert room.state["v"] == 1 and room.state["break"] == []
    with pytest.raises(Rejected):
        room.act("alice", 3, "set", {"v": -1}, now_ms=0)


def test_a_raising_on_join_refuses_the_join_and_applies_nothing() -> None:
    """on_join raising: the join is refused with internal, the member is not in the room."""
    room = joined_room()
    before = room.state.copy()
    with pytest.raises(Internal) as info:
        room.join("mallory", "s2", None, 10)
    assert info.value.details()["hook"] == "on_join"
    assert room.state == before and "mallory" not in room.online_members()
    assert not room.has_session("s2")


def test_a_raising_on_leave_removes_the_member_without_its_effects() -> None:
    """on_leave raising: the member is removed at the end of its grace, the hook's ops are not."""
    room = joined_room("on_leave")
    room.leave("alice", "s1", 0)
    room.expire(10**9)
    assert "alice" not in room.state["members"] and "left" not in room.state
    [failure] = room.take_hook_failures()
    assert failure.hook == "on_leave" and failure.member == "alice"


def test_a_failing_on_tick_skips_that_tick() -> None:
    """on_tick failing (here: writing members) applies none of its ops and reports the failure."""
    room = joined_room("on_tick")
    failure = room.tick(100, 100)
    assert failure is not None and failure.hook == "on_tick"
    assert room.state["v"] == 1 and "alice" in room.state["members"]


def test_a_failing_on_timer_consumes_the_timer() -> None:
    """on_timer raising: the timer is gone (it fired), its effects are not applied."""
    room = joined_room("on_timer")
    room.act("alice", 2, "set", {"v": 2}, now_ms=0)
    # The room type sets no timer itself: put one through a custom apply.
    room.type.apply = lambda *a: [set_timer("t", 5)]  # type: ignore[method-assign]
    room.act("alice", 3, "set", {}, now_ms=0)
    outcome = room.fire_timers(5)
    assert outcome.fired == ("t",) and [f.hook for f in outcome.failures] == ["on_timer"]
    assert room.state["timers"] == {} and "timer" not in room.state
