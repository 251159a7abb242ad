"""Admission on a Clock: the reactor's lag stretches a busy room's tick, then refuses acts to their sender."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.admission import AdmissionLimits
from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.core.errors import RateLimited
from kasagi.service.admission import SAMPLE_EVERY, Admission
from kasagi.service.runner import RoomRunner
from kasagi.service.settings import ServiceSettings
from kasagi.testing import RecordingPublisher, make_runner


def _runner(clock: Clock, admission: Admission) -> tuple[RoomRunner, RecordingPublisher]:
    runner, _, publish = make_runner(clock=clock, settings=ServiceSettings(tick=0.02), admission=admission)
    return runner, publish


def _late_turns(clock: Clock, late: float, n: int) -> None:
    """``n`` reactor turns that each run ``late`` seconds behind (timers fire late)."""
    for _ in range(n):
        clock.advance(SAMPLE_EVERY + late)


def _act(runner: RoomRunner, cseq: int):  # type: ignore[no-untyped-def]
    return runner.act("alice", ActCommand("move", {"dx": 1, "dy": 0}, cseq))


def _try_act(runner: RoomRunner, cseq: int):  # type: ignore[no-untyped-def]
    """The act's Deferred, or the refusal it raised at once."""
    try:
        return _act(runner, cseq)
    except RateLimited as exc:
        return exc


class AdmissionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.admission = Admission(self.clock, AdmissionLimits(tick=0.02, max_tick=0.1, overload_lag=0.04))
        self.admission.start()
        self.runner, self.published = _runner(self.clock, self.admission)
        self.joined = self.runner.join("alice", "s1", JoinCommand(None))
        self.clock.advance(0.02)
        self.successResultOf(self.joined)

    def tearDown(self) -> None:
        self.runner.stop()
        self.admission.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_a_quiet_reactor_commits_every_20_ms_and_refuses_nothing(self):
        """With no lag an act is committed one 20 ms tick after the last commit and acknowledged."""
        _late_turns(self.clock, 0.0, 10)
        d = _act(self.runner, 1)
        self.clock.advance(0.02)
        self.assertEqual(self.successResultOf(d)["cseq"], 1)

    def test_a_lagging_reactor_stretches_the_tick_before_refusing(self):
        """At 30 ms of lag the tick is longer than 20 ms and acts are still accepted; the act is acknowledged after the
        stretched tick (counted in whole 20 ms steps of the commit grid), not one 20 ms tick after the last commit."""
        _late_turns(self.clock, 0.03, 40)
        tick = self.admission.tick()
        self.assertGreater(tick, 0.06)
        self.assertLess(tick, 0.1)
        first = _act(self.runner, 1)
        self.clock.advance(0)
        self.assertEqual(self.successResultOf(first)["cseq"], 1)
        d = _act(self.runner, 2)
        self.clock.advance(0.04)  # on the 20 ms grid a tick over 60 ms commits 40 ms or more after the last commit
        self.assertNoResult(d)
        self.clock.advance(tick - 0.04 + 0.005)
        self.assertEqual(self.successResultOf(d)["cseq"], 2)

    def test_sustained_overload_refuses_some_acts_with_retry_after_and_changes_nothing(self):
        """Past the bound some acts fail at once with rate_limited and a retry_after, the others are committed; a
        refused act is not applied."""
        _late_turns(self.clock, 0.1, 30)  # past overload_lag, short of a backlog
        self.assertEqual(self.admission.tick(), 0.1)
        results = [_try_act(self.runner, cseq) for cseq in range(1, 101)]
        refused = [r for r in results if isinstance(r, RateLimited)]
        self.assertTrue(refused, "some acts are refused")
        self.assertLess(len(refused), 100, "not every act is refused")
        for exc in refused:
            self.assertGreater(exc.extra["retry_after"], 0)
        self.assertEqual(self.runner.stats["overloaded"], len(refused))
        self.assertEqual(self.runner.stats["actions"], 100 - len(refused), "a refused act is not applied")
        self.clock.advance(0.1)
        for d in results:
            if not isinstance(d, RateLimited):
                self.assertIn("seq", self.successResultOf(d))
        self.assertEqual(self.admission.control.in_flight, 0)

    def test_a_backlogged_process_refuses_every_act_and_applies_none(self):
        """Half a second late turn after turn (a backlog), every act fails at once with rate_limited and nothing is
        applied; once the turns are on time again acts are accepted."""
        _late_turns(self.clock, 0.5, 30)
        results = [_try_act(self.runner, cseq) for cseq in range(1, 21)]
        self.assertTrue(all(isinstance(r, RateLimited) for r in results))
        self.assertEqual(self.runner.stats["actions"], 0)
        _late_turns(self.clock, 0.0, 400)
        d = _try_act(self.runner, 21)
        self.assertNotIsInstance(d, RateLimited)
        self.clock.advance(0.1)
        self.assertIn("seq", self.successResultOf(d))

    def test_the_node_recovers_by_itself_when_the_lag_is_gone(self):
        """After the overload, turns on time bring the tick back to 20 ms and every act is admitted."""
        _late_turns(self.clock, 0.2, 30)
        _late_turns(self.clock, 0.0, 400)
        self.assertAlmostEqual(self.admission.tick(), 0.02, places=3)
        results = [_act(self.runner, cseq) for cseq in range(1, 51)]
        self.clock.advance(0.02)
        self.assertEqual([self.successResultOf(d)["cseq"] for d in results], list(range(1, 51)))
