"""Several workers sharing one store and one lease table, on a Clock: each room has one
owner, a dead or paused owner is replaced and fenced out, a graceful stop hands rooms over."""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi.cluster.leases import MemoryLeases
from kasagi.cluster.rooms import ClusterRooms, ClusterSettings
from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.errors import Unavailable
from kasagi.service.settings import ServiceSettings
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import RecordingPublisher


class Cluster:
    """N workers on one Clock, one MemoryRoomStore and one MemoryLeases; ``forward`` calls
    the target worker directly unless it is down (as the router would answer
    ``no_such_procedure``)."""

    def __init__(self, n: int, ttl: float = 1.2, beat: float = 0.3) -> None:
        self.clock = Clock()
        self.store = MemoryRoomStore()
        self.leases = MemoryLeases(self.clock, ttl=ttl)
        self.publisher = RecordingPublisher()
        self.workers: dict[str, ClusterRooms] = {}
        self.down: set[str] = set()
        self.exposed: dict[str, list[str]] = {}
        for i in range(1, n + 1):
            self.add(f"w{i}", ttl, beat)

    def add(self, name: str, ttl: float, beat: float) -> ClusterRooms:
        self.exposed[name] = []

        def forward(
            target: str, cmd: OpenCommand, sessions: Any = None, caller: Any = None
        ) -> Deferred[dict[str, Any]]:
            if target in self.down or target not in self.workers:
                return fail(Unavailable("no such procedure"))
            return self.workers[target].open_here(cmd, sessions=sessions, caller=caller)

        worker = ClusterRooms(
            settings=ClusterSettings(worker_id=name, lease_ttl=ttl, heartbeat=beat),
            service=ServiceSettings(tick=0, grace=30),
            clock=self.clock,
            store=self.store,
            leases=self.leases,
            publish=self.publisher,
            expose=self.exposed[name].append,
            withdraw=lambda room, n=name: self.exposed[n].remove(room),
            forward=forward,
            now_ms=lambda: int(self.clock.seconds() * 1000) + 1_000_000,
            rng=random.Random(7),
        )
        self.workers[name] = worker
        worker.start()
        return worker

    def pause(self, name: str) -> None:
        """The worker stops renewing its lease and answering (SIGSTOP)."""
        self.workers[name].pause_heartbeat()
        self.down.add(name)

    def resume(self, name: str) -> None:
        self.down.discard(name)
        self.workers[name].resume_heartbeat()

    def owners(self, room: str) -> list[str]:
        return [name for name, w in self.workers.items() if room in w.registry.runners and name not in self.down]

    def settle(self, seconds: float, step: float = 0.05) -> None:
        for _ in range(int(seconds / step)):
            self.clock.advance(step)


class OwnershipTests(SynchronousTestCase):
    def test_each_room_has_one_owner_whichever_worker_the_lobby_call_lands_on(self):
        """Opening a room through every worker serves it on exactly one, and they all reply alike."""
        cluster = Cluster(3)
        cluster.settle(0.5)
        replies = [self.successResultOf(w.open(OpenCommand("r1", "arena", {}))) for w in cluster.workers.values()]
        self.assertEqual(len({(r["epoch"], r["seq"]) for r in replies}), 1)
        self.assertEqual(len(cluster.owners("r1")), 1)
        owner = cluster.owners("r1")[0]
        self.assertEqual(cluster.exposed[owner], ["r1"])
        self.assertEqual(cluster.leases.record("r1").worker, owner)

    def test_new_rooms_spread_over_the_workers(self):
        """Thirty rooms opened through one worker end up on all three workers, none holding most of them."""
        cluster = Cluster(3)
        cluster.settle(0.5)
        entry = cluster.workers["w1"]
        for i in range(30):
            self.successResultOf(entry.open(OpenCommand(f"r{i}", "arena", {})))
            cluster.settle(0.1)
        counts = sorted(len(w.registry.runners) for w in cluster.workers.values())
        self.assertEqual(sum(counts), 30)
        self.assertGreaterEqual(counts[0], 5, counts)
        self.assertLessEqual(counts[-1], 15, counts)

    def test_a_dead_owner_is_replaced_within_the_lease_time_with_a_new_epoch(self):
        """When the owner stops renewing, another worker serves the room within ttl + one heartbeat,
        at a higher epoch, with every acknowledged action and its cseq result."""
        cluster = Cluster(3)
        cluster.settle(0.5)
        info = self.successResultOf(cluster.workers["w2"].open(OpenCommand("r1", "arena", {})))
        owner = cluster.owners("r1")[0]
        runner = cluster.workers[owner].runner("r1")
        runner.join("alice", "s1", JoinCommand(None))
        ack = runner.act("alice", ActCommand("move", {"dx": 3, "dy": 0}, 41))
        cluster.clock.advance(0)
        ack = self.successResultOf(ack)
        cluster.pause(owner)
        cluster.settle(1.2 + 0.3 + 0.1)
        (successor,) = cluster.owners("r1")
        self.assertNotEqual(successor, owner)
        room = cluster.workers[successor].runner("r1").room
        self.assertGreater(room.epoch, info["epoch"])
        self.assertEqual(room.results["alice"][41], ack["seq"])
        self.assertEqual(cluster.workers[successor].stats["failovers"], 1)

    def test_a_paused_owner_that_wakes_can_not_write(self):
        """An owner paused past its lease finds its next write refused by the epoch fence and
        drops the room; the history holds no duplicate or out-of-order seq."""
        cluster = Cluster(2)
        cluster.settle(0.5)
        self.successResultOf(cluster.workers["w1"].open(OpenCommand("r1", "arena", {})))
        (owner,) = cluster.owners("r1")
        other = "w2" if owner == "w1" else "w1"
        stale = cluster.workers[owner].runner("r1")
        stale.join("alice", "s1", JoinCommand(None))
        cluster.clock.advance(0)
        cluster.pause(owner)
        cluster.settle(2.0)
        fresh = cluster.workers[other].runner("r1")
        fresh.join("bob", "s2", JoinCommand(None))
        cluster.clock.advance(0)
        # The old owner wakes with an action of its own, accepted from its stale copy.
        cluster.down.discard(owner)
        late = stale.act("alice", ActCommand("move", {"dx": 1, "dy": 1}, 7))
        cluster.clock.advance(0)
        self.failureResultOf(late, Unavailable)
        self.assertTrue(stale.suspended or stale.stopped, "the stale copy takes no more actions")
        self.assertRaises(Unavailable, stale.act, "alice", ActCommand("move", {"dx": 1, "dy": 1}, 8))
        cluster.resume(owner)
        cluster.settle(0.5)
        self.assertEqual(cluster.owners("r1"), [other])
        self.assertEqual(cluster.exposed[owner], [])
        stored = self.successResultOf(cluster.store.load("r1"))
        self.assertEqual([e["seq"] for e in stored.tail], list(range(stored.snapshot_seq + 1, stored.seq + 1)))
        self.assertEqual({e["epoch"] for e in stored.tail}, {stored.epoch})
        self.assertNotIn(7, stored.results.get("alice", {}))

    def test_a_lapsed_owner_drops_the_rooms_taken_from_it_on_its_next_heartbeat(self):
        """A worker whose lease lapsed and whose room was claimed meanwhile stops serving it
        when it renews, without waiting for a write to be refused."""
        cluster = Cluster(2)
        cluster.settle(0.5)
        self.successResultOf(cluster.workers["w1"].open(OpenCommand("r1", "arena", {})))
        (owner,) = cluster.owners("r1")
        cluster.pause(owner)
        cluster.settle(2.0)
        self.assertEqual(len(cluster.owners("r1")), 1)
        cluster.resume(owner)
        cluster.settle(0.5)
        self.assertNotIn("r1", cluster.workers[owner].registry.runners)
        self.assertEqual(cluster.workers[owner].stats["lease_lapses"], 1)

    def test_graceful_stop_hands_rooms_over_keeping_the_epoch(self):
        """A worker stopping gracefully commits what it accepted and hands each room to another
        worker at the same epoch, so clients catch up instead of reloading."""
        cluster = Cluster(2)
        cluster.settle(0.5)
        self.successResultOf(cluster.workers["w1"].open(OpenCommand("r1", "arena", {})))
        (owner,) = cluster.owners("r1")
        other = "w2" if owner == "w1" else "w1"
        runner = cluster.workers[owner].runner("r1")
        runner.join("alice", "s1", JoinCommand(None))
        pending = runner.act("alice", ActCommand("move", {"dx": 2, "dy": 2}, 5))
        epoch = runner.room.epoch
        done = cluster.workers[owner].shutdown()
        cluster.settle(0.5)
        self.successResultOf(done)
        ack = self.successResultOf(pending)
        self.assertEqual(cluster.owners("r1"), [other])
        moved = cluster.workers[other].runner("r1").room
        self.assertEqual(moved.epoch, epoch)
        self.assertEqual(moved.results["alice"][5], ack["seq"])
        self.assertEqual(moved.sessions(), {"s1": "alice"}, "the live session moved with the room")
        self.assertTrue(moved.committed["members"]["alice"]["online"])
        self.assertEqual(cluster.workers[other].stats["handovers_in"], 1)
        self.assertEqual(cluster.workers[other].stats["failovers"], 0)

    def test_open_of_a_room_whose_owner_is_unreachable_asks_to_retry(self):
        """While the owner's lease still runs but it does not answer, the lobby says unavailable (retry)."""
        cluster = Cluster(2)
        cluster.settle(0.5)
        self.successResultOf(cluster.workers["w1"].open(OpenCommand("r1", "arena", {})))
        (owner,) = cluster.owners("r1")
        other = "w2" if owner == "w1" else "w1"
        cluster.down.add(owner)
        self.failureResultOf(cluster.workers[other].open(OpenCommand("r1", "arena", {})), Unavailable)


class WildcardFallbackTests(SynchronousTestCase):
    """Calls that reach a worker through the room wildcard (the room's own registration on
    that router not there yet) are served or refused like the room's own procedures."""

    def test_a_keyword_named_like_a_parameter_is_refused_as_bad_input(self):
        """``join(router=1)`` is the client's keyword, not the handler's: invalid_argument
        naming it for an open room, no_such_room for another -- never an internal error."""
        from autobahn.wamp.exception import ApplicationError
        from autobahn.wamp.request import Registration
        from autobahn.wamp.types import CallDetails

        from kasagi import wire
        from kasagi.core.errors import InvalidArgument, NoSuchRoom
        from kasagi.testing import make_cluster_worker

        routers, rooms, _ = make_cluster_worker("w1")
        self.successResultOf(rooms.open(OpenCommand("r1", "arena", {})))
        router = _RegisteringSession()
        self.successResultOf(routers.attach("rs://r1", router))
        wildcard = router.procedures[wire.room_wildcard("join")]

        def details(room: str) -> CallDetails:
            registration = Registration(None, 1, "kasagi.room.", None)
            return CallDetails(registration, procedure=f"kasagi.room.{room}.join", caller=7, caller_authid="alice")

        with self.assertRaises(ApplicationError) as refused:
            wildcard(details=details("r1"), router=1)
        self.assertEqual(refused.exception.error, InvalidArgument.uri)
        self.assertEqual(refused.exception.kwargs["field"], "router")
        with self.assertRaises(ApplicationError) as unknown:
            wildcard(details=details("r2"), router=1)
        self.assertEqual(unknown.exception.error, NoSuchRoom.uri)
        rooms.shutdown()


class _RegisteringSession:
    """A router session that keeps the procedures registered on it, by URI."""

    def __init__(self) -> None:
        self.procedures: dict[str, Any] = {}

    def register(self, endpoint: Any, procedure: str, options: Any = None) -> Deferred[Any]:
        self.procedures[procedure] = endpoint
        return succeed(None)

    def subscribe(self, handler: Any, topic: str, options: Any = None) -> Deferred[Any]:
        return succeed(None)

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        pass
