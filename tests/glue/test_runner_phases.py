"""A runner's phase follows its store: degraded on a failed write, live again on the next
good one, suspended until reloaded, stopped after a drain."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.core.errors import Unavailable
from kasagi.core.lifecycle import Phase
from kasagi.service.settings import ServiceSettings
from kasagi.testing import make_failing_runner


class RunnerPhaseTests(SynchronousTestCase):
    def test_a_failed_write_degrades_the_room_and_the_next_good_one_makes_it_live(self):
        """One failed commit makes the runner degraded; once the store answers it is live again."""
        runner, clock, _, store = make_failing_runner(ServiceSettings(tick=0.01, store_deadline=2))
        self.assertIs(runner.phase, Phase.LIVE)
        store.mode = "fail"
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        self.assertIs(runner.phase, Phase.DEGRADED)
        store.mode = "ok"
        clock.advance(0.01)
        self.assertIs(runner.phase, Phase.LIVE)
        self.assertEqual(runner.room.seq, 1)
        runner.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_a_suspended_room_serves_joins_refuses_acts_and_a_drain_stops_it_not_intact(self):
        """While suspended acts are refused and joins served; draining it stops it at once and
        reports its history as not intact."""
        runner, clock, _, _ = make_failing_runner(ServiceSettings(tick=0.01, store_deadline=0.5))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        runner.suspend()
        self.assertIs(runner.phase, Phase.SUSPENDED)
        with self.assertRaises(Unavailable):
            runner.act("alice", ActCommand("move", {"dx": 1, "dy": 0}, 1))
        self.successResultOf(runner.join("alice", "s2", JoinCommand(None)))
        self.assertFalse(self.successResultOf(runner.drain()))
        self.assertIs(runner.phase, Phase.STOPPED)
        self.assertEqual(clock.getDelayedCalls(), [])
