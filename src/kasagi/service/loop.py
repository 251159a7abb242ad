"""The server loop and the durable timers of one room, on the injected clock.

A room type with ``tick_hz`` gets ``on_tick`` at a fixed timestep
(:class:`~kasagi.core.ticks.TickSchedule`): after a late wake-up the missed ticks run at their
own times (no drift), at most ``max_catch_up`` per wake-up; past that the room is *lagging*:
the oldest are skipped, counted (``ticks_skipped``) and logged (rate-limited). The loop runs
only while the room has online members or pending timers (:attr:`Room.ticking`): an idle room
has no timer on the reactor. Durable timers wake the loop at their due time, whether or not
the type ticks.

Each tick's lateness (how long after its due time it ran) goes into a histogram in ``stats``
(:data:`LATENESS_BUCKETS_MS`; ``kasagi_room_tick_lateness_seconds`` in the metrics).

Effects of ticks and timers join the room's pending batch, so they are committed with the
actions of the same commit tick, in one event. Hook failures reported by the core are counted
(``hook_failures``) and logged with their traceback, at most once per hook per
``LOG_EVERY`` seconds with a count of those not logged.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from kasagi.core.hooks import HookFailure
from kasagi.core.room import Room
from kasagi.core.ticks import DEFAULT_MAX_CATCH_UP, TickSchedule

__all__ = ["LATENESS_BUCKETS_MS", "LOG_EVERY", "RoomLoop", "lateness_key"]

#: Upper bounds (ms) of the tick-lateness histogram: how long after its due time a tick ran.
#: ``stats["tick_late_le_<b>"]`` counts the ticks in each bucket (not cumulative; the last,
#: ``inf``, takes the rest) and ``stats["tick_late_ms"]`` sums the lateness.
LATENESS_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def lateness_key(bound: int | None) -> str:
    """The stats key of the lateness bucket ``bound`` (None: the overflow bucket)."""
    return f"tick_late_le_{'inf' if bound is None else bound}"


def _bucket_of(late_ms: int) -> str:
    for bound in LATENESS_BUCKETS_MS:
        if late_ms <= bound:
            return lateness_key(bound)
    return lateness_key(None)


#: Seconds between two log lines of one kind (hook failures per hook, lagging).
LOG_EVERY = 10.0


class _RateLimitedLog:
    """Says whether a line of a kind may be logged now, and how many were held back."""

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, kind: str) -> int | None:
        """None: hold this one back; else the number held back since the last line."""
        now = self._clock.seconds()
        last = self._last.get(kind)
        if last is not None and now - last < LOG_EVERY:
            self._held[kind] = self._held.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._held.pop(kind, 0)


class RoomLoop:
    """Runs ``room``'s ticks and fires its due timers while ``live()`` says the room serves."""

    log = Logger()

    def __init__(
        self,
        room: Room,
        *,
        clock: IReactorTime,
        now_ms: Callable[[], int],
        on_change: Callable[[], None],
        live: Callable[[], bool],
        stats: MutableMapping[str, int],
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
    ) -> None:
        self.room = room
        self._clock = clock
        self._now_ms = now_ms
        self._on_change = on_change
        self._live = live
        self._stats = stats
        for key in ("ticks", "ticks_skipped", "timers_fired", "hook_failures"):
            stats.setdefault(key, 0)
        if room.type.tick_hz > 0:
            stats.setdefault("tick_late_ms", 0)
            for bound in (*LATENESS_BUCKETS_MS, None):
                stats.setdefault(lateness_key(bound), 0)
        hz = room.type.tick_hz
        self._schedule = TickSchedule(hz, max_catch_up) if hz > 0 else None
        self._call: IDelayedCall | None = None
        self._call_at: int | None = None
        self._logs = _RateLimitedLog(clock)

    @property
    def ticking(self) -> bool:
        """Whether the server loop is running (ticks are scheduled)."""
        return self._schedule is not None and self._schedule.running

    def update(self) -> None:
        """Follow the room: start or stop the loop, wake for the next tick or due timer."""
        if not self._live():
            self.stop()
            return
        if self._schedule is not None:
            if self.room.ticking:
                self._schedule.start(self._now_ms())
            else:
                self._schedule.stop()
        times = [self.room.next_timer_at()]
        if self._schedule is not None:
            times.append(self._schedule.next_at())
        due = [t for t in times if t is not None]
        at = min(due) if due else None
        call = self._call
        if call is not None and call.active():
            if at == self._call_at:
                return
            call.cancel()
        self._call = self._call_at = None
        if at is None:
            return
        self._call_at = at
        self._call = self._clock.callLater(max(0.0, (at - self._now_ms()) / 1000.0), self._wake)

    def stop(self) -> None:
        """Stop the loop and cancel the wake-up (the room stopped or is suspended)."""
        if self._schedule is not None:
            self._schedule.stop()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = self._call_at = None

    def _wake(self) -> None:
        self._call = self._call_at = None
        if not self._live():
            return
        now = self._now_ms()
        if self._schedule is not None:
            due = self._schedule.due(now)
            for at, dt in due.ticks:
                self.room.tick(at, dt)
                late = max(0, now - at)
                self._stats["tick_late_ms"] += late
                self._stats[_bucket_of(late)] += 1
            self._stats["ticks"] += len(due.ticks)
            if due.skipped:
                self._lagging(due.skipped)
        fired = self.room.fire_timers(now)
        self._stats["timers_fired"] += len(fired.fired)
        self.report_failures()
        if self.room.has_pending:
            self._on_change()
        self.update()

    def _lagging(self, skipped: int) -> None:
        self._stats["ticks_skipped"] += skipped
        held = self._logs.allow("lagging")
        if held is not None:
            self.log.warn(
                "room {room} is lagging: {skipped} ticks skipped at {hz} Hz ({held} more lagging wake-ups since)",
                room=self.room.room_id,
                skipped=skipped,
                hz=self.room.type.tick_hz,
                held=held,
            )

    def report_failures(self) -> None:
        """Count and log the hook failures the room recorded since the last call."""
        for failure in self.room.take_hook_failures():
            self._stats["hook_failures"] += 1
            self._log_failure(failure)

    def _log_failure(self, failure: HookFailure) -> None:
        held = self._logs.allow("hook:" + failure.hook)
        if held is None:
            return
        self.log.error(
            "room {room}: {type}.{hook} failed (member {member}; {held} more failures of it not logged):\n{traceback}",
            room=failure.room,
            type=failure.room_type,
            hook=failure.hook,
            member=failure.member,
            held=held,
            traceback=failure.traceback,
        )
