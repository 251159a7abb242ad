"""Rebuilding a room from what its store holds: the snapshot plus the events after it.

Pure (no I/O): the registry loads, this rebuilds and judges, the registry acts on the verdict.
What it reads is a :class:`RoomRecord` (the store's ``StoredRoom`` is one).

- **Intact** history (events ``snapshot_seq + 1 .. seq``, each applying to the state before
  it) gives the room exactly as it was: same epoch, same seq, same results.
- **Not intact** (events missing at the end or in the middle -- a store that lost writes or
  was trimmed by hand) gives the room at the last event that still connects, and a note of
  what is missing: the caller moves it to a new epoch, so clients re-join with a snapshot
  instead of trusting seqs whose meaning changed. Results after that seq are dropped (those
  actions are lost; a retry applies them again). Floors are kept: a cseq below one is still
  refused as of unknown outcome, never applied twice.
- **Damaged** data (an event that does not apply, a state its room type refuses, an unknown
  type, bad options or a bad member list) raises :class:`CorruptRecord` (the store's
  ``CorruptRoom`` is one too); nothing is rebuilt or written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kasagi.core.access import PUBLIC, RoomAccess, split_open_options
from kasagi.core.errors import KasagiError
from kasagi.core.ops import OpError, apply_ops
from kasagi.core.room import Room, RoomConfig
from kasagi.core.roomtypes import RoomType, make_room_type

__all__ = ["CorruptRecord", "Rebuilt", "RoomRecord", "rebuild"]


class CorruptRecord(Exception):
    """A room's record is damaged or was not written by Kasagi: it can't be rebuilt."""

    def __init__(self, room: str, problem: str) -> None:
        super().__init__(f"room {room}: {problem}")
        self.room = room
        self.problem = problem


class RoomRecord(Protocol):
    """What a store holds of a room: the latest snapshot plus the events after it."""

    @property
    def room(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def epoch(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def snapshot_seq(self) -> int: ...
    @property
    def snapshot(self) -> dict[str, Any]: ...
    @property
    def tail(self) -> list[dict[str, Any]]: ...
    @property
    def results(self) -> dict[str, dict[int, int]]: ...
    @property
    def floors(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Rebuilt:
    room: Room
    #: None when history was intact; else what is missing.
    lost: str | None = None


def rebuild(
    stored: RoomRecord,
    *,
    config: RoomConfig,
    now_ms: int,
    types: Mapping[str, type[RoomType]],
) -> Rebuilt:
    """The room ``stored`` describes (see the module docstring)."""
    name = stored.room
    members, type_options = split_open_options(stored.options)
    try:
        access = RoomAccess.parse(members, max_members=0) or PUBLIC
    except KasagiError as exc:
        raise CorruptRecord(name, f"its stored member list is not one ({exc.message})") from None
    try:
        room_type = make_room_type(stored.type, type_options, types)
    except KasagiError as exc:
        raise CorruptRecord(
            name, f"its type {stored.type!r} with its options can't be used here ({exc.message})"
        ) from None
    if not 0 <= stored.snapshot_seq <= stored.seq:
        raise CorruptRecord(name, f"its snapshot seq {stored.snapshot_seq} is outside 0..{stored.seq}")
    if not isinstance(stored.snapshot.get("members", {}), dict):
        raise CorruptRecord(name, "its snapshot's members is not a map")
    state = stored.snapshot
    applied = []
    seq = stored.snapshot_seq
    for event in stored.tail:
        if event["seq"] != seq + 1:
            break
        try:
            apply_ops(state, event["ops"])
        except OpError as exc:
            raise CorruptRecord(name, f"event {event['seq']} does not apply to the state before it ({exc})") from None
        applied.append(event)
        seq += 1
    try:
        room_type.check(state)
    except KasagiError as exc:
        raise CorruptRecord(name, f"its state breaks the rules of room type {room_type.name} ({exc.message})") from None
    lost = None
    results = stored.results
    if seq != stored.seq:
        lost = f"events {seq + 1}..{stored.seq} are missing"
        results = {m: {c: s for c, s in r.items() if s <= seq} for m, r in results.items()}
    state.setdefault("members", {})
    room = Room(
        name,
        room_type,
        epoch=stored.epoch,
        seq=seq,
        state=state,
        results=results,
        floors=stored.floors,
        config=config,
        access=access,
    )
    room.history.extend(applied, now_ms)
    return Rebuilt(room, lost)
