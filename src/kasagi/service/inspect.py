"""What the monitor shows of one room-service process: a bounded summary of it and its rooms,
and the inside of one room (``docs/monitor.md``).

:class:`RoomWatch` is a :class:`~kasagi.service.observer.ServiceObserver` placed in front of
the metrics one: it keeps, per room, the store write latency since the last summary, and per
member how often it joined lately (a member whose joins repeat is reconnecting, losing events
or failing its hash check: the *lagging* members the monitor lists). :class:`ProcessSummary`
turns the runners and the watch into the summary published on ``kasagi.admin.summary``, with
rates (actions/s, events/s) from the runners' counters between two summaries.
:func:`inspect_room` is the inspector's view of one room.

Every size is bounded: a summary lists at most :data:`SUMMARY_ROOMS` rooms (the busiest) and
:data:`SUMMARY_LAGGING` members; an inspection at most :data:`INSPECT_EVENTS` events and a
state of :data:`INSPECT_STATE_BYTES` (a bigger one is summarised by its top-level keys).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kasagi.core.room import Batch
from kasagi.core.size import json_size
from kasagi.core.values import copy_value
from kasagi.service.observer import NullObserver, ServiceObserver
from kasagi.service.runner import RoomRunner

__all__ = [
    "INSPECT_EVENTS",
    "INSPECT_STATE_BYTES",
    "JOIN_WINDOW",
    "LAGGING_JOINS",
    "SUMMARY_LAGGING",
    "SUMMARY_ROOMS",
    "ProcessSummary",
    "RoomWatch",
    "inspect_room",
]

#: Rooms in one summary (the busiest first), and members in its lagging list.
SUMMARY_ROOMS = 100
SUMMARY_LAGGING = 20
#: A member that joined a room this many times within :data:`JOIN_WINDOW` seconds is lagging.
LAGGING_JOINS = 3
JOIN_WINDOW = 60.0
#: The inspector's view of a room: its last events, and its state up to this size.
INSPECT_EVENTS = 20
INSPECT_STATE_BYTES = 32_000
#: The events of an inspection, together, up to this size (the oldest are left out first).
INSPECT_EVENTS_BYTES = 16_000


@dataclass
class _Writes:
    """A room's store writes since the last summary."""

    count: int = 0
    total: float = 0.0
    worst: float = 0.0


@dataclass
class _Joins:
    times: deque[float] = field(default_factory=deque)
    catch_ups: int = 0
    snapshots: int = 0


class RoomWatch:
    """Watches the rooms for the monitor, then hands every report on to ``inner``."""

    def __init__(self, inner: ServiceObserver | None = None, now: Callable[[], float] | None = None) -> None:
        self._inner: ServiceObserver = inner if inner is not None else NullObserver()
        self._now = now or (lambda: 0.0)
        self._writes: dict[str, _Writes] = {}
        #: (room, member) -> its recent joins.
        self._joins: dict[tuple[str, str], _Joins] = {}

    # -- ServiceObserver -----------------------------------------------------------------------
    def committed(self, batch: Batch, seconds: float) -> None:
        writes = self._writes.setdefault(batch.room, _Writes())
        writes.count += 1
        writes.total += seconds
        writes.worst = max(writes.worst, seconds)
        self._inner.committed(batch, seconds)

    def commit_failed(self, batch: Batch, seconds: float, reason: str) -> None:
        self._inner.commit_failed(batch, seconds, reason)

    def joined(self, catch_up: bool) -> None:
        self._inner.joined(catch_up)

    def acknowledged(self, seconds: float) -> None:
        self._inner.acknowledged(seconds)

    def refused(self, uri: str) -> None:
        """The WAMP edge's refusal counter, when the inner observer keeps one."""
        refused = getattr(self._inner, "refused", None)
        if refused is not None:
            refused(uri)

    # -- what the monitor reads ----------------------------------------------------------------
    def member_joined(self, room: str, member: str) -> None:
        """``member`` called ``join`` on ``room`` (the edge reports every join)."""
        now = self._now()
        joins = self._joins.setdefault((room, member), _Joins())
        joins.times.append(now)
        self._forget_old(joins, now)

    def take_writes(self, room: str) -> dict[str, float] | None:
        """The room's write latency since the last call: ``{"avg_ms", "max_ms", "writes"}``."""
        writes = self._writes.pop(room, None)
        if writes is None or not writes.count:
            return None
        return {
            "avg_ms": round(1000 * writes.total / writes.count, 2),
            "max_ms": round(1000 * writes.worst, 2),
            "writes": writes.count,
        }

    def lagging(self, limit: int = SUMMARY_LAGGING) -> list[dict[str, Any]]:
        """The members that joined a room at least :data:`LAGGING_JOINS` times within the
        window, most joins first."""
        now = self._now()
        found: list[dict[str, Any]] = []
        for (room, member), joins in list(self._joins.items()):
            self._forget_old(joins, now)
            if not joins.times:
                del self._joins[(room, member)]
            elif len(joins.times) >= LAGGING_JOINS:
                found.append({"room": room, "member": member, "joins": len(joins.times), "window_s": JOIN_WINDOW})
        found.sort(key=lambda m: (-m["joins"], m["room"], m["member"]))
        return found[:limit]

    def forget_room(self, room: str) -> None:
        self._writes.pop(room, None)
        for key in [k for k in self._joins if k[0] == room]:
            del self._joins[key]

    @staticmethod
    def _forget_old(joins: _Joins, now: float) -> None:
        while joins.times and joins.times[0] <= now - JOIN_WINDOW:
            joins.times.popleft()


class ProcessSummary:
    """The summary of one process, built every time :meth:`build` is called."""

    def __init__(
        self,
        *,
        process: str,
        kind: str,
        runners: Callable[[], Mapping[str, RoomRunner]],
        watch: RoomWatch,
        now: Callable[[], float],
        links: Callable[[], int],
        started: float,
        store: str = "",
    ) -> None:
        self.process = process
        self.kind = kind
        self._runners = runners
        self._watch = watch
        self._now = now
        self._links = links
        self._started = started
        self._store = store
        #: room -> (time, actions, events) at the previous summary.
        self._last: dict[str, tuple[float, int, int]] = {}

    def build(self) -> dict[str, Any]:
        now = self._now()
        runners = self._runners()
        rooms = [self._room(name, runner, now) for name, runner in runners.items()]
        for gone in set(self._last) - set(runners):
            del self._last[gone]
            self._watch.forget_room(gone)
        rooms.sort(key=lambda r: (-r["actions_per_s"], -r["online"], r["room"]))
        phases: dict[str, int] = {}
        for runner in runners.values():
            phases[runner.phase.value] = phases.get(runner.phase.value, 0) + 1
        links = self._links()
        troubled = sum(n for phase, n in phases.items() if phase != "live")
        health = "ok" if links and not troubled else ("down" if not links else "degraded")
        return {
            "process": self.process,
            "kind": self.kind,
            "at": round(now, 3),
            "uptime_s": round(now - self._started, 1),
            "health": health,
            "links": links,
            "store": self._store,
            "phases": phases,
            "rooms_total": len(rooms),
            "online_total": sum(r["online"] for r in rooms),
            "rooms": rooms[:SUMMARY_ROOMS],
            "lagging": self._watch.lagging(),
        }

    def _room(self, name: str, runner: RoomRunner, now: float) -> dict[str, Any]:
        room = runner.room
        actions, events = runner.stats.get("actions", 0), runner.stats.get("events", 0)
        then, actions_then, events_then = self._last.get(name, (now, actions, events))
        self._last[name] = (now, actions, events)
        elapsed = now - then
        return {
            "room": name,
            "type": room.type.name,
            "online": room.online_count,
            "members": len(room.committed.get("members", {})),
            "actions_per_s": round((actions - actions_then) / elapsed, 1) if elapsed > 0 else 0.0,
            "events_per_s": round((events - events_then) / elapsed, 1) if elapsed > 0 else 0.0,
            "seq": room.seq,
            "epoch": room.epoch,
            "phase": runner.phase.value,
            "owner": self.process,
            "private": room.access.to_wire() is not None,
            "store_write": self._watch.take_writes(name),
        }


def inspect_room(runner: RoomRunner, process: str) -> dict[str, Any]:
    """The inspector's view of one room: position, committed state (bounded), the last events
    and every member with its presence and live sessions."""
    room = runner.room
    state = room.committed
    size = json_size(state)
    shown: Any = copy_value(state)
    if size > INSPECT_STATE_BYTES:
        shown = {key: f"({json_size(value)} bytes)" for key, value in state.items()}
    sessions: dict[str, int] = {}
    for member in room.sessions().values():
        sessions[member] = sessions.get(member, 0) + 1
    presence = state.get("members", {})
    members = [
        {"member": member, "sessions": sessions.get(member, 0), "presence": copy_value(presence.get(member))}
        for member in sorted(set(presence) | set(sessions))
    ]
    return {
        "room": room.room_id,
        "type": room.type.name,
        "process": process,
        "epoch": room.epoch,
        "seq": room.seq,
        "phase": runner.phase.value,
        "private": room.access.to_wire(),
        "state": shown,
        "state_bytes": size,
        "state_truncated": size > INSPECT_STATE_BYTES,
        "events": _last_events(room.history.since(max(0, room.seq - INSPECT_EVENTS)) or _held(room)),
        "members": members,
    }


def _held(room: Any) -> list[dict[str, Any]]:
    """The events memory still holds when the last :data:`INSPECT_EVENTS` are not all there."""
    first = room.history.first_seq
    if first is None:
        return []
    events: list[dict[str, Any]] = room.history.since(first - 1) or []
    return events


def _last_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    kept: list[dict[str, Any]] = []
    budget = INSPECT_EVENTS_BYTES
    for event in reversed(list(events)[-INSPECT_EVENTS:]):
        size = json_size(event)
        if size > budget:
            kept.append({"epoch": event["epoch"], "seq": event["seq"], "ops": [], "omitted_bytes": size})
            budget = 0
            break
        budget -= size
        kept.append(copy_value(event))
    kept.reverse()
    return kept
