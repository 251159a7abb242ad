"""Private state through the runner, the registry and the store, on a Clock: per-member publishes,
per-member catch-ups from memory and from the store, and durability across a reload."""

from __future__ import annotations

from typing import Any

from autobahn.wamp.types import PublishOptions
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi.core import Room, RoomConfig
from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.room import StreamPosition
from kasagi.core.views import Audience
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.service import RoomRegistry, ServiceSettings
from kasagi.service.beacon import HeadBeacon
from kasagi.testing import MemoryRoomStore, RecordingPublisher, make_runner
from kasagi.testing.secrets import Secrets
from kasagi.wamp.procedures import RoomProcedures

TYPES = {**BUILTIN_TYPES, "secrets": Secrets}


def _secret(state: dict[str, Any], member: str) -> int:
    return int(state["private"][member]["secret"])


def _secrets_room(config: RoomConfig | None = None) -> Room:
    return Room("r1", Secrets(), epoch=1, config=config or RoomConfig(hash_every=2))


def _joined(runner: Any, clock: Clock, *members: str) -> None:
    for member in members:
        runner.join(member, f"s-{member}", JoinCommand(None))
    clock.advance(1)


class PublishTests(SynchronousTestCase):
    def test_each_member_receives_one_event_per_seq_with_its_own_private_ops_only(self) -> None:
        """Bob's new secret goes to bob alone; alice and carol get the public form of the same seqs."""
        runner, clock, published = make_runner(_secrets_room(), settings=ServiceSettings(tick=0))
        _joined(runner, clock, "alice", "bob", "carol")
        for cseq in (1, 2, 3):
            runner.act("bob", ActCommand("roll", {}, cseq))
            clock.advance(0)
        bobs = _secret(runner.room.committed, "bob")
        for member in ("alice", "bob", "carol"):
            events = published.received_by(member)
            seqs = [e["seq"] for e in events]
            self.assertEqual(seqs, sorted(set(seqs)), f"{member} receives each seq once")
            self.assertEqual(seqs, list(range(1, runner.room.seq + 1)))
            text = repr(events)
            for other in {"alice", "bob", "carol"} - {member}:
                self.assertNotIn(str(_secret(runner.room.committed, other)), text)
        self.assertIn(str(bobs), repr(published.received_by("bob")))
        self.assertIn(Audience(only="bob"), published.audiences)
        self.assertIn(Audience(exclude=("bob",)), published.audiences)

    def test_a_room_without_private_state_publishes_each_event_once_to_everyone(self) -> None:
        """An arena room publishes one form of each event, to everyone, exactly as before."""
        runner, clock, published = make_runner(settings=ServiceSettings(tick=0))
        _joined(runner, clock, "alice", "bob")
        runner.act("alice", ActCommand("move", {"dx": 1, "dy": 0}, 1))
        clock.advance(0)
        self.assertEqual(set(published.audiences), {None})
        self.assertEqual([e["seq"] for e in published.events()], [1, 2])

    def test_the_beacon_repeats_each_members_form_of_the_last_event(self) -> None:
        """A quiet room's last event is repeated in every member's form, never the whole event."""
        runner, clock, published = make_runner(_secrets_room(), settings=ServiceSettings(tick=0))
        _joined(runner, clock, "alice", "bob")
        runner.act("bob", ActCommand("roll", {}, 1))
        clock.advance(0)
        before = len(published.published)
        beacon = HeadBeacon(clock=clock, runners=lambda: [runner], publish=published, interval=5)
        clock.advance(6)
        beacon.tick()
        repeated = published.published[before:]
        self.assertEqual(len(repeated), 3, "public, alice's and bob's (a hash event: each its own hash)")
        self.assertEqual({e["seq"] for _, e in repeated}, {runner.room.seq})
        self.assertNotIn(str(_secret(runner.room.committed, "bob")), repr(published.received_by("alice")))
        self.assertNotIn("hashes", repr(repeated))


class CatchUpTests(SynchronousTestCase):
    def test_a_catch_up_from_the_store_is_filtered_for_the_member(self) -> None:
        """When memory no longer holds the gap, alice's catch-up comes from the store's history in her form."""
        config = RoomConfig(hash_every=2, history_events=1, history_min_age_ms=0, history_hard_cap=1)
        runner, clock, _ = make_runner(_secrets_room(config), settings=ServiceSettings(tick=0))
        _joined(runner, clock, "alice", "bob")
        seq = runner.room.seq
        for cseq in (1, 2, 3):
            runner.act("bob", ActCommand("roll", {}, cseq))
            clock.advance(0)
        self.assertIsNone(runner.room.history.since(seq))
        reply = self.successResultOf(runner.join("alice", "s-alice", JoinCommand(StreamPosition(1, seq))))
        self.assertEqual([e["seq"] for e in reply["events"]], list(range(seq + 1, runner.room.seq + 1)))
        self.assertNotIn(str(_secret(runner.room.committed, "bob")), repr(reply))
        self.assertNotIn("hashes", repr(reply))
        bob = self.successResultOf(runner.join("bob", "s-bob", JoinCommand(StreamPosition(1, seq))))
        self.assertIn(str(_secret(runner.room.committed, "bob")), repr(bob["events"]))


class DurabilityTests(SynchronousTestCase):
    def _registry(self, store: MemoryRoomStore) -> tuple[RoomRegistry, Clock]:
        clock = Clock()
        registry = RoomRegistry(
            clock=clock,
            store=store,
            publish=RecordingPublisher(),
            expose=lambda room: None,
            settings=ServiceSettings(tick=0),
            now_ms=lambda: int(clock.seconds() * 1000),
            types=TYPES,
        )
        return registry, clock

    def test_another_process_rebuilds_the_private_state_from_the_store(self) -> None:
        """After a reload (or a failover) from the store, every member's private entry is as committed,
        and each member's snapshot is its own view."""
        store = MemoryRoomStore()
        first, clock = self._registry(store)
        self.successResultOf(first.open(OpenCommand("r1", "secrets", {})))
        runner = first.runner("r1")
        _joined(runner, clock, "alice", "bob")
        ack = runner.act("alice", ActCommand("give", {"to": "bob"}, 1))
        clock.advance(0)
        self.successResultOf(ack)
        committed = runner.room.committed
        second, _ = self._registry(store)
        self.successResultOf(second.open(OpenCommand("r1", "secrets", {})))
        reloaded = second.runner("r1").room
        self.assertEqual(reloaded.committed["private"], committed["private"])
        self.assertEqual(reloaded.view("alice")["private"], {"alice": committed["private"]["alice"]})
        self.assertNotIn("private", reloaded.view("carol"))


class _Session:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any, Any]] = []

    def publish(self, topic: str, event: Any, options: Any = None) -> None:
        self.published.append((topic, event, options))


class PublishOptionsTests(SynchronousTestCase):
    def test_audiences_become_exclude_and_eligible_authid_within_a_private_rooms_members(self) -> None:
        """The public form excludes the members with their own form (within a private room's members);
        each own form is eligible to its member only, and never to one outside a private room."""
        procedures = RoomProcedures(clock=Clock())
        session = _Session()
        procedures.sessions[""] = session
        procedures._private_publish["kasagi.room.p"] = PublishOptions(acknowledge=False, eligible_authid=["a", "b"])
        procedures.publish("kasagi.room.x", {"seq": 1}, Audience(exclude=("b",)))
        procedures.publish("kasagi.room.x", {"seq": 1}, Audience(only="b"))
        procedures.publish("kasagi.room.p", {"seq": 1}, Audience(exclude=("b",)))
        procedures.publish("kasagi.room.p", {"seq": 1}, Audience(only="b"))
        procedures.publish("kasagi.room.p", {"seq": 1}, Audience(only="mallory"))
        options = [(t, o.eligible_authid, o.exclude_authid) for t, _, o in session.published]
        self.assertEqual(
            options,
            [
                ("kasagi.room.x", None, ["b"]),
                ("kasagi.room.x", ["b"], None),
                ("kasagi.room.p", ["a", "b"], ["b"]),
                ("kasagi.room.p", ["b"], None),
            ],
        )
