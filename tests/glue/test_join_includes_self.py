"""A join is an action: the runner answers it when the event carrying the member's presence
and its arena player is committed, at that event's seq."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import JoinCommand
from kasagi.core.room import StreamPosition
from kasagi.service.settings import ServiceSettings
from kasagi.testing import make_failing_runner, make_runner


class JoinIncludesSelfTests(SynchronousTestCase):
    def test_the_join_reply_holds_the_joiner_at_the_seq_of_its_event(self):
        """The reply comes with the tick's commit: a snapshot at that seq, the member online, its player there."""
        runner, clock, published = make_runner(settings=ServiceSettings(tick=0.05))
        clock.advance(10)
        d = runner.join("alice", "s1", JoinCommand(None))
        self.assertNoResult(d)
        clock.advance(0.05)
        reply = self.successResultOf(d)
        event = published.events()[-1]
        self.assertEqual(reply["seq"], event["seq"])
        self.assertEqual(reply["member"], "alice")
        self.assertEqual(reply["state"]["members"]["alice"], {"online": True, "since": 10_000})
        self.assertIn("alice", reply["state"]["players"])
        self.assertEqual(reply["state"], runner.room.committed)
        runner.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_a_catch_up_join_brings_the_client_through_its_own_event(self):
        """join(since) answers with every event after since up to and including the one that brings the member back."""
        runner, clock, published = make_runner(settings=ServiceSettings(tick=0.05))
        joins = runner.join("alice", "s1", JoinCommand(None)), runner.join("bob", "s2", JoinCommand(None))
        clock.advance(0.05)
        for joined in joins:
            self.successResultOf(joined)
        runner.leave("bob", "s2")
        clock.advance(0.05)
        since = StreamPosition(runner.room.epoch, 1)
        d = runner.join("bob", "s3", JoinCommand(since))
        clock.advance(0.05)
        reply = self.successResultOf(d)
        self.assertEqual(reply["seq"], 3)
        self.assertEqual([e["seq"] for e in reply["events"]], [2, 3])
        self.assertEqual(reply["events"], published.events()[1:])
        self.assertTrue(runner.room.committed["members"]["bob"]["online"])
        runner.stop()

    def test_joins_of_one_tick_are_answered_by_one_event(self):
        """Two members joining within a tick are answered together, both in the same snapshot."""
        runner, clock, published = make_runner(settings=ServiceSettings(tick=0.05))
        joins = runner.join("alice", "s1", JoinCommand(None)), runner.join("bob", "s2", JoinCommand(None))
        clock.advance(0.05)
        replies = [self.successResultOf(d) for d in joins]
        self.assertEqual(len(published.events()), 1)
        for reply in replies:
            self.assertEqual((reply["seq"], set(reply["state"]["players"])), (1, {"alice", "bob"}))
        runner.stop()

    def test_a_join_whose_event_fails_is_answered_from_the_committed_state(self):
        """When the store refuses the join's event the join still answers, at once, without its own effects."""
        runner, clock, _, store = make_failing_runner(ServiceSettings(tick=0.01, store_deadline=2))
        store.mode = "fail"
        d = runner.join("alice", "s1", JoinCommand(None))
        self.assertNoResult(d)
        clock.advance(0.01)
        reply = self.successResultOf(d)
        self.assertEqual((reply["seq"], reply["state"]), (0, runner.room.committed))
        store.mode = "ok"
        clock.advance(1)
        self.assertIn("alice", runner.room.committed["players"], "its presence lands with the next commit")
        runner.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_a_join_waiting_when_the_room_stops_is_answered_from_the_committed_state(self):
        """Stopping the room answers a join still waiting for its event, from what was committed."""
        runner, clock, _ = make_runner(settings=ServiceSettings(tick=0.05))
        d = runner.join("alice", "s1", JoinCommand(None))
        runner.stop()
        reply = self.successResultOf(d)
        self.assertEqual((reply["seq"], reply["state"]), (0, runner.room.committed))
        self.assertEqual(clock.getDelayedCalls(), [])
