"""Who owns which room: worker leases and room ownership records.

A worker holds one *lease* (a key with a time to live, renewed by its heartbeat); a room's
ownership record names the worker that owns it and the room's epoch, its fencing token. A
room belongs to its owner for as long as the owner's lease lives, so renewing costs one
write per worker, not one per room. Ownership moves only by :meth:`Leases.claim`, an atomic
compare-and-set that succeeds when the room is unowned, released, already the caller's, or
owned by a worker whose lease has expired.

The lease decides who *should* serve a room; the store's epoch fence decides who *can*
write: a new owner moves the stored room to a new epoch before serving it, and from then on
every append of the previous owner fails with ``StaleEpoch``. Two workers that both believe
they own a room can therefore never both write, whatever the clocks say.

States of an ownership record: ``owned`` (by ``worker``), ``handover`` (released cleanly at
``epoch``, history intact: the next owner keeps the epoch) and ``free`` (released without
that guarantee: the next owner fences with a new epoch).

Two implementations behind one contract suite (``tests/contract/test_leases_contract.py``):
:class:`MemoryLeases` (tests, one process) and
:class:`~kasagi.cluster.redis_leases.RedisLeases`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime

__all__ = [
    "Claim",
    "Heartbeat",
    "Leases",
    "MemoryLeases",
    "OwnerRecord",
    "WorkerInfo",
]

OwnerState = Literal["owned", "handover", "free"]


@dataclass(frozen=True)
class OwnerRecord:
    """A room's ownership record."""

    worker: str
    epoch: int
    state: OwnerState
    #: The room type, once the owner has served the room (lets a successor adopt it).
    type: str = ""


@dataclass(frozen=True)
class Claim:
    """The outcome of :meth:`Leases.claim`."""

    #: True: the caller owns the room now.
    won: bool
    #: The record before the claim (None: never owned).
    previous: OwnerRecord | None
    #: False when the caller's own lease had expired: it may not claim anything.
    lease_ok: bool = True

    @property
    def owner(self) -> str | None:
        """Who owns the room when the claim was lost."""
        return None if self.won or self.previous is None else self.previous.worker


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as seen in the shared table: alive (lease held) and its reported load."""

    worker: str
    alive: bool
    load: Mapping[str, Any] = field(default_factory=dict)

    @property
    def weight(self) -> float:
        """How busy the worker is: one per room plus one per live client session."""
        return float(self.load.get("rooms", 0)) + float(self.load.get("sessions", 0))


@dataclass(frozen=True)
class Heartbeat:
    """The answer to a heartbeat: did the lease lapse since the last one, and the table."""

    lapsed: bool
    workers: dict[str, WorkerInfo]


class Leases(Protocol):
    """Worker leases and room ownership; every method returns a Deferred."""

    def heartbeat(self, worker: str, load: Mapping[str, Any]) -> Deferred[Heartbeat]:
        """Create or renew ``worker``'s lease, publish its load, and read every worker's."""

    def claim(self, room: str, worker: str) -> Deferred[Claim]:
        """Take ``room`` for ``worker`` unless another live worker owns it."""

    def confirm(self, room: str, worker: str, epoch: int, type_name: str) -> Deferred[bool]:
        """Record the epoch and type ``worker`` serves ``room`` at; False if it is not the owner."""

    def release(self, room: str, worker: str, epoch: int, handover: bool) -> Deferred[bool]:
        """Give ``room`` up (``handover``: history intact at ``epoch``); False if not the owner."""

    def owners(self, rooms: Iterable[str]) -> Deferred[dict[str, OwnerRecord | None]]:
        """The ownership records of ``rooms``."""

    def reap(self, dead: str, worker: str) -> Deferred[list[str] | None]:
        """If ``dead``'s lease has expired and nobody else is reaping it, make ``worker``
        its reaper (for a while) and return the rooms it owned; else None."""

    def forget(self, dead: str) -> Deferred[bool]:
        """Remove a reaped worker from the table (only while its lease is still expired)."""

    def leave(self, worker: str) -> Deferred[None]:
        """Drop ``worker``'s lease and entry (a graceful exit, after releasing its rooms)."""


def encode_load(load: Mapping[str, Any]) -> str:
    return json.dumps(dict(load), sort_keys=True, separators=(",", ":"))


def decode_load(raw: str | bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class _Lease:
    expires: float


class MemoryLeases:
    """Leases in one process, timed by an injected clock (for tests of the cluster logic)."""

    def __init__(self, clock: IReactorTime, ttl: float = 1.2, reap_ttl: float = 5.0) -> None:
        self._clock = clock
        self.ttl = ttl
        self.reap_ttl = reap_ttl
        self._leases: dict[str, _Lease] = {}
        self._table: dict[str, dict[str, Any]] = {}
        self._records: dict[str, OwnerRecord] = {}
        self._rooms: dict[str, set[str]] = {}
        self._reapers: dict[str, tuple[str, float]] = {}

    def _alive(self, worker: str) -> bool:
        lease = self._leases.get(worker)
        return lease is not None and lease.expires > self._clock.seconds()

    def expire(self, worker: str) -> Deferred[None]:
        """End ``worker``'s lease now (an operator evicting a worker; tests)."""
        self._leases.pop(worker, None)
        return succeed(None)

    def record(self, room: str) -> OwnerRecord | None:
        return self._records.get(room)

    def heartbeat(self, worker: str, load: Mapping[str, Any]) -> Deferred[Heartbeat]:
        lapsed = not self._alive(worker)
        self._leases[worker] = _Lease(self._clock.seconds() + self.ttl)
        self._table[worker] = dict(load)
        workers = {w: WorkerInfo(w, self._alive(w), dict(info)) for w, info in self._table.items()}
        return succeed(Heartbeat(lapsed, workers))

    def claim(self, room: str, worker: str) -> Deferred[Claim]:
        if not self._alive(worker):
            return succeed(Claim(False, self._records.get(room), lease_ok=False))
        previous = self._records.get(room)
        if (
            previous is not None
            and previous.worker != worker
            and previous.state == "owned"
            and self._alive(previous.worker)
        ):
            return succeed(Claim(False, previous))
        epoch = previous.epoch if previous is not None else 0
        type_name = previous.type if previous is not None else ""
        self._records[room] = OwnerRecord(worker, epoch, "owned", type_name)
        self._rooms.setdefault(worker, set()).add(room)
        if previous is not None and previous.worker != worker:
            self._rooms.get(previous.worker, set()).discard(room)
        return succeed(Claim(True, previous))

    def confirm(self, room: str, worker: str, epoch: int, type_name: str) -> Deferred[bool]:
        record = self._records.get(room)
        if record is None or record.worker != worker or record.state != "owned":
            return succeed(False)
        self._records[room] = OwnerRecord(worker, epoch, "owned", type_name)
        return succeed(True)

    def release(self, room: str, worker: str, epoch: int, handover: bool) -> Deferred[bool]:
        record = self._records.get(room)
        if record is None or record.worker != worker:
            return succeed(False)
        self._records[room] = OwnerRecord(worker, epoch, "handover" if handover else "free", record.type)
        self._rooms.get(worker, set()).discard(room)
        return succeed(True)

    def owners(self, rooms: Iterable[str]) -> Deferred[dict[str, OwnerRecord | None]]:
        return succeed({room: self._records.get(room) for room in rooms})

    def reap(self, dead: str, worker: str) -> Deferred[list[str] | None]:
        if self._alive(dead):
            return succeed(None)
        now = self._clock.seconds()
        reaper = self._reapers.get(dead)
        if reaper is not None and reaper[1] > now:
            return succeed(None)
        self._reapers[dead] = (worker, now + self.reap_ttl)
        return succeed(sorted(self._rooms.get(dead, set())))

    def forget(self, dead: str) -> Deferred[bool]:
        if self._alive(dead):
            return succeed(False)
        self._table.pop(dead, None)
        self._rooms.pop(dead, None)
        self._reapers.pop(dead, None)
        return succeed(True)

    def leave(self, worker: str) -> Deferred[None]:
        self._leases.pop(worker, None)
        self._table.pop(worker, None)
        self._rooms.pop(worker, None)
        return succeed(None)
