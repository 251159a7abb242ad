"""The listing seam: where the lobby keeps the listed rooms and their seat reservations.

Every implementation (memory, embedded SQLite, Redis) returns Deferreds and passes the one
contract suite ``tests/contract/test_listing_contract.py``. Guarantees asked of every store:

- **Fenced writes.** A listing carries the epoch of the room's owner that wrote it; a write
  (``put``/``remove``) with an epoch below the stored one is ignored -- a stale owner, which
  the room's store already fences out (``StaleEpoch``), can't overwrite its successor's
  listing either. A reservation's placeholder has epoch 0: any owner's write replaces it.
- **Atomic reservations.** ``reserve`` finds a room and takes a seat in one step that no other
  ``reserve`` (of any process sharing the store) interleaves with: a room never holds more
  members plus live reservations than its ``max_members``.
- **Reservations end** when their member is reported joined (``put(..., joined)``), released,
  or past their expiry (dropped by the next operation that looks at the room). A placeholder
  whose reservations all ended, and whose room never came to be, is dropped with them.
- **One secret** per store (``secret``): every process sharing the store reads the same bytes,
  so a cursor one router's lobby signed is valid on every other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred

__all__ = ["ListedRoom", "ListingStore", "Seat"]


@dataclass(frozen=True)
class ListedRoom:
    """One listed room as stored: its owner's last listing and its live reservations."""

    room: str
    type: str
    #: The epoch of the owner that wrote it (0: a placeholder a reservation made).
    epoch: int
    meta: Mapping[str, Any]
    #: Members in the room (online or in their grace period) when its owner last wrote.
    members: int
    max_members: int
    #: Live seat reservations (members matched to the room who have not joined yet).
    reserved: int = 0

    @property
    def taken(self) -> int:
        """Seats taken: members plus live reservations."""
        return self.members + self.reserved

    def to_wire(self) -> dict[str, Any]:
        """As ``kasagi.lobby.list`` and the lobby topic show it (``members``: seats taken)."""
        return {
            "room": self.room,
            "type": self.type,
            "meta": dict(self.meta),
            "members": self.taken,
            "max_members": self.max_members,
        }


@dataclass(frozen=True)
class Seat:
    """A reservation ``reserve`` made: in ``room`` (``created``: a placeholder for a new room,
    which the caller opens), and the room's listing after it."""

    room: str
    created: bool
    listed: ListedRoom
    extra: Mapping[str, Any] = field(default_factory=dict)


class ListingStore(Protocol):
    """Listed rooms and seat reservations; one implementation per backend."""

    def put(self, listed: ListedRoom, joined: Sequence[str], now_ms: int) -> Deferred[ListedRoom | None]:
        """Write a room's listing (``listed.reserved`` is ignored) and end the reservations of
        the ``joined`` members; fires with the stored listing, or None when a listing of a
        later epoch is stored (fenced: nothing written)."""

    def remove(self, room: str, type_name: str, epoch: int) -> Deferred[bool]:
        """Unlist ``room`` with its reservations; False when fenced (a later epoch is stored)."""

    def page(self, type_name: str, after: str, count: int, now_ms: int) -> Deferred[list[ListedRoom]]:
        """Up to ``count`` listed rooms of the type after ``after`` (room-id order; ``""``:
        from the start), with their live reservations counted."""

    def reserve(
        self,
        type_name: str,
        criteria: Mapping[str, Any],
        member: str,
        *,
        seats: int,
        now_ms: int,
        ttl_ms: int,
        new_room: str,
    ) -> Deferred[Seat]:
        """Atomically: the member's live reservation in a fitting room of the type if it has
        one; else a seat in the first room (room-id order) whose metadata fits ``criteria``
        with a free seat; else a placeholder ``new_room`` (``seats`` seats, the criteria as
        its metadata) with the member's seat in it. A reservation lasts ``ttl_ms``."""

    def release(self, room: str, type_name: str, member: str, now_ms: int) -> Deferred[None]:
        """End the member's reservation in ``room`` (its open failed); a placeholder left with
        no live reservation is dropped."""

    def reservations(self, room: str, now_ms: int) -> Deferred[dict[str, int]]:
        """The live reservations of ``room``: member -> expiry (ms)."""

    def secret(self) -> Deferred[bytes]:
        """The store's signing secret (made once, the same for every process)."""

    def close(self) -> Deferred[None]:
        """Release connections, threads and files."""
