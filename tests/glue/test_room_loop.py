"""The server loop and durable timers of a running room, on a Clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.core.errors import Internal
from kasagi.core.room import Room
from kasagi.rooms import Effect, RoomType, set_op, set_timer
from kasagi.service.runner import RoomRunner
from kasagi.service.settings import ServiceSettings
from kasagi.testing import RecordingPublisher, make_runner


class Ticker(RoomType):
    """10 Hz: each tick adds dt to ``elapsed``; ``wait`` sets a timer; ``boom`` raises."""

    name = "ticker"
    actions = frozenset({"wait", "boom", "note"})
    tick_hz = 10

    def initial_state(self) -> dict[str, Any]:
        return {"elapsed": 0, "ticks": [], "fired": []}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> Sequence[Effect]:
        if action == "boom":
            raise RuntimeError("a bug in apply")
        if action == "wait":
            return [set_timer(args["name"], after_ms=args["ms"])]
        return [set_op(["note"], args.get("text", ""))]

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> Sequence[Effect]:
        return [set_op(["elapsed"], state["elapsed"] + dt_ms), set_op(["ticks"], [*state["ticks"], now_ms])]

    def on_timer(self, state: Mapping[str, Any], name: str, data: Any, now_ms: int) -> Sequence[Effect]:
        return [set_op(["fired"], [*state["fired"], [name, now_ms]])]


class Quiet(Ticker):
    """No loop (tick_hz 0): only timers wake the room."""

    name = "quiet"
    tick_hz = 0


def make(room_type: RoomType | None = None, tick: float = 0.05) -> tuple[RoomRunner, Clock, RecordingPublisher]:
    room = Room("r1", room_type or Ticker(), epoch=1)
    clock = Clock()
    return make_runner(
        room, clock=clock, settings=ServiceSettings(tick=tick), now_ms=lambda: round(clock.seconds() * 1000)
    )


def act(runner: RoomRunner, member: str, cseq: int, action: str, **args: Any) -> Any:
    return runner.act(member, ActCommand(action, args, cseq))


class LoopTests(SynchronousTestCase):
    def test_ticks_run_at_a_fixed_timestep_and_commit_with_the_actions(self) -> None:
        """At 10 Hz a second runs 10 ticks, 100 ms apart, each with dt 100."""
        runner, clock, _ = make(tick=0.05)
        runner.join("alice", "s1", JoinCommand(None))
        for _ in range(20):
            clock.advance(0.05)
        state = runner.room.committed
        self.assertEqual(state["ticks"], [100 * k for k in range(1, 11)])
        self.assertEqual(state["elapsed"], 1000)
        self.assertEqual(runner.stats["ticks"], 10)
        runner.stop()

    def test_ticks_and_actions_of_one_commit_tick_are_one_event(self) -> None:
        """With a 500 ms commit tick, the ticks and an action of that window commit in one event."""
        runner, clock, published = make(tick=0.5)
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.25)
        d = act(runner, "alice", 1, "note", text="hi")
        clock.advance(0.5)
        seq = self.successResultOf(d)["seq"]
        [event] = [e for e in published.events() if e["seq"] == seq]
        self.assertEqual({tuple(op[1]) for op in event["ops"]}, {("note",), ("ticks",), ("elapsed",)})
        self.assertEqual(runner.room.committed["ticks"][:2], [100, 200])
        runner.stop()

    def test_a_late_wake_up_catches_up_without_drift_and_a_long_one_is_lagging(self) -> None:
        """After a 350 ms stall the 3 missed ticks run at their times; past the bound ticks are skipped."""
        runner, clock, _ = make(tick=0.05)
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.35)  # one wake-up, 350 ms late
        clock.advance(0.05)
        self.assertEqual(runner.room.committed["ticks"], [100, 200, 300])
        clock.advance(10.0)  # a 10 s stall: 100 ticks due, the latest 5 run, 95 skipped
        self.assertEqual(runner.room.state["ticks"], [100, 200, 300, 400, 10_000, 10_100, 10_200, 10_300, 10_400])
        self.assertEqual(runner.stats["ticks_skipped"], 95)
        self.assertEqual(runner.room.state["elapsed"], 900, "a skipped tick's time is not handed on")
        clock.advance(0.1)
        self.assertEqual(runner.room.state["ticks"][-1], 10_500, "the grid is kept after the skip")
        runner.stop()

    def test_the_loop_pauses_when_the_room_is_empty(self) -> None:
        """With no member online and no timer pending nothing is scheduled and no tick runs."""
        runner, clock, _ = make()
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.25)
        runner.leave("alice", "s1")
        clock.advance(0.05)
        ticks = runner.stats["ticks"]
        self.assertFalse(runner.loop.ticking)
        clock.advance(60)
        self.assertEqual(runner.stats["ticks"], ticks)
        runner.room.expire(10**12)  # grace over: nothing of the room is on the clock
        runner.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_a_timer_fires_once_at_its_time_in_a_room_without_a_loop(self) -> None:
        """A durable timer wakes a loop-less room at its due time, fires once, and is committed."""
        runner, clock, _ = make(Quiet())
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.1)
        act(runner, "alice", 1, "wait", name="t", ms=1000)
        runner.leave("alice", "s1")
        clock.advance(0.95)
        self.assertEqual(runner.room.state["fired"], [])
        clock.advance(0.05)
        self.assertEqual(runner.room.state["fired"], [["t", 1100]])
        clock.advance(0.1)
        self.assertEqual(runner.room.committed["fired"], [["t", 1100]])
        self.assertNotIn("t", runner.room.committed["timers"])
        clock.advance(100)
        self.assertEqual(runner.room.committed["fired"], [["t", 1100]])
        self.assertEqual(runner.stats["timers_fired"], 1)
        runner.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_a_raising_hook_refuses_only_its_action_and_the_room_keeps_serving(self) -> None:
        """apply raising: that act fails with internal and is logged; other actions and ticks go on."""
        runner, clock, _ = make()
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.05)
        good = act(runner, "alice", 1, "note", text="before")
        try:
            act(runner, "alice", 2, "boom")
        except Internal as error:
            self.assertEqual(error.details()["hook"], "apply")
        else:
            self.fail("boom was not refused")
        after = act(runner, "alice", 3, "note", text="after")
        clock.advance(0.2)
        self.assertEqual(self.successResultOf(good)["cseq"], 1)
        self.assertEqual(self.successResultOf(after)["cseq"], 3)
        self.assertEqual(runner.room.committed["note"], "after")
        self.assertEqual(runner.stats["hook_failures"], 1)
        self.assertGreater(runner.stats["ticks"], 0)
        self.assertEqual(len(self.flushLoggedErrors()), 0)
        runner.stop()
