"""The listing store in memory: one process (tests, a single node with the memory store).
Every call answers a Deferred that has already fired, like the real stores' answers."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred, succeed

from kasagi.lobby.interface import ListedRoom, Seat
from kasagi.lobby.seats import Row, choose

__all__ = ["MemoryListingStore"]


class MemoryListingStore:
    """Listed rooms in a dict (see :mod:`kasagi.lobby.interface`)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._rows: dict[str, Row] = {}
        self._secret = secret or secrets.token_bytes(32)

    def put(self, listed: ListedRoom, joined: Sequence[str], now_ms: int) -> Deferred[ListedRoom | None]:
        row = self._rows.get(listed.room)
        if row is not None and row.epoch > listed.epoch:
            return succeed(None)
        reservations = row.live(now_ms) if row is not None else {}
        for member in joined:
            reservations.pop(member, None)
        row = Row(
            listed.room, listed.type, listed.epoch, dict(listed.meta), listed.members, listed.max_members, reservations
        )
        self._rows[listed.room] = row
        return succeed(row.listed(now_ms))

    def remove(self, room: str, type_name: str, epoch: int) -> Deferred[bool]:
        row = self._rows.get(room)
        if row is not None and row.epoch > epoch:
            return succeed(False)
        self._rows.pop(room, None)
        return succeed(True)

    def page(self, type_name: str, after: str, count: int, now_ms: int) -> Deferred[list[ListedRoom]]:
        rooms = sorted(r for r, row in self._rows.items() if row.type == type_name and r > after)
        return succeed([self._rows[r].listed(now_ms) for r in rooms[:count]])

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
        rows = [self._rows[r] for r in sorted(self._rows) if self._rows[r].type == type_name]
        choice = choose(rows, criteria, member, now_ms)
        for room in choice.dropped:
            del self._rows[room]
        if choice.room is not None:
            row = self._rows[choice.room]
            if not choice.held:
                row.reservations[member] = now_ms + ttl_ms
            return succeed(Seat(row.room, False, row.listed(now_ms)))
        row = Row(new_room, type_name, 0, dict(criteria), 0, seats, {member: now_ms + ttl_ms})
        self._rows[new_room] = row
        return succeed(Seat(new_room, True, row.listed(now_ms)))

    def release(self, room: str, type_name: str, member: str, now_ms: int) -> Deferred[None]:
        row = self._rows.get(room)
        if row is not None:
            row.reservations.pop(member, None)
            if row.placeholder and not row.live(now_ms):
                del self._rows[room]
        return succeed(None)

    def reservations(self, room: str, now_ms: int) -> Deferred[dict[str, int]]:
        row = self._rows.get(room)
        return succeed(row.live(now_ms) if row is not None else {})

    def secret(self) -> Deferred[bytes]:
        return succeed(self._secret)

    def close(self) -> Deferred[None]:
        return succeed(None)
