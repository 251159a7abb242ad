"""The head beacon, driven by a Clock: quiet occupied rooms repeat their last event at a low
rate; busy or empty rooms send nothing; a replica that lost the last event recovers from it."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.core.replica import RoomReplica, Verdict
from kasagi.service.beacon import HeadBeacon
from kasagi.service.settings import ServiceSettings
from kasagi.testing import make_room, make_runner

INTERVAL = 5.0


class HeadBeaconTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.runner, self.clock, self.published = make_runner(
            make_room("r1", "doc"), settings=ServiceSettings(tick=0.02)
        )
        self.beacon = HeadBeacon(
            clock=self.clock, runners=lambda: [self.runner], publish=self.published, interval=INTERVAL
        )
        self.beacon.start()
        self.addCleanup(self.beacon.stop)

    def act(self, member: str, cseq: int, key: str) -> None:
        d = self.runner.act(member, ActCommand("set", {"path": [key], "value": cseq}, cseq))
        self.clock.advance(0.05)
        self.successResultOf(d)

    def test_a_quiet_room_with_members_repeats_its_last_event(self) -> None:
        """A room with a live session that published nothing for the interval publishes its last event again,
        unchanged."""
        joined = self.runner.join("alice", "s1", JoinCommand(None))
        self.clock.advance(0.05)
        self.successResultOf(joined)
        self.act("alice", 1, "a")
        last = self.published.events()[-1]
        count = len(self.published.published)
        for _ in range(int(1.25 * INTERVAL / 0.25)):
            self.clock.advance(0.25)
        self.assertEqual(len(self.published.published), count + 1, "repeated once within 1.25 x interval")
        topic, repeated = self.published.published[-1]
        self.assertEqual(topic, "kasagi.room.r1")
        self.assertEqual(repeated, last)
        for _ in range(int(2 * INTERVAL / 0.25)):
            self.clock.advance(0.25)
        self.assertEqual(len(self.published.published), count + 3, "and once per interval while quiet")

    def test_a_busy_room_sends_no_beacon(self) -> None:
        """A room whose events keep coming repeats nothing: its own events reveal a loss."""
        joined = self.runner.join("alice", "s1", JoinCommand(None))
        for cseq in range(1, 40):
            self.act("alice", cseq, "k")
            self.clock.advance(1.0)
        self.successResultOf(joined)
        events = self.published.events()
        self.assertEqual([e["seq"] for e in events], sorted({e["seq"] for e in events}), "no event published twice")
        self.assertEqual(self.beacon.sent, 0)

    def test_a_room_without_live_sessions_sends_no_beacon(self) -> None:
        """Once its last session closes, a room stops repeating its head (beacons cost only where someone listens)."""
        joined = self.runner.join("alice", "s1", JoinCommand(None))
        self.clock.advance(0.05)
        self.successResultOf(joined)
        self.runner.session_closed("s1")
        self.clock.advance(0.05)
        for _ in range(40):
            self.clock.advance(INTERVAL / 4)
        self.assertEqual(self.beacon.sent, 0)

    def test_a_replica_that_lost_the_last_event_recovers_from_the_beacon(self) -> None:
        """A client that missed the room's last event applies the repeated one and ends equal to the room; one that had
        it drops the repeat."""
        joined = self.runner.join("alice", "s1", JoinCommand(None))
        self.clock.advance(0.05)
        self.successResultOf(joined)
        lossy, intact = RoomReplica("r1"), RoomReplica("r1")
        for replica in (lossy, intact):
            replica.load(self.runner.room.snapshot("alice").to_wire())
        self.act("alice", 1, "a")
        self.act("alice", 2, "b")
        last = self.published.events()[-1]
        intact.offer(self.published.events()[-2])
        lossy.offer(self.published.events()[-2])
        intact.offer(last)  # lossy never sees it
        count = len(self.published.published)
        for _ in range(int(1.25 * INTERVAL / 0.25)):
            self.clock.advance(0.25)
        repeats = self.published.published[count:]
        self.assertEqual(len(repeats), 1)
        self.assertEqual(lossy.offer(repeats[0][1]), Verdict.APPLIED)
        self.assertEqual(intact.offer(repeats[0][1]), Verdict.DROPPED)
        self.assertEqual(lossy.state, self.runner.room.committed)
        self.assertEqual(lossy.seq, intact.seq)

    def test_stop_leaves_no_timer(self) -> None:
        """Stopping the beacon cancels its timer."""
        self.beacon.stop()
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])
