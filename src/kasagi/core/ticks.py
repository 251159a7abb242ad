"""The fixed timestep of a room's server loop, as pure arithmetic (no clock, no I/O).

Tick ``k`` of a run is due at ``anchor + k * period`` (rounded to whole ms), so ticks never
drift however late the wake-ups are. A wake-up at ``now`` runs every tick due since the last
one, but at most ``max_catch_up``: past the bound the oldest due ticks are *skipped* (the
room is lagging; the service counts and logs them) and the most recent ones run. Each tick
gets its own due time as ``now_ms`` and the ms since the tick before it in the schedule as
``dt_ms`` (whole ms that sum to the elapsed time, with no loss to rounding; a skipped tick's
time is not handed to the next one, so a lagging simulation slows down instead of taking one
huge step).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_CATCH_UP", "DueTicks", "TickSchedule"]

#: Most ticks one wake-up runs to catch up after a pause.
DEFAULT_MAX_CATCH_UP = 5


@dataclass(frozen=True)
class DueTicks:
    """The ticks to run now, as ``(now_ms, dt_ms)``, and how many were skipped."""

    ticks: tuple[tuple[int, int], ...]
    skipped: int


class TickSchedule:
    """When the ticks of one room are due; stopped until :meth:`start`."""

    def __init__(self, tick_hz: float, max_catch_up: int = DEFAULT_MAX_CATCH_UP) -> None:
        if tick_hz <= 0:
            raise ValueError(f"tick_hz must be > 0, not {tick_hz!r}")
        self.period_ms = 1000.0 / tick_hz
        self.max_catch_up = max(1, max_catch_up)
        self._anchor: int | None = None
        #: The index of the next tick due.
        self._next = 1

    @property
    def running(self) -> bool:
        return self._anchor is not None

    def start(self, now_ms: int) -> None:
        """Start a run at ``now_ms``: the first tick is due one period later."""
        if self._anchor is None:
            self._anchor = now_ms
            self._next = 1

    def stop(self) -> None:
        """Stop: no tick is due until the next :meth:`start` (a pause is not caught up)."""
        self._anchor = None

    def _at(self, k: int) -> int:
        assert self._anchor is not None
        return self._anchor + round(k * self.period_ms)

    def next_at(self) -> int | None:
        """When the next tick is due (ms), or None when stopped."""
        return None if self._anchor is None else self._at(self._next)

    def due(self, now_ms: int) -> DueTicks:
        """Take the ticks due at ``now_ms`` (at most ``max_catch_up``; the rest skipped)."""
        if self._anchor is None or now_ms < self._at(self._next):
            return DueTicks((), 0)
        last = self._next + int((now_ms - self._at(self._next)) // self.period_ms)
        while last + 1 >= self._next and self._at(last + 1) <= now_ms:
            last += 1
        while self._at(last) > now_ms:
            last -= 1
        count = last - self._next + 1
        first = max(self._next, last - self.max_catch_up + 1)
        ticks = tuple((self._at(k), self._at(k) - self._at(k - 1)) for k in range(first, last + 1))
        skipped = count - len(ticks)
        self._next = last + 1
        return DueTicks(ticks, skipped)
