"""The registry: open creates or loads rooms, refuses type clashes, and restores exactly."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.errors import InvalidArgument, NoSuchRoom
from kasagi.service.settings import ServiceSettings
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import make_registry


class OpenTests(SynchronousTestCase):
    def test_open_creates_once_and_exposes_the_room(self):
        """Opening a room twice (even concurrently) creates it once and registers it once."""
        registry, _clock, _, exposed = make_registry()
        d1 = registry.open(OpenCommand("r1", "arena", {}))
        d2 = registry.open(OpenCommand("r1", "arena", {}))
        info = self.successResultOf(d1)
        self.assertEqual(self.successResultOf(d2), info)
        self.assertEqual((info["room"], info["type"], info["seq"]), ("r1", "arena", 0))
        self.assertEqual(exposed, ["r1"])

    def test_open_with_another_type_is_refused(self):
        """An open room keeps its type; opening it as another type is an invalid argument."""
        registry, *_ = make_registry()
        self.successResultOf(registry.open(OpenCommand("r1", "arena", {})))
        failure = self.failureResultOf(registry.open(OpenCommand("r1", "doc", {})), InvalidArgument)
        self.assertEqual(failure.value.field, "type")

    def test_a_doc_rooms_schema_belongs_to_the_room(self):
        """Opening an existing doc room with another schema (or one created without a schema
        with a schema) is an invalid argument on ``options``; the same or no options open it."""
        registry, *_ = make_registry()
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
        self.successResultOf(registry.open(OpenCommand("plain", "doc", {})))
        self.successResultOf(registry.open(OpenCommand("typed", "doc", {"schema": schema})))
        for room, options in (("plain", {"schema": schema}), ("typed", {"schema": {"type": "object"}})):
            failure = self.failureResultOf(registry.open(OpenCommand(room, "doc", options)), InvalidArgument)
            self.assertEqual(failure.value.field, "options")
        self.assertEqual(registry.runner("plain").room.type.options(), {})
        self.successResultOf(registry.open(OpenCommand("typed", "doc", {"schema": schema})))
        self.successResultOf(registry.open(OpenCommand("typed", "doc", {})))

    def test_a_reloaded_room_keeps_its_options(self):
        """A room loaded from the store by another process refuses other options as well."""
        store = MemoryRoomStore()
        first, *_ = make_registry(store=store)
        self.successResultOf(first.open(OpenCommand("r1", "doc", {"schema": {"type": "object"}})))
        second, *_ = make_registry(store=store)
        failure = self.failureResultOf(
            second.open(OpenCommand("r1", "doc", {"schema": {"type": "array"}})), InvalidArgument
        )
        self.assertEqual(failure.value.field, "options")

    def test_unknown_type_and_unopened_rooms_are_refused(self):
        """An unknown room type is invalid; a room never opened has no runner."""
        registry, *_ = make_registry()
        self.failureResultOf(registry.open(OpenCommand("r1", "chess", {})), InvalidArgument)
        self.assertRaises(NoSuchRoom, registry.runner, "r2")

    def test_a_second_process_reloads_the_room_exactly(self):
        """A registry on the same store restores state, seq, epoch and cseq results of a room."""
        store = MemoryRoomStore()
        first, clock, _, _ = make_registry(store=store, settings=ServiceSettings(tick=0))
        self.successResultOf(first.open(OpenCommand("r1", "arena", {})))
        runner = first.runner("r1")
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0)
        ack = runner.act("alice", ActCommand("move", {"dx": 4, "dy": 4}, 99))
        clock.advance(0)
        ack = self.successResultOf(ack)
        second, clock2, _, _ = make_registry(store=store, settings=ServiceSettings(tick=0))
        self.successResultOf(second.open(OpenCommand("r1", "arena", {})))
        reloaded = second.runner("r1").room
        self.assertEqual((reloaded.epoch, reloaded.seq), (runner.room.epoch, runner.room.seq))
        self.assertEqual(reloaded.committed, runner.room.committed)
        self.assertEqual(reloaded.results["alice"][99], ack["seq"])
        # Nobody is connected to the new owner: alice is marked offline with a grace period.
        clock2.advance(0)
        self.assertFalse(reloaded.committed["members"]["alice"]["online"])
