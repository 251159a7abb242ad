"""The storage seam: what a room needs from durable storage.

Every implementation returns Deferreds (the memory one too), and all of them pass the same
contract suite (``tests/contract/``). Guarantees asked of every store:

- ``append`` is atomic: the event, the new head seq and the cseq results of its actions are
  stored together or not at all; results are kept as :mod:`kasagi.core.results` says (the
  highest ``results_per_member`` cseqs of each producer, the lowest dropped first and
  remembered in its floor; the batch's ``dropped`` instances forgotten, the member's
  instance floor raised to them), and floors survive ``set_epoch``;
- ``append`` is fenced: it fails with :class:`StaleEpoch` unless the stored epoch equals the
  batch's, and with :class:`SeqConflict` unless the stored seq is ``batch.seq - 1`` -- so a
  write that arrives late (after its caller gave up) can never apply twice or out of order;
- events are kept contiguous, for at least the history window (:class:`StoreLimits`), and
  trimmed (oldest first, never past the snapshot) when a snapshot is saved: those outside
  the window by count and age, and those past the byte budget (each event's stored size is
  kept), so a room always reloads from its snapshot and the events after it;
- ``load`` returns what was stored, decoded and checked: data that is not what Kasagi wrote
  (bad JSON, a key of the wrong type, an event of another epoch) fails with
  :class:`CorruptRoom` naming the room and the problem, and nothing is overwritten.

The errors::

    StoreError              the store refused or failed an operation
    +-- StaleEpoch          another owner moved the room to a new epoch (fence)
    +-- SeqConflict         the stored head is not where the writer believes (fence)
    +-- RoomExists          ``create`` of a stored room
    +-- StoreUnavailable    the store can't be reached now (fails fast; retry later)
    +-- CorruptRoom         one room's stored data is damaged or foreign
    +-- CorruptStore        the whole store is not a Kasagi room store (or a newer format)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from kasagi.core import Batch
from kasagi.core.restore import CorruptRecord
from kasagi.wire import Limits

__all__ = [
    "CorruptRoom",
    "CorruptStore",
    "Event",
    "NowMs",
    "RoomExists",
    "RoomStore",
    "SeqConflict",
    "StaleEpoch",
    "StoreError",
    "StoreLimits",
    "StoreUnavailable",
    "StoredRoom",
    "wall_ms",
]

Event = dict[str, Any]
#: A clock in milliseconds (wall time), injected into stores for history retention.
NowMs = Callable[[], int]


def wall_ms() -> int:
    return int(time.time() * 1000)


class StoreError(Exception):
    """The store refused or failed an operation."""


class StaleEpoch(StoreError):
    """The room's stored epoch is not the writer's: another owner took it over."""


class SeqConflict(StoreError):
    """The stored head is not where the writer believes it is."""


class RoomExists(StoreError):
    """``create`` for a room that is already stored."""


class StoreUnavailable(StoreError):
    """The store can't be reached right now (the operation was not sent)."""


class CorruptRoom(StoreError, CorruptRecord):
    """A room's stored data is damaged or was not written by Kasagi (``room``, ``problem``)."""


class CorruptStore(StoreError):
    """The store as a whole is not a Kasagi room store this version can use."""


@dataclass(frozen=True)
class StoreLimits:
    """How much a store keeps: the history window and the exactly-once window.

    An event is deletable once the snapshot covers it and it is outside the window by count
    and age, or (whatever its age and count) the events from it to the head add up to more
    than ``history_bytes``. Events after the snapshot are never deleted: the room's writer
    bounds them by saving snapshots often enough (``snapshot_every``, ``snapshot_bytes``).
    """

    #: Keep at least the last this many events ...
    history_events: int = Limits.HISTORY_EVENTS
    #: ... and every event younger than this (seconds) ...
    history_seconds: float = Limits.HISTORY_MIN_AGE_MS / 1000
    #: ... but never more than this many before the snapshot.
    hard_cap: int = Limits.HISTORY_HARD_CAP
    #: cseq results kept per client instance of a member.
    results_per_member: int = Limits.RESULTS_PER_MEMBER
    #: Bytes of stored events (compact JSON) kept per room, the snapshot's tail aside
    #: (0: no byte limit).
    history_bytes: int = Limits.STORE_HISTORY_BYTES

    def __post_init__(self) -> None:
        if self.history_bytes < 0:
            raise ValueError(f"store history_bytes must be >= 0, got {self.history_bytes}")

    def deletable(
        self, seq: int, t_ms: int, *, head_seq: int, snapshot_seq: int, now_ms: int, kept_bytes: int = 0
    ) -> bool:
        """Whether the event ``seq`` (stored at ``t_ms``) is outside the history window;
        ``kept_bytes``: the stored size of the events from ``seq`` to the head.

        Stores trim the longest prefix of deletable events, so history stays contiguous.
        """
        if seq > snapshot_seq:
            return False
        if self.history_bytes and kept_bytes > self.history_bytes:
            return True
        if seq > head_seq - self.history_events:
            return False
        return t_ms < now_ms - int(self.history_seconds * 1000) or seq <= head_seq - self.hard_cap


@dataclass(frozen=True)
class StoredRoom:
    """A room as loaded from the store: the latest snapshot plus the events after it."""

    room: str
    type: str
    #: The room's open options: its type's options, plus ``members`` for a private room
    #: (stored as given; the registry splits them).
    options: dict[str, Any]
    epoch: int
    seq: int
    snapshot_seq: int
    snapshot: dict[str, Any]
    #: The stored events after ``snapshot_seq``, in seq order. Normally exactly
    #: ``snapshot_seq + 1 .. seq``; anything else means history was lost (see
    #: :func:`kasagi.core.restore.rebuild`).
    tail: list[Event] = field(default_factory=list)
    #: producer key (the member, or ``"<member>/<instance>"``) -> {cseq: seq}: each client
    #: instance's highest cseqs (:mod:`kasagi.core.results`).
    results: dict[str, dict[int, int]] = field(default_factory=dict)
    #: producer key -> the highest cseq dropped from its window; ``"<member>/"`` -> the
    #: highest client instance of the member dropped.
    floors: dict[str, int] = field(default_factory=dict)


class RoomStore(Protocol):
    """Durable storage of rooms; one implementation per backend."""

    def load(self, room: str) -> Deferred[StoredRoom | None]:
        """The stored room, or None if it was never created; :class:`CorruptRoom` if its
        data is not what Kasagi writes."""

    def create(
        self, room: str, type_name: str, options: dict[str, Any], epoch: int, state: dict[str, Any]
    ) -> Deferred[None]:
        """Store a new room at seq 0; :class:`RoomExists` if anything is stored under it."""

    def append(self, batch: Batch) -> Deferred[None]:
        """Store one batch atomically, fenced by epoch and seq (see the module docstring)."""

    def save_snapshot(self, room: str, epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        """Record the state at ``seq`` (if newer than the stored snapshot) so reloads start
        there, and trim events outside the history window; :class:`StaleEpoch` if the room
        is in another epoch."""

    def events_since(self, room: str, epoch: int, seq: int) -> Deferred[list[Event] | None]:
        """Every stored event after ``seq`` in ``epoch`` up to the head, in order, or None
        when they are not all held (another epoch, trimmed, a seq in the future)."""

    def set_epoch(self, room: str, old_epoch: int, new_epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        """Restart the room's history in ``new_epoch`` at ``seq`` with ``state`` (events are
        dropped, and results after ``seq``); :class:`StaleEpoch` unless the stored epoch is
        ``old_epoch``."""

    def close(self) -> Deferred[None]:
        """Release connections, threads and files."""
