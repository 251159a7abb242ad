"""What a server loop costs: nothing for a room nobody is in, and a lateness histogram for the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from examples.chase.rooms import Chase
from kasagi.core.commands import JoinCommand
from kasagi.core.room import Room
from kasagi.metrics import RoomsCollector
from kasagi.rooms import Effect
from kasagi.service.loop import lateness_key
from kasagi.service.runner import RoomRunner
from kasagi.service.settings import ServiceSettings
from kasagi.testing import make_runner


class CountingChase(Chase):
    """The chase example, counting its on_tick calls."""

    calls = 0

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> Sequence[Effect]:
        CountingChase.calls += 1
        return super().on_tick(state, now_ms, dt_ms)


def make(clock: Clock) -> RoomRunner:
    room = Room("idle1", CountingChase(), epoch=1)
    runner, _, _ = make_runner(
        room, clock=clock, settings=ServiceSettings(tick=0.02), now_ms=lambda: round(clock.seconds() * 1000)
    )
    return runner


class _Registry:
    def __init__(self, runner: RoomRunner) -> None:
        self.runners = {runner.room.room_id: runner}
        self.retired_stats: dict[str, int] = {}


class TickCostTests(SynchronousTestCase):
    def test_a_room_without_online_members_or_timers_schedules_nothing(self) -> None:
        """A 20 Hz room nobody is in calls no hook and puts no call on the clock, for an hour."""
        clock = Clock()
        runner = make(clock)
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.5)
        self.assertGreater(runner.stats["ticks"], 0)
        runner.leave("alice", "s1")
        clock.advance(31)  # the leave commits and alice's grace period (30 s) ends: she is gone
        clock.advance(0.1)  # her removal commits
        self.assertFalse(runner.loop.ticking)
        self.assertEqual(runner.room.next_timer_at(), None)
        self.assertEqual(clock.getDelayedCalls(), [])
        calls, ticks = CountingChase.calls, runner.stats["ticks"]
        clock.advance(3600)
        self.assertEqual((CountingChase.calls, runner.stats["ticks"]), (calls, ticks))
        runner.stop()

    def test_tick_lateness_is_counted_in_a_histogram_in_the_metrics(self) -> None:
        """Ticks run on time count as 0 ms late; a wake-up 130 ms late puts its oldest ticks in
        the 200 ms bucket, and the metrics expose the histogram."""
        clock = Clock()
        runner = make(clock)
        runner.join("alice", "s1", JoinCommand(None))
        for _ in range(10):
            clock.advance(0.05)  # every tick's wake-up comes exactly at its due time
        on_time = runner.stats["ticks"]
        self.assertEqual(runner.stats[lateness_key(1)], on_time)
        clock.advance(0.18)  # one late wake-up: ticks due 130, 80, 30 ms ago (and 0)
        self.assertGreater(runner.stats[lateness_key(200)], 0)
        self.assertGreater(runner.stats["tick_late_ms"], 0)
        registry = CollectorRegistry()
        registry.register(RoomsCollector(_Registry(runner)))
        count = registry.get_sample_value("kasagi_room_tick_lateness_seconds_count")
        self.assertEqual(count, runner.stats["ticks"])
        self.assertEqual(
            registry.get_sample_value("kasagi_room_tick_lateness_seconds_bucket", {"le": "0.001"}), on_time
        )
        runner.stop()
