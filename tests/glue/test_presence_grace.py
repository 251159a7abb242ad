"""Presence with a grace period, driven by a Clock: offline on close/leave, kept when back in
time, removed (with its arena player) after the grace, rebuilt by a restarted owner."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.room import StreamPosition
from kasagi.service.settings import ServiceSettings
from kasagi.testing import MemoryRoomStore, make_registry, make_room, make_runner

GRACE = 30.0


def _settings(**kw: Any) -> ServiceSettings:
    return ServiceSettings(grace=GRACE, tick=0.02, **kw)


class PresenceGraceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.runner, self.clock, self.published = make_runner(make_room("r1", "arena"), settings=_settings())
        self.clock.advance(1000)  # a wall clock well past zero

    def join(self, member: str, session: str) -> dict[str, Any]:
        joined = self.runner.join(member, session, JoinCommand(None))
        self.clock.advance(0.05)  # the next tick commits the presence change
        return self.successResultOf(joined)

    def state(self) -> dict[str, Any]:
        return self.runner.room.committed

    def test_closing_the_last_session_marks_the_member_offline_until_the_grace_ends(self) -> None:
        """When the last session of a member closes, an event marks it offline until now + grace."""
        self.join("alice", "s1")
        before = len(self.published.published)
        now_ms = int(self.clock.seconds() * 1000)
        self.runner.session_closed("s1")
        self.clock.advance(0.05)
        member = self.state()["members"]["alice"]
        self.assertEqual(member, {"online": False, "since": now_ms, "until": now_ms + int(GRACE * 1000)})
        self.assertEqual(len(self.published.published), before + 1, "the change is one ordinary event")
        self.assertIn("alice", self.state()["players"], "the player stays during the grace")

    def test_leave_marks_the_member_offline_with_the_same_grace(self) -> None:
        """An explicit leave has the same effect as a closed connection: offline until now + grace."""
        self.join("alice", "s1")
        now_ms = int(self.clock.seconds() * 1000)
        self.runner.leave("alice", "s1")
        self.clock.advance(0.05)
        self.assertEqual(self.state()["members"]["alice"]["until"], now_ms + int(GRACE * 1000))

    def test_a_member_back_within_the_grace_keeps_its_player(self) -> None:
        """A member whose session comes back before the grace ends is online again with its player unchanged."""
        self.join("alice", "s1")
        moved = self.runner.act("alice", ActCommand("move", {"dx": 5, "dy": -3}, 1))
        self.clock.advance(0.05)
        self.successResultOf(moved)
        player = dict(self.state()["players"]["alice"])
        self.runner.session_closed("s1")
        self.clock.advance(GRACE - 1)
        self.join("alice", "s2")
        self.assertTrue(self.state()["members"]["alice"]["online"])
        self.assertEqual(self.state()["players"]["alice"], player)
        self.clock.advance(GRACE * 2)
        self.assertIn("alice", self.state()["players"], "no expiry once back online")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_after_the_grace_the_member_and_its_arena_player_are_removed(self) -> None:
        """When the grace ends, one event removes the member and its arena player; other members stay."""
        self.join("alice", "s1")
        self.join("bob", "s2")
        self.runner.session_closed("s1")
        self.clock.advance(GRACE - 0.5)
        self.assertIn("alice", self.state()["members"])
        seq = self.runner.room.seq
        self.clock.advance(1.0)
        self.clock.advance(0.05)
        self.assertNotIn("alice", self.state()["members"])
        self.assertNotIn("alice", self.state()["players"])
        self.assertIn("bob", self.state()["players"])
        self.assertEqual(self.runner.room.seq, seq + 1)
        last = self.published.events()[-1]
        self.assertIn(["del", ["players", "alice"]], last["ops"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_a_member_with_two_sessions_stays_online_until_both_close(self) -> None:
        """A member counts as online while any of its sessions is in the room."""
        self.join("alice", "s1")
        self.join("alice", "s2")
        seq = self.runner.room.seq
        self.runner.session_closed("s1")
        self.clock.advance(0.05)
        self.assertTrue(self.state()["members"]["alice"]["online"])
        self.assertEqual(self.runner.room.seq, seq, "no event for a session that is not the last")
        self.runner.session_closed("s2")
        self.clock.advance(0.05)
        self.assertFalse(self.state()["members"]["alice"]["online"])

    def test_an_unknown_session_closing_changes_nothing(self) -> None:
        """A session that never joined the room closing (another room's member) publishes nothing."""
        self.join("alice", "s1")
        before = len(self.published.published)
        self.runner.session_closed("other")
        self.clock.advance(1)
        self.assertEqual(len(self.published.published), before)


class RestartedOwnerTests(SynchronousTestCase):
    def test_a_restarted_owner_marks_vanished_sessions_offline_and_expires_them(self) -> None:
        """A new owner loading a room whose members were online marks them offline with a fresh grace; those who re-
        join stay, the others are removed after it."""
        store = MemoryRoomStore()
        first, clock, _, _ = make_registry(store=store, settings=_settings())
        clock.advance(1000)
        self.successResultOf(first.open(OpenCommand("r1", "arena", {})))
        runner = first.runner("r1")
        joins = runner.join("alice", "s1", JoinCommand(None)), runner.join("bob", "s2", JoinCommand(None))
        clock.advance(0.05)
        for joined in joins:
            self.successResultOf(joined)
        players = dict(runner.room.committed["players"])
        first.stop()  # the process dies: no session-closed events ever arrive

        second, clock2, published, _ = make_registry(store=store, settings=_settings())
        clock2.advance(2000)
        self.successResultOf(second.open(OpenCommand("r1", "arena", {})))
        clock2.advance(0.05)
        room = second.runner("r1").room
        restart_ms = 2000_000
        for member in ("alice", "bob"):
            self.assertEqual(
                room.committed["members"][member], {"online": False, "since": restart_ms, "until": restart_ms + 30_000}
            )
        self.assertEqual(room.committed["players"], players, "players are kept during the grace")
        joined = second.runner("r1").join("alice", "s9", JoinCommand(StreamPosition(room.epoch, room.seq)))
        clock2.advance(0.05)  # the tick that commits alice's return answers her join
        reply = self.successResultOf(joined)
        self.assertIn("events", reply)
        clock2.advance(GRACE + 1)
        clock2.advance(0.05)  # Clock.advance jumps: the commit the expiry asked for runs a tick later
        self.assertEqual(set(room.committed["members"]), {"alice"})
        self.assertEqual(set(room.committed["players"]), {"alice"})
        self.assertTrue(room.committed["members"]["alice"]["online"])
        self.assertEqual(published.events()[-1]["seq"], room.seq)
        second.stop()
        self.assertEqual(clock2.getDelayedCalls(), [])
