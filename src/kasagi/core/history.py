"""The bounded in-memory history of a room's events, for catch-up joins.

A room's :class:`DeltaLog` keeps its last events by count, by age and by bytes (each event's
compact JSON size, measured once when it is appended and kept in the log's index). It holds
each event as that compact JSON text, decoded again when a catch-up asks for it: a text is one
object the garbage collector never walks, where the event itself is a tree of dicts and lists
(a process's history is most of its long-lived objects, and a full collection walks them all:
at 100 busy rooms, pauses of 100-250 ms every few seconds), and it is several times smaller. The rooms
of one process may also share a :class:`HistoryBudget`: past it, the oldest events of the
whole process go first, whichever room they belong to. A join whose events are gone, or
would make too big a reply, gets a snapshot instead (the log's index sizes the reply before
anything is built).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any

from kasagi.core.size import compact_json

__all__ = ["DeltaLog", "HistoryBudget"]

Event = dict[str, Any]


class HistoryBudget:
    """A byte budget shared by the histories of the rooms of one process.

    Every event appended to a log that uses the budget is counted here, in order; when the
    total passes ``max_bytes``, the oldest events of the process are dropped from their logs
    (each log stays contiguous: it only ever loses its oldest event).
    """

    def __init__(self, max_bytes: int) -> None:
        #: Bytes the logs may hold together (0: no limit).
        self.max_bytes = max_bytes
        #: Bytes the logs hold now.
        self.bytes = 0
        #: Events the logs hold now.
        self.events = 0
        #: Events dropped to keep within the budget, since the start.
        self.dropped = 0
        # (log, generation, seq) in the order events were appended; entries of events a log
        # dropped by itself are skipped when they come up, and compacted away in bulk.
        self._order: deque[tuple[DeltaLog, int, int]] = deque()

    def added(self, log: DeltaLog, seq: int, size: int) -> None:
        self.bytes += size
        self.events += 1
        self._order.append((log, log.generation, seq))
        while self.max_bytes and self.bytes > self.max_bytes and self._order:
            oldest, generation, oldest_seq = self._order.popleft()
            if oldest.holds_first(generation, oldest_seq):
                oldest.drop_oldest()
                self.dropped += 1
        if len(self._order) > 2 * self.events + 64:
            self._order = deque(e for e in self._order if e[0].holds(e[1], e[2]))

    def removed(self, size: int) -> None:
        self.bytes -= size
        self.events -= 1


class DeltaLog:
    """The last events of one epoch, contiguous by seq.

    Keeps at least ``max_events`` events, and any event younger than ``min_age_ms`` beyond
    that, but never more than ``hard_cap`` events nor more than ``max_bytes`` bytes (0: no
    byte limit), nor beyond its share of ``budget`` (memory is bounded whatever the rate and
    the size of the events).
    """

    def __init__(
        self,
        max_events: int = 1000,
        min_age_ms: int = 120_000,
        hard_cap: int = 100_000,
        max_bytes: int = 0,
        budget: HistoryBudget | None = None,
    ) -> None:
        self.max_events = max_events
        self.min_age_ms = min_age_ms
        self.hard_cap = max(hard_cap, max_events)
        self.max_bytes = max_bytes
        self.budget = budget
        #: Bytes of the events held (compact JSON of each whole event).
        self.bytes = 0
        #: Bumped by :meth:`clear`: tells the budget which of its entries are stale.
        self.generation = 0
        #: The events after any seq below this one are known to total more than
        #: ``max_bytes``: the log dropped one of them for its byte limit (0: none dropped).
        self.over_bytes_below = 0
        #: The events held, as compact JSON text, contiguous from ``_first``.
        self._events: deque[str] = deque()
        self._first = 0
        self._times: deque[int] = deque()
        self._sizes: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._events)

    @property
    def first_seq(self) -> int | None:
        return self._first if self._events else None

    @property
    def last_seq(self) -> int | None:
        return self._first + len(self._events) - 1 if self._events else None

    @property
    def last_size(self) -> int:
        """Bytes of the newest event held (0: none held)."""
        return self._sizes[-1] if self._sizes else 0

    def use_budget(self, budget: HistoryBudget) -> None:
        """Count this log's events (those held now included) in the process's ``budget``."""
        if self.budget is budget:
            return
        if self.budget is not None:
            for size in self._sizes:
                self.budget.removed(size)
        self.generation += 1
        self.budget = budget
        first = self.first_seq or 0
        for offset, size in enumerate(list(self._sizes)):
            if self.holds(self.generation, first + offset):
                budget.added(self, first + offset, size)

    def append(self, event: Event, now_ms: int) -> None:
        """Keep ``event`` (as its compact JSON text; its length is the event's size)."""
        last = self.last_seq
        if last is not None and event["seq"] != last + 1:
            # A jump (a restore with a trimmed tail): start over from this event.
            self.clear()
        text = compact_json(event)
        size = len(text)
        if not self._events:
            self._first = event["seq"]
        self._events.append(text)
        self._times.append(now_ms)
        self._sizes.append(size)
        self.bytes += size
        if self.budget is not None:
            self.budget.added(self, event["seq"], size)
        self.trim(now_ms)

    def extend(self, events: Iterable[Event], now_ms: int) -> None:
        for event in events:
            self.append(event, now_ms)

    def trim(self, now_ms: int) -> None:
        events, times = self._events, self._times
        while len(events) > self.hard_cap or (len(events) > self.max_events and times[0] < now_ms - self.min_age_ms):
            self.drop_oldest()
        # The newest event stays even when it alone is over the byte limit: the log then
        # answers the one catch-up that matters most (a single missed event) when it can.
        while self.max_bytes and self.bytes > self.max_bytes and len(events) > 1:
            self.over_bytes_below = self._first
            self.drop_oldest()

    def drop_oldest(self) -> None:
        """Forget the oldest event."""
        self._events.popleft()
        self._first += 1
        self._times.popleft()
        size = self._sizes.popleft()
        self.bytes -= size
        if self.budget is not None:
            self.budget.removed(size)

    def holds(self, generation: int, seq: int) -> bool:
        """Whether the log still holds event ``seq`` of its ``generation``."""
        first, last = self.first_seq, self.last_seq
        return generation == self.generation and first is not None and last is not None and first <= seq <= last

    def holds_first(self, generation: int, seq: int) -> bool:
        """Whether event ``seq`` of ``generation`` is the oldest the log holds."""
        return generation == self.generation and self.first_seq == seq

    def clear(self) -> None:
        while self._events:
            self.drop_oldest()
        self.generation += 1
        self.over_bytes_below = 0

    def bytes_since(self, seq: int) -> int | None:
        """Bytes of every event after ``seq`` (from the index: nothing is encoded), or None
        when the log does not hold them all."""
        first, last = self.first_seq, self.last_seq
        if first is None or last is None or seq < first - 1 or seq > last:
            return None
        return sum(islice(self._sizes, seq - first + 1, None))

    def since(self, seq: int) -> list[Event] | None:
        """Every event after ``seq`` in order, or ``None`` when history no longer holds them
        all (the caller then sends a snapshot, never a partial gap)."""
        first, last = self.first_seq, self.last_seq
        if first is None or last is None:
            return None
        if seq < first - 1 or seq > last:
            return None
        return [json.loads(text) for text in islice(self._events, seq - first + 1, None)]
