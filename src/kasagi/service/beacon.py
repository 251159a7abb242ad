"""The head beacon: a quiet room repeats its last event, so a client that lost it notices.

A client finds a lost event by the seq of the next one; when the lost event is the room's
*last*, no next one comes. So a room that has live sessions and has published nothing for
``interval`` seconds publishes its last event again (same epoch, seq, ops), and again every
``interval`` seconds while it stays quiet. A client that has it drops it (not newer than its
own seq), one that lost it applies it, one that lost more sees a gap and catches up: the
rule every client already follows, so the beacon needs nothing new on the wire and costs no
store write. Busy rooms and rooms nobody is in send no beacon.

A client that lost the last event (published at ``t``) receives it again by
``t + 1.25 x interval`` (rooms are looked at every ``interval / 4``), plus delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kasagi.service.runner import Publish, RoomRunner, publish_event
from kasagi.wire import room_topic

__all__ = ["HeadBeacon"]


class HeadBeacon:
    """Re-publishes the last event of the quiet, occupied rooms of one process."""

    log = Logger()

    def __init__(
        self, *, clock: IReactorTime, runners: Callable[[], Iterable[RoomRunner]], publish: Publish, interval: float
    ) -> None:
        self._clock = clock
        self._runners = runners
        self._publish = publish
        self.interval = interval
        #: room -> when its head was last repeated
        self._repeated: dict[str, float] = {}
        self._loop: LoopingCall | None = None
        self.sent = 0

    def start(self) -> None:
        if self.interval <= 0 or self._loop is not None:
            return
        self._loop = LoopingCall(self.tick)
        self._loop.clock = self._clock
        self._loop.start(self.interval / 4, now=False).addErrback(lambda f: self.log.failure("head beacon stopped", f))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def tick(self) -> None:
        now = self._clock.seconds()
        live: set[str] = set()
        for runner in list(self._runners()):
            room = runner.room
            live.add(room.room_id)
            if runner.stopped or not room.online_count:
                continue
            quiet_since = max(runner.last_published, self._repeated.get(room.room_id, 0.0))
            if now - quiet_since >= self.interval:
                self._repeat(runner)
                self._repeated[room.room_id] = now
        for gone in set(self._repeated) - live:
            del self._repeated[gone]

    def _repeat(self, runner: RoomRunner) -> None:
        room = runner.room
        last = room.history.since(room.seq - 1) if room.seq > 0 else None
        if not last or last[-1].get("seq") != room.seq or last[-1].get("epoch") != room.epoch:
            return  # the last event is not held (restored from a snapshot): nothing to repeat
        self.sent += 1
        try:
            # Each member's form of it (a room with private state publishes more than one).
            results = publish_event(self._publish, room_topic(room.room_id), last[-1])
        except Exception:  # noqa: BLE001 -- a failed beacon is retried at the next interval
            self.log.failure("room {room}: beacon publish failed", room=room.room_id)
            return
        for result in results:
            if hasattr(result, "addErrback"):
                result.addErrback(self._failed, room.room_id)

    def _failed(self, failure: Any, room: str) -> None:
        self.log.warn("room {room}: beacon publish failed: {why}", room=room, why=failure.getErrorMessage())
