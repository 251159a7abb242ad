"""The room runner on a Clock: per-tick batching, ack after the store, failures and expiry."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.core.errors import Unavailable
from kasagi.service.settings import ServiceSettings
from kasagi.testing import MemoryRoomStore, make_failing_runner, make_room, make_runner
from kasagi.wire import room_topic


def act(runner, member, cseq, dx=1, dy=0):
    return runner.act(member, ActCommand("move", {"dx": dx, "dy": dy}, cseq))


class BatchingTests(SynchronousTestCase):
    def test_actions_of_one_tick_share_one_event_and_are_acked_after_it(self):
        """Moves within one 50 ms tick are answered together, by one event, and not before the tick."""
        runner, clock, published = make_runner(settings=ServiceSettings(tick=0.05))
        joins = runner.join("alice", "s1", JoinCommand(None)), runner.join("bob", "s2", JoinCommand(None))
        clock.advance(0.05)
        self.assertEqual(len(published.events()), 1, "presence of both members in one event")
        for joined in joins:
            self.successResultOf(joined)
        clock.advance(1)
        d1, d2, d3 = act(runner, "alice", 1), act(runner, "bob", 1), act(runner, "alice", 2)
        self.assertNoResult(d1)
        clock.advance(0.05)
        self.assertEqual(self.successResultOf(d1), {"seq": 2, "cseq": 1})
        self.assertEqual(self.successResultOf(d2), {"seq": 2, "cseq": 1})
        self.assertEqual(self.successResultOf(d3), {"seq": 2, "cseq": 2})
        topics = {t for t, _ in published.published}
        self.assertEqual(topics, {room_topic("r1")})
        self.assertEqual([e["seq"] for e in published.events()], [1, 2])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_tick_zero_commits_each_action_at_once(self):
        """With tick 0 every action gets its own event as soon as the reactor turns."""
        runner, clock, _ = make_runner(settings=ServiceSettings(tick=0))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0)
        d = act(runner, "alice", 1)
        clock.advance(0)
        self.assertEqual(self.successResultOf(d)["seq"], 2)
        d = act(runner, "alice", 2)
        clock.advance(0)
        self.assertEqual(self.successResultOf(d)["seq"], 3)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_ack_waits_for_the_store_and_next_batch_waits_for_the_first(self):
        """A caller is answered only when the store confirms; later actions queue for the next write."""
        runner, clock, published, store = make_failing_runner(ServiceSettings(tick=0.01, store_deadline=5))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        store.mode = "hang"
        clock.advance(1)
        d1 = act(runner, "alice", 1)
        clock.advance(0.01)
        d2 = act(runner, "alice", 2)
        clock.advance(0.5)
        self.assertNoResult(d1)
        self.assertNoResult(d2)
        self.assertEqual(len(store.hanging), 1, "one write in flight at a time")
        hung, batch = store.hanging.pop()
        store.mode = "ok"
        self.successResultOf(store.inner.append(batch))
        hung.callback(None)
        self.assertEqual(self.successResultOf(d1)["seq"], 2)
        clock.advance(0.01)
        self.assertEqual(self.successResultOf(d2)["seq"], 3)
        self.assertEqual([e["seq"] for e in published.events()], [1, 2, 3])


class FailureTests(SynchronousTestCase):
    def test_store_failure_fails_callers_with_unavailable_and_changes_nothing(self):
        """When the store refuses, every waiting caller gets kasagi.error.unavailable and state rolls back."""
        runner, clock, published, store = make_failing_runner(ServiceSettings(tick=0.01))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        before = dict(runner.room.committed["players"]["alice"])
        store.mode = "fail"
        clock.advance(1)
        d = act(runner, "alice", 1, dx=5)
        clock.advance(0.01)
        failure = self.failureResultOf(d, Unavailable)
        self.assertTrue(failure.value.retryable)
        self.assertEqual(runner.room.committed["players"]["alice"], before)
        self.assertEqual(runner.room.state["players"]["alice"], before)
        self.assertEqual(len(published.events()), 1)
        store.mode = "ok"
        d = act(runner, "alice", 1, dx=5)
        clock.advance(0.01)
        self.assertEqual(self.successResultOf(d)["seq"], 2, "the retry with the same cseq applies once")

    def test_store_that_hangs_is_cut_off_at_the_deadline(self):
        """A write that never answers fails its callers when the store deadline passes."""
        lost = []
        runner, clock, _, store = make_failing_runner(
            ServiceSettings(tick=0.01, store_deadline=2), on_lost=lambda r, f: lost.append(f)
        )
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        store.mode = "hang"
        d = act(runner, "alice", 1)
        clock.advance(0.01)
        clock.advance(1.9)
        self.assertNoResult(d)
        clock.advance(0.2)
        self.failureResultOf(d, Unavailable)
        self.assertEqual(len(lost), 1, "the room reloads: only the store knows if the write landed")
        self.assertTrue(runner.suspended, "until the reload, joins are served and acts refused")


class PresenceTests(SynchronousTestCase):
    def test_grace_expiry_removes_the_member_without_any_call(self):
        """After the last session closes, the member is removed when its grace period ends."""
        runner, clock, _ = make_runner(settings=ServiceSettings(tick=0.01, grace=30))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        runner.session_closed("s1")
        clock.advance(0.01)
        self.assertFalse(runner.room.committed["members"]["alice"]["online"])
        clock.advance(29.9)
        self.assertIn("alice", runner.room.committed["players"])
        clock.advance(0.2)
        self.assertNotIn("alice", runner.room.committed["members"])
        self.assertNotIn("alice", runner.room.committed["players"])
        self.assertEqual(clock.getDelayedCalls(), [])


class CatchUpTests(SynchronousTestCase):
    def test_catch_up_beyond_memory_comes_from_the_store(self):
        """A join(since) older than the in-memory history is served from the store's history."""
        from kasagi.core.room import RoomConfig, StreamPosition

        room = make_room(config=RoomConfig(history_events=2, history_min_age_ms=0))
        store = MemoryRoomStore(history_events=100)
        store.create(room.room_id, "arena", {}, room.epoch, room.committed)
        runner, clock, _ = make_runner(room, store=store, settings=ServiceSettings(tick=0))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0)
        for c in range(1, 6):
            act(runner, "alice", c)
            clock.advance(0)
        reply = self.successResultOf(runner.join("alice", "s1", JoinCommand(StreamPosition(room.epoch, 1))))
        self.assertEqual([e["seq"] for e in reply["events"]], [2, 3, 4, 5, 6])
