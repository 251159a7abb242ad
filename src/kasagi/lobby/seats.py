"""The reservation rules, pure: which room a matcher gets a seat in (the memory and SQLite
stores run them on rows they hold or read in one transaction; the Redis store runs the same
rules as a Lua script)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kasagi.core.listing import matches
from kasagi.lobby.interface import ListedRoom

__all__ = ["Choice", "Row", "choose"]


@dataclass
class Row:
    """A listed room as a store holds it, with its reservations (member -> expiry ms)."""

    room: str
    type: str
    epoch: int
    meta: dict[str, Any]
    members: int
    max_members: int
    reservations: dict[str, int] = field(default_factory=dict)

    def live(self, now_ms: int) -> dict[str, int]:
        return {m: t for m, t in self.reservations.items() if t > now_ms}

    def listed(self, now_ms: int) -> ListedRoom:
        return ListedRoom(
            self.room, self.type, self.epoch, dict(self.meta), self.members, self.max_members, len(self.live(now_ms))
        )

    @property
    def placeholder(self) -> bool:
        return self.epoch == 0


@dataclass(frozen=True)
class Choice:
    """What ``choose`` decided: the room (None: make a placeholder), whether the member
    already held the seat, and the rows to drop (placeholders nobody will claim)."""

    room: str | None
    held: bool
    dropped: tuple[str, ...]


def choose(rows: Iterable[Row], criteria: Mapping[str, Any], member: str, now_ms: int) -> Choice:
    """The seat for ``member`` among ``rows`` (in room-id order); expired reservations are
    removed from the rows as a side effect."""
    chosen: str | None = None
    dropped: list[str] = []
    for row in rows:
        row.reservations = row.live(now_ms)
        if row.placeholder and not row.reservations:
            dropped.append(row.room)
            continue
        if not matches(row.meta, criteria):
            continue
        if member in row.reservations:
            return Choice(row.room, True, tuple(dropped))
        if chosen is None and row.members + len(row.reservations) < row.max_members:
            chosen = row.room
    return Choice(chosen, False, tuple(dropped))
