"""The bounded in-memory history of a room's events, for catch-up joins."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any

__all__ = ["DeltaLog"]

Event = dict[str, Any]


class DeltaLog:
    """The last events of one epoch, contiguous by seq.

    Keeps at least ``max_events`` events, and any event younger than ``min_age_ms`` beyond
    that, but never more than ``hard_cap`` (memory is bounded whatever the rate).
    """

    def __init__(self, max_events: int = 1000, min_age_ms: int = 120_000, hard_cap: int = 100_000) -> None:
        self.max_events = max_events
        self.min_age_ms = min_age_ms
        self.hard_cap = max(hard_cap, max_events)
        self._events: deque[Event] = deque()
        self._times: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._events)

    @property
    def first_seq(self) -> int | None:
        return self._events[0]["seq"] if self._events else None

    @property
    def last_seq(self) -> int | None:
        return self._events[-1]["seq"] if self._events else None

    def append(self, event: Event, now_ms: int) -> None:
        last = self.last_seq
        if last is not None and event["seq"] != last + 1:
            # A jump (a restore with a trimmed tail): start over from this event.
            self.clear()
        self._events.append(event)
        self._times.append(now_ms)
        self.trim(now_ms)

    def extend(self, events: Iterable[Event], now_ms: int) -> None:
        for event in events:
            self.append(event, now_ms)

    def trim(self, now_ms: int) -> None:
        events, times = self._events, self._times
        while len(events) > self.hard_cap or (len(events) > self.max_events and times[0] < now_ms - self.min_age_ms):
            events.popleft()
            times.popleft()

    def clear(self) -> None:
        self._events.clear()
        self._times.clear()

    def since(self, seq: int) -> list[Event] | None:
        """Every event after ``seq`` in order, or ``None`` when history no longer holds them
        all (the caller then sends a snapshot, never a partial gap)."""
        first, last = self.first_seq, self.last_seq
        if first is None or last is None:
            return None
        if seq < first - 1 or seq > last:
            return None
        return list(islice(self._events, seq - first + 1, None))
