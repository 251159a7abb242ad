"""The storage seam: what a room needs from durable storage.

Every implementation returns Deferreds (the memory one too), and all of them pass the same
contract suite (``tests/contract/test_store_contract.py``). Guarantees asked of every store:

- ``append`` is atomic: the event, the new head seq and the cseq results of its actions are
  stored together or not at all;
- ``append`` is fenced: it fails with :class:`StaleEpoch` unless the stored epoch equals the
  batch's, and with :class:`SeqConflict` unless the stored seq is ``batch.seq - 1`` -- so a
  write that arrives late (after its caller gave up) can never apply twice or out of order;
- events are kept contiguous, for at least the history window, until trimmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from kasagi.core.room import Batch

__all__ = ["RoomExists", "RoomStore", "SeqConflict", "StaleEpoch", "StoreError", "StoredRoom"]

Event = dict[str, Any]


class StoreError(Exception):
    """The store refused or failed an operation."""


class StaleEpoch(StoreError):
    """The room's stored epoch is not the writer's: another owner took it over."""


class SeqConflict(StoreError):
    """The stored head is not where the writer believes it is."""


class RoomExists(StoreError):
    """``create`` for a room that is already stored."""


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
    #: Events ``snapshot_seq + 1 .. seq`` of ``epoch``, in order.
    tail: list[Event] = field(default_factory=list)
    #: member -> {cseq: seq} for the last results of each member.
    results: dict[str, dict[int, int]] = field(default_factory=dict)


class RoomStore(Protocol):
    """Durable storage of rooms; one implementation per backend."""

    def load(self, room: str) -> Deferred[StoredRoom | None]:
        """The stored room, or None if it was never created."""

    def create(self, room: str, type_name: str, options: dict[str, Any], epoch: int, state: dict[str, Any]) -> Deferred[None]:
        """Store a new room at seq 0; :class:`RoomExists` if it is stored already."""

    def append(self, batch: Batch) -> Deferred[None]:
        """Store one batch atomically, fenced by epoch and seq (see the module docstring)."""

    def save_snapshot(self, room: str, epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        """Record the state at ``seq`` so reloads start there; may trim older events beyond
        the history window."""

    def events_since(self, room: str, epoch: int, seq: int) -> Deferred[list[Event] | None]:
        """Every stored event after ``seq`` in ``epoch``, or None when they are not all held."""

    def set_epoch(self, room: str, old_epoch: int, new_epoch: int) -> Deferred[None]:
        """Move the room to a new epoch (history restarts from the current state);
        :class:`StaleEpoch` unless the stored epoch is ``old_epoch``."""

    def close(self) -> Deferred[None]:
        """Release connections and files."""
