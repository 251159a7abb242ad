"""Idle rooms are unloaded and reloaded, and a member's live rooms are capped: a registry on a Clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.errors import Full, NoSuchRoom
from kasagi.rooms import Effect, RoomType, set_op, set_timer
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.service.registry import RoomRegistry
from kasagi.service.settings import ServiceSettings
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import RecordingPublisher
from kasagi.wamp.edge import to_application_error

IDLE = 60.0
GRACE = 30.0


class Alarm(RoomType):
    """No loop; ``wait`` sets a durable timer, ``note`` writes a note; the timer records its firing."""

    name = "alarm"
    actions = frozenset({"wait", "note"})

    def initial_state(self) -> dict[str, Any]:
        return {"fired": [], "note": ""}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> Sequence[Effect]:
        if action == "wait":
            return [set_timer("t", after_ms=args["ms"])]
        return [set_op(["note"], args["text"])]

    def on_timer(self, state: Mapping[str, Any], name: str, data: Any, now_ms: int) -> Sequence[Effect]:
        return [set_op(["fired"], [*state["fired"], name])]


class IdleRoomTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MemoryRoomStore()
        self.withdrawn: list[str] = []
        self.settings = ServiceSettings(tick=0.01, room_idle=IDLE, grace=GRACE, max_rooms=3, max_rooms_per_member=2)
        self.registry = RoomRegistry(
            clock=self.clock,
            store=self.store,
            publish=RecordingPublisher(),
            expose=lambda room: None,
            withdraw=self.withdrawn.append,
            settings=self.settings,
            now_ms=lambda: int(self.clock.seconds() * 1000),
            types={**BUILTIN_TYPES, "alarm": Alarm},
        )

    def tearDown(self) -> None:
        self.registry.stop()
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])

    def open(self, room: str, member: str | None = "alice", type_name: str = "alarm") -> dict[str, Any]:
        result: dict[str, Any] = self.successResultOf(self.registry.open(OpenCommand(room, type_name, {}), member))
        return result

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass in small steps (each timer runs at its own time)."""
        self.clock.pump([0.25] * int(seconds * 4))
        self.clock.advance(seconds - int(seconds * 4) * 0.25)

    def join(self, room: str, member: str, session: str) -> None:
        d = self.registry.runner(room).join(member, session, JoinCommand(None))
        self.clock.advance(0.01)
        self.successResultOf(d)

    def act(self, room: str, member: str, cseq: int, action: str, args: dict[str, Any]) -> None:
        d = self.registry.runner(room).act(member, ActCommand(action, args, cseq))
        self.clock.advance(0.01)
        self.successResultOf(d)

    def test_an_empty_room_is_unloaded_after_the_idle_time(self) -> None:
        """A room nobody joined is unloaded (procedures withdrawn) once idle for room_idle, not before."""
        self.open("r1")
        self.wait(IDLE * 0.9)
        self.assertIn("r1", self.registry.runners)
        self.wait(IDLE * 0.4)
        self.assertNotIn("r1", self.registry.runners)
        self.assertEqual(self.withdrawn, ["r1"])
        self.assertEqual(self.registry.stats["rooms_unloaded"], 1)
        with self.assertRaises(NoSuchRoom):
            self.registry.runner("r1")

    def test_a_member_in_grace_keeps_the_room_loaded(self) -> None:
        """While a member who left is in its grace period the room stays; it unloads room_idle after the grace."""
        self.open("r1")
        self.join("r1", "bob", "s1")
        self.registry.session_closed("s1")
        self.wait(GRACE - 1)
        self.assertIn("r1", self.registry.runners)
        self.wait(1 + IDLE * 0.9)
        self.assertIn("r1", self.registry.runners, "idle counts from the grace's end")
        self.wait(IDLE * 0.4)
        self.assertNotIn("r1", self.registry.runners)

    def test_an_online_member_keeps_the_room_loaded(self) -> None:
        """A room with a member online is never unloaded, however long it is quiet."""
        self.open("r1")
        self.join("r1", "bob", "s1")
        self.wait(IDLE * 5)
        self.assertIn("r1", self.registry.runners)
        self.registry.session_closed("s1")
        self.wait(GRACE + IDLE * 1.5)
        self.assertNotIn("r1", self.registry.runners)

    def test_a_pending_timer_keeps_the_room_loaded_until_it_fired(self) -> None:
        """A room with a durable timer set stays loaded until the timer fired, then unloads room_idle later."""
        self.open("r1")
        self.join("r1", "bob", "s1")
        self.act("r1", "bob", 1, "wait", {"ms": int((GRACE + IDLE * 3) * 1000)})
        self.registry.session_closed("s1")
        self.wait(GRACE + IDLE * 2.5)
        self.assertIn("r1", self.registry.runners)
        self.wait(IDLE * 0.5 + 0.1)
        self.assertEqual(self.registry.runner("r1").room.committed["fired"], ["t"])
        self.wait(IDLE * 1.3)
        self.assertNotIn("r1", self.registry.runners)

    def test_an_unloaded_room_reloads_intact(self) -> None:
        """The next open of an unloaded room loads it from the store at the same epoch and seq, with its state."""
        first = self.open("r1")
        self.join("r1", "bob", "s1")
        self.act("r1", "bob", 1, "note", {"text": "kept"})
        before = self.registry.runner("r1").room
        self.registry.session_closed("s1")
        self.wait(GRACE + IDLE * 1.5)
        self.assertNotIn("r1", self.registry.runners)
        again = self.open("r1")
        self.assertEqual((again["epoch"], again["seq"]), (first["epoch"], before.seq))
        self.assertEqual(self.registry.runner("r1").room.committed["note"], "kept")

    def test_max_rooms_counts_live_rooms(self) -> None:
        """Once the room service is full, unloading idle rooms lets new rooms open."""
        for i, member in enumerate(["a", "b", "c"]):
            self.open(f"r{i}", member)
        failure = self.failureResultOf(self.registry.open(OpenCommand("r9", "alarm", {}), "d"))
        self.assertIsInstance(failure.value, Full)
        self.wait(IDLE * 1.3)
        self.assertEqual(self.registry.runners, {})
        self.open("r9", "d")

    def test_a_member_may_hold_only_so_many_live_rooms(self) -> None:
        """A member's third live room is refused with kasagi.error.full naming rooms_per_member; others still open
        rooms, joining a live room is free, and the quota frees up when the member's rooms unload."""
        self.open("r1")
        self.open("r2")
        failure = self.failureResultOf(self.registry.open(OpenCommand("r3", "alarm", {}), "alice"))
        error = to_application_error(failure.value)
        self.assertEqual(error.error, "kasagi.error.full")
        self.assertEqual(error.kwargs["field"], "rooms_per_member")
        self.assertNotIn("r3", self.registry.runners)
        self.open("r1", "alice")  # already live: no new room
        self.open("r3", "bob")
        self.open("r3", "alice")  # bob loaded it
        self.assertEqual(self.registry.rooms_opened_by("alice"), 2)
        self.wait(IDLE * 1.3)
        self.assertEqual(self.registry.rooms_opened_by("alice"), 0)
        self.open("r4")

    def test_a_failed_open_does_not_count_against_the_member(self) -> None:
        """An open that fails (an unknown type) leaves the member's count as it was."""
        self.failureResultOf(self.registry.open(OpenCommand("r1", "nosuchtype", {}), "alice"))
        self.assertEqual(self.registry.rooms_opened_by("alice"), 0)


def test_idle_time_defaults_to_a_minute() -> None:
    """By default an empty room stays loaded 60 s and a member may have opened 100 live rooms."""
    settings = ServiceSettings()
    assert (settings.room_idle, settings.max_rooms_per_member) == (60.0, 100)
    assert ServiceSettings.from_mapping({"room_idle": "5"}).room_idle == 5.0


def test_clock_is_unused_when_idle_unloading_is_off() -> None:
    """With room_idle 0 an open room puts no sweep on the clock."""
    clock = Clock()
    registry = RoomRegistry(
        clock=clock,
        store=MemoryRoomStore(),
        publish=RecordingPublisher(),
        expose=lambda room: None,
        settings=ServiceSettings(tick=0.01, room_idle=0),
        now_ms=lambda: int(clock.seconds() * 1000),
    )
    registry.open(OpenCommand("r1", "arena", {}), "alice")
    assert [c for c in clock.getDelayedCalls() if c.active()] == []
    registry.stop()


class ClusterIdleRoomTests(SynchronousTestCase):
    def test_an_idle_room_is_released_as_a_handover_and_reopens_at_its_epoch(self) -> None:
        """In a cluster an idle room is unloaded and released as a handover; the next open, on any worker,
        loads it at the same epoch and seq."""
        from tests.glue.test_cluster_rooms import Cluster

        cluster = Cluster(2)
        cluster.settle(0.5)
        info = self.successResultOf(cluster.workers["w1"].open(OpenCommand("r1", "arena", {}), "alice"))
        (owner,) = cluster.owners("r1")
        cluster.settle(IDLE * 1.3, step=0.25)
        self.assertEqual(cluster.owners("r1"), [])
        self.assertEqual(cluster.exposed[owner], [])
        record = cluster.leases.record("r1")
        assert record is not None
        self.assertEqual((record.state, record.epoch), ("handover", info["epoch"]))
        again = self.successResultOf(cluster.workers["w2"].open(OpenCommand("r1", "arena", {}), "alice"))
        self.assertEqual((again["epoch"], again["seq"]), (info["epoch"], info["seq"]))
        for worker in cluster.workers.values():
            self.successResultOf(worker.shutdown())
