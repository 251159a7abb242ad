"""A failing or hanging store: acts fail fast, joins keep working, the room recovers alone."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.errors import RoomDamaged, Unavailable
from kasagi.core.room import StreamPosition
from kasagi.service.settings import ServiceSettings
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import FailingStore, make_failing_runner, make_registry


def act(runner, member, cseq, dx=1):  # type: ignore[no-untyped-def]
    return runner.act(member, ActCommand("move", {"dx": dx, "dy": 0}, cseq))


class FailingStoreTests(SynchronousTestCase):
    def test_a_dead_store_trips_fast_failure_and_the_room_recovers_when_it_returns(self):
        """After two failed writes in a row acts are refused at once (no waiting on a dead
        store) while joins still answer; once the store is back the next probe commits and
        acts work again -- the same cseq applied once."""
        runner, clock, published, store = make_failing_runner(ServiceSettings(tick=0.01, store_deadline=2))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        store.mode = "fail"
        d1 = act(runner, "alice", 1)
        clock.advance(0.01)
        self.failureResultOf(d1, Unavailable)
        d2 = act(runner, "alice", 1)  # one failure may be a blip: tried again
        clock.advance(0.01)
        self.failureResultOf(d2, Unavailable)
        with self.assertRaises(Unavailable) as refused:
            act(runner, "alice", 1)
        self.assertIn("not answering", refused.exception.message)
        reply = self.successResultOf(runner.join("bob", "s2", JoinCommand(StreamPosition(runner.room.epoch, 0))))
        self.assertEqual(reply["seq"], 1, "a join is answered from the committed state")
        self.assertEqual([e["seq"] for e in reply["events"]], [1], "catch-up from memory still works")
        store.mode = "ok"
        clock.advance(2.0)  # the backoff ends; bob's presence change probes the store
        self.assertEqual(runner.room.seq, 2)
        d3 = act(runner, "alice", 1)
        clock.advance(0.01)
        self.assertEqual(self.successResultOf(d3)["seq"], 3)
        again = act(runner, "alice", 1)
        self.assertEqual(self.successResultOf(again)["seq"], 3)
        self.assertEqual([e["seq"] for e in published.events()], [1, 2, 3])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_backoff_is_capped_by_the_store_deadline(self):
        """However long the store stays down, a probe happens at least every store deadline."""
        runner, clock, _, store = make_failing_runner(ServiceSettings(tick=0.01, store_deadline=1.5))
        store.mode = "fail"
        runner.join("alice", "s1", JoinCommand(None))
        for _ in range(40):
            clock.advance(0.5)
        attempts = runner.stats["failed_commits"]
        for _ in range(30):
            clock.advance(0.5)
        self.assertGreaterEqual(runner.stats["failed_commits"] - attempts, 9, "15 s: a probe every 1.5 s")
        store.mode = "ok"
        clock.advance(1.5)
        self.assertEqual(runner.room.seq, 1, "the presence change lands once the store is back")


class HangingStoreTests(SynchronousTestCase):
    def _open(self, store: FailingStore, deadline: float = 2.0):  # type: ignore[no-untyped-def]
        registry, clock, published, _ = make_registry(
            store=store, settings=ServiceSettings(tick=0.01, store_deadline=deadline, load_deadline=deadline)
        )
        self.successResultOf(registry.open(OpenCommand("r1", "arena", {})))
        runner = registry.runner("r1")
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        return registry, clock, published, runner

    def test_a_hung_store_fails_acts_by_the_deadline_and_keeps_joins_working(self):
        """When the store stops answering, the caller gets kasagi.error.unavailable by the
        deadline, later acts are refused at once, and joins of the loaded room are still served."""
        store = FailingStore(MemoryRoomStore(), affects=FailingStore.ALL_OPERATIONS)
        registry, clock, _, runner = self._open(store)
        store.mode = "hang"
        d = act(runner, "alice", 7)
        clock.advance(0.01)
        clock.advance(1.98)
        self.assertNoResult(d)
        clock.advance(0.02)
        self.failureResultOf(d, Unavailable)
        self.assertIs(registry.runner("r1"), runner, "the loaded copy stays reachable")
        self.assertRaises(Unavailable, act, runner, "alice", 8)
        reply = self.successResultOf(runner.join("bob", "s2", JoinCommand(None)))
        self.assertEqual((reply["seq"], reply["state"]), (runner.room.seq, runner.room.committed))
        for _ in range(60):
            clock.advance(0.5)  # reload attempts hang too: nothing changes, nothing crashes
        self.assertIs(registry.runner("r1"), runner)
        registry.stop()
        self.assertEqual([c for c in clock.getDelayedCalls() if c.active()], [])

    def test_when_the_store_returns_the_room_reloads_and_a_late_write_counts_once(self):
        """The write that outlived its deadline lands after all; when the store answers again
        the room reloads with it, keeps its sessions, and the caller's retry (same cseq) gets
        that write's seq instead of applying again."""
        store = FailingStore(MemoryRoomStore(), affects=FailingStore.ALL_OPERATIONS)
        registry, clock, _, runner = self._open(store)
        epoch = runner.room.epoch
        x0 = runner.room.committed["players"]["alice"]["x"]
        store.mode = "hang"
        d = act(runner, "alice", 7, dx=3)
        clock.advance(0.01)
        clock.advance(2.0)
        self.failureResultOf(d, Unavailable)
        self.successResultOf(runner.join("bob", "s2", JoinCommand(None)))
        for _ in range(20):
            clock.advance(0.5)  # reload attempts hang and are retried
        # The store comes back; the write queued while it was down is applied now.
        store.mode = "ok"
        (late, batch) = store.hanging.pop()
        self.successResultOf(store.inner.append(batch))
        late.callback(None)
        for hung, name, args in store.hanging_calls:
            getattr(store.inner, name)(*args).chainDeferred(hung)
        store.hanging_calls.clear()
        clock.advance(5.1)  # the next reload attempt
        new = registry.runner("r1")
        self.assertIsNot(new, runner)
        self.assertEqual(new.room.epoch, epoch, "history intact: same epoch")
        self.assertEqual(new.room.results["alice"][7], batch.seq, "the late write is part of the room")
        self.assertEqual(new.room.seq, batch.seq + 1, "seq continues: bob's presence is the next event")
        self.assertEqual(set(new.room.sessions().values()), {"alice", "bob"})
        retry = act(new, "alice", 7, dx=3)
        self.assertEqual(self.successResultOf(retry)["seq"], batch.seq, "applied once")
        d2 = act(new, "alice", 8, dx=1)
        clock.advance(0.01)
        self.assertEqual(self.successResultOf(d2)["seq"], new.room.seq)
        self.assertEqual(new.room.committed["players"]["alice"]["x"], min(1000, x0 + 3 + 1))
        registry.stop()


class StoredDataTests(SynchronousTestCase):
    def test_a_room_whose_stored_events_do_not_apply_is_refused_and_left_alone(self):
        """Opening a room whose stored event does not apply fails with kasagi.error.unavailable
        (not retryable) naming the room and the event; other rooms open; the store is unchanged."""
        store = MemoryRoomStore()
        first, clock, _, _ = make_registry(store=store, settings=ServiceSettings(tick=0))
        self.successResultOf(first.open(OpenCommand("bad", "doc", {})))
        runner = first.runner("bad")
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0)
        record = store.record("bad")
        record.events[0][0]["ops"].append(["del", ["nowhere", "at", "all"]])
        before = repr(record)
        second, *_ = make_registry(store=store)
        failure = self.failureResultOf(second.open(OpenCommand("bad", "doc", {})), RoomDamaged)
        self.assertEqual(failure.value.uri, "kasagi.error.unavailable")
        self.assertFalse(failure.value.details()["retryable"])
        self.assertIn("room bad", failure.value.message)
        self.assertIn("event 1 does not apply", failure.value.message)
        self.successResultOf(second.open(OpenCommand("good", "doc", {})))
        self.assertEqual(repr(store.record("bad")), before)
        self.flushLoggedErrors()

    def test_a_room_with_missing_history_continues_in_a_new_epoch(self):
        """When events after the snapshot are missing, the room continues from the last event
        that connects, in a new epoch (clients re-join with a snapshot); later results go."""
        store = MemoryRoomStore()
        first, clock, _, _ = make_registry(store=store, settings=ServiceSettings(tick=0))
        self.successResultOf(first.open(OpenCommand("r1", "arena", {})))
        runner = first.runner("r1")
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0)
        for cseq in range(1, 5):
            act(runner, "alice", cseq)
            clock.advance(0)
        old_epoch, head = runner.room.epoch, runner.room.seq
        record = store.record("r1")
        record.events = [(e, t) for e, t in record.events if e["seq"] <= head - 2]  # lose the last two
        second, clock2, _, _ = make_registry(store=store, settings=ServiceSettings(tick=0))
        clock2.advance(old_epoch / 1000 + 60)
        info = self.successResultOf(second.open(OpenCommand("r1", "arena", {})))
        self.assertGreater(info["epoch"], old_epoch)
        self.assertEqual(info["seq"], head - 2)
        stored = self.successResultOf(store.load("r1"))
        self.assertEqual((stored.epoch, stored.seq, stored.tail), (info["epoch"], head - 2, []))
        self.assertNotIn(4, stored.results["alice"], "the lost action's result is gone: a retry applies it again")


class AnswersDuringAnOutageTests(SynchronousTestCase):
    def test_a_repeated_applied_cseq_is_answered_while_the_store_is_down(self):
        """While acts are refused fast (the store failed twice), a retry of an action that was
        already applied still gets its first result; a new action gets unavailable."""
        runner, clock, _, store = make_failing_runner(ServiceSettings(tick=0.01, store_deadline=2))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0.01)
        first = act(runner, "alice", 1)
        clock.advance(0.01)
        seq = self.successResultOf(first)["seq"]
        store.mode = "fail"
        for cseq in (2, 3):
            d = act(runner, "alice", cseq)
            clock.advance(0.01)
            self.failureResultOf(d, Unavailable)
        self.assertEqual(self.successResultOf(act(runner, "alice", 1)), {"seq": seq, "cseq": 1})
        with self.assertRaises(Unavailable):
            act(runner, "alice", 4)

    def test_a_failed_history_read_answers_the_join_with_a_snapshot(self):
        """A join(since) older than memory holds, while the store's history can't be read,
        gets a snapshot at the head instead of an error."""
        from kasagi.core.room import RoomConfig
        from kasagi.testing import make_room, make_runner

        room = make_room(config=RoomConfig(history_events=2, history_min_age_ms=0))
        store = FailingStore(MemoryRoomStore(history_events=100), affects=frozenset({"events_since"}))
        store.inner.create(room.room_id, "arena", {}, room.epoch, room.committed)
        runner, clock, _ = make_runner(room, store=store, settings=ServiceSettings(tick=0))
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0)
        for c in range(1, 6):
            act(runner, "alice", c)
            clock.advance(1)  # events age, so memory keeps only the last two
        reply = self.successResultOf(runner.join("alice", "s1", JoinCommand(StreamPosition(room.epoch, 1))))
        self.assertEqual([e["seq"] for e in reply["events"]], [2, 3, 4, 5, 6], "the store's history serves it")
        store.mode = "fail"
        reply = self.successResultOf(runner.join("alice", "s1", JoinCommand(StreamPosition(room.epoch, 1))))
        self.assertEqual((reply["seq"], reply["state"]), (runner.room.seq, runner.room.committed))
