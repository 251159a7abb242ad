"""Busy rooms of one process commit on the same points of the commit grid (on a Clock), so the
store gets their appends together; without the grid each keeps its own phase."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.service.runner import RoomRunner
from kasagi.service.settings import ServiceSettings
from kasagi.testing import MemoryRoomStore, make_room, make_runner


class TimedStore:
    """A memory store that notes when (clock seconds, to the microsecond) each room appends."""

    def __init__(self, clock: Clock) -> None:
        self.inner = MemoryRoomStore()
        self.clock = clock
        self.appends: dict[str, list[float]] = {}

    def append(self, batch: Any) -> Any:
        self.appends.setdefault(batch.room, []).append(round(self.clock.seconds(), 6))
        return self.inner.append(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def busy_rooms(aligned: bool) -> dict[str, list[float]]:
    """Two quiet rooms that go busy 3 and 11 ms past a point of the 20 ms grid, each with a
    move every millisecond until 120 ms; when each appended in that time."""
    clock = Clock()
    store = TimedStore(clock)
    settings = ServiceSettings(tick=0.02, aligned_commits=aligned)
    runners: dict[str, RoomRunner] = {}
    for room_id in ("early", "late"):
        room = make_room(room_id)
        store.inner.create(room.room_id, room.type.name, room.type.options(), room.epoch, room.committed)
        runners[room_id], _, _ = make_runner(room, clock=clock, store=store, settings=settings)
        runners[room_id].join("alice", "s1", JoinCommand(None))
    clock.advance(1.0)  # the joins are committed; by 10 s both rooms are quiet
    clock.advance(9.0)
    store.appends.clear()
    cseq = {"early": 0, "late": 0}
    acts = []
    for ms in range(1, 121):
        clock.advance(10.0 + ms / 1000 - clock.seconds())
        for room_id, starts in (("early", 3), ("late", 11)):
            if ms > starts:
                cseq[room_id] += 1
                acts.append(runners[room_id].act("alice", ActCommand("move", {"dx": 1, "dy": 0}, cseq[room_id])))
    clock.advance(0.05)  # the last moves are committed
    for runner in runners.values():
        runner.stop()
    assert all(act.called for act in acts), "every move is acknowledged"
    return {room: [t for t in times if t <= 10.12] for room, times in store.appends.items()}


class CommitGridTests(SynchronousTestCase):
    def test_busy_rooms_commit_together_on_the_grid(self) -> None:
        """After each room's first commit (at once: it was quiet), both commit at the same
        moments, on points of the 20 ms grid, 20 ms apart."""
        appends = busy_rooms(aligned=True)
        self.assertEqual(appends["early"][0], 10.005)
        self.assertEqual(appends["late"][0], 10.013)
        self.assertEqual(appends["early"][1:], appends["late"][1:])
        self.assertEqual(appends["early"][1:], [10.02, 10.04, 10.06, 10.08, 10.1, 10.12])

    def test_without_the_grid_each_room_keeps_its_own_phase(self) -> None:
        """With ``aligned_commits`` off the two rooms commit 20 ms apart each, 8 ms apart
        from each other: the store gets their appends one by one."""
        appends = busy_rooms(aligned=False)
        self.assertEqual(appends["early"], [10.005, 10.025, 10.045, 10.065, 10.085, 10.105])
        self.assertEqual(appends["late"], [10.013, 10.033, 10.053, 10.073, 10.093, 10.113])
