"""The room service's settings: one frozen value, built once at the edge and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from kasagi.core.admission import AdmissionLimits
from kasagi.core.room import RoomConfig
from kasagi.core.values import ValueLimits
from kasagi.store.interface import StoreLimits
from kasagi.wire import Limits

__all__ = ["ServiceSettings"]


@dataclass(frozen=True)
class ServiceSettings:
    """Tunables of the room service (defaults documented in ``docs/protocol.md``)."""

    #: Seconds between commits of a busy room; 0 commits at the end of each reactor turn.
    tick: float = 0.02
    #: Busy rooms commit on one grid of ticks shared by the process, so that the store writes
    #: their appends in one transaction (``kasagi.core.commit_schedule``).
    aligned_commits: bool = True
    #: The longest a busy process stretches the commit tick to, seconds (``tick``: never).
    max_tick: float = 0.05
    #: Reactor lag (seconds) at which the tick is at ``max_tick`` and actions begin to be
    #: refused (``rate_limited`` with ``retry_after``); 0 turns admission control off.
    overload_lag: float = 0.04
    #: Seconds of commits that may wait beyond a tick: while the reactor lags or acks are slow, at most ack rate
    #: x (tick + this) actions wait for their commit, more are refused; 0: no such bound.
    overload_delay: float = 0.03
    #: Most actions of a process waiting for their commit before more are refused (0: no bound).
    max_in_flight: int = 5000
    #: Most actions of one room waiting for their commit before more are refused (0: no bound).
    max_room_pending: int = 1000
    #: Put the state hash in every K-th event.
    hash_every: int = Limits.HASH_EVERY
    #: Presence grace period, seconds.
    grace: float = Limits.GRACE_MS / 1000
    #: History window: events kept in memory (and in the store) ...
    history_events: int = Limits.HISTORY_EVENTS
    #: ... and seconds of events kept beyond that.
    history_seconds: float = Limits.HISTORY_MIN_AGE_MS / 1000
    #: cseq results kept per client instance of a member, and instances kept per member.
    results_per_member: int = Limits.RESULTS_PER_MEMBER
    instances_per_member: int = Limits.INSTANCES_PER_MEMBER
    #: Seconds a store operation may take before callers get ``kasagi.error.unavailable``.
    store_deadline: float = 2.0
    #: Seconds loading a room may take (a read: a long history replays slowly, and a late
    #: answer can't apply anything twice); callers of ``open`` meanwhile retry.
    load_deadline: float = 30.0
    #: Seconds a room with live sessions may stay quiet before it repeats its last event
    #: (the head beacon, see ``kasagi.service.beacon``); 0 turns it off.
    beacon: float = 5.0
    #: Save a snapshot every this many events (bounds reload time) ...
    snapshot_every: int = 500
    #: ... and once the events since the last one add up to this many bytes (bounds the
    #: store's events after its snapshot, which are never trimmed; 0: by count only).
    snapshot_bytes: int = Limits.SNAPSHOT_BYTES
    #: Bytes of events the store keeps per room besides those after its snapshot (0: no
    #: byte limit; the count and age window above still applies).
    store_history_bytes: int = Limits.STORE_HISTORY_BYTES
    #: Where rooms are stored: ``memory``, ``sqlite`` (``<data_dir>/rooms.sqlite3``),
    #: ``sqlite:PATH`` or ``redis://host:port/db`` (see :mod:`kasagi.store.factory`).
    store: str = "sqlite"
    #: The node's data directory (``kasagi up --data-dir``), where ``sqlite`` lives.
    data_dir: str = ""
    #: Maximum size of a client-supplied value.
    max_depth: int = Limits.MAX_DEPTH
    max_nodes: int = Limits.MAX_NODES
    max_string: int = Limits.MAX_STRING
    #: Actions per second each member may send (token bucket refill; 0: no limit) ...
    action_rate: float = Limits.ACTION_RATE
    #: ... and how many it may send at once (bucket size).
    action_burst: float = Limits.ACTION_BURST
    #: Most members a room holds (online or in their grace period; 0: no limit).
    max_members: int = Limits.MAX_MEMBERS
    #: Most rooms one room-service process serves at once (0: no limit).
    max_rooms: int = Limits.MAX_ROOMS
    #: Most live rooms one member may have opened here (0: no limit): counts the rooms its
    #: ``open`` (or ``match``) loaded or created, until they are unloaded.
    max_rooms_per_member: int = Limits.MAX_ROOMS_PER_MEMBER
    #: Seconds an empty room (no session, no member in its grace period, no pending timer,
    #: nothing to commit) stays loaded before it is unloaded (0: never unloaded).
    room_idle: float = Limits.ROOM_IDLE_MS / 1000
    #: Largest room state, in bytes of compact JSON (0: no limit).
    max_state_bytes: int = Limits.MAX_STATE_BYTES
    #: Largest change of one action, and of all the actions of one event (bytes of compact
    #: JSON of their ops; 0: no limit).
    max_event_bytes: int = Limits.MAX_EVENT_BYTES
    #: Largest catch-up a join is answered with (bytes of its events; 0: no limit).
    max_catchup_bytes: int = Limits.MAX_CATCHUP_BYTES
    #: History in memory, bytes of events per room and per process (0: no byte limit).
    history_bytes: int = Limits.HISTORY_ROOM_BYTES
    history_process_bytes: int = Limits.HISTORY_PROCESS_BYTES
    #: ``kasagi.lobby.match`` calls per second each member may make (0: no limit) ...
    match_rate: float = Limits.MATCH_RATE
    #: ... and at once.
    match_burst: float = Limits.MATCH_BURST
    #: ``kasagi.lobby.open`` calls per second each member may make (0: no limit) ...
    open_rate: float = Limits.OPEN_RATE
    #: ... and at once.
    open_burst: float = Limits.OPEN_BURST
    #: Seconds a seat reserved by ``kasagi.lobby.match`` waits for its member to join.
    reservation_ttl: float = Limits.RESERVATION_TTL_MS / 1000
    #: Rooms per page of ``kasagi.lobby.list``.
    lobby_page: int = Limits.LOBBY_PAGE

    def __post_init__(self) -> None:
        for name in (
            "action_rate",
            "max_members",
            "max_rooms",
            "max_rooms_per_member",
            "room_idle",
            "max_state_bytes",
            "max_event_bytes",
            "max_catchup_bytes",
            "history_bytes",
            "history_process_bytes",
            "snapshot_bytes",
            "store_history_bytes",
            "tick",
            "store_deadline",
            "match_rate",
            "open_rate",
            "overload_lag",
            "overload_delay",
            "max_in_flight",
            "max_room_pending",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"room service setting {name} must be >= 0")
        if self.action_rate > 0 and self.action_burst < 1:
            raise ValueError("room service setting action_burst must be >= 1")
        for rate, burst in (("match_rate", "match_burst"), ("open_rate", "open_burst")):
            if getattr(self, rate) > 0 and getattr(self, burst) < 1:
                raise ValueError(f"room service setting {burst} must be >= 1")
        if self.reservation_ttl <= 0 or not 1 <= self.lobby_page <= 500:
            raise ValueError("room service settings: reservation_ttl must be > 0, lobby_page 1 to 500")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> ServiceSettings:
        """Build from a config mapping (a component's ``extra``); unknown keys are refused."""
        raw = dict(raw or {})
        known = {f.name: f for f in fields(cls)}
        unknown = set(raw) - set(known)
        if unknown:
            raise ValueError(f"unknown room service settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            default: Any = known[name].default
            if isinstance(default, bool):
                values[name] = _flag(name, value)
            else:
                values[name] = type(default)(value) if not isinstance(default, str) else str(value)
        return cls(**values)

    def room_config(self) -> RoomConfig:
        return RoomConfig(
            hash_every=self.hash_every,
            results_per_member=self.results_per_member,
            instances_per_member=self.instances_per_member,
            grace_ms=int(self.grace * 1000),
            history_events=self.history_events,
            history_min_age_ms=int(self.history_seconds * 1000),
            max_members=self.max_members,
            max_state_bytes=self.max_state_bytes,
            max_event_bytes=self.max_event_bytes,
            max_catchup_bytes=self.max_catchup_bytes,
            history_max_bytes=self.history_bytes,
        )

    def admission_limits(self) -> AdmissionLimits | None:
        """The bounds of admission control; None when it is off (``overload_lag`` 0)."""
        if not self.overload_lag:
            return None
        return AdmissionLimits(
            tick=self.tick,
            max_tick=max(self.tick, self.max_tick),
            overload_lag=self.overload_lag,
            overload_delay=self.overload_delay,
            max_in_flight=self.max_in_flight,
            max_room_pending=self.max_room_pending,
        )

    def store_limits(self) -> StoreLimits:
        return StoreLimits(
            history_events=self.history_events,
            history_seconds=self.history_seconds,
            results_per_member=self.results_per_member,
            history_bytes=self.store_history_bytes,
        )

    def value_limits(self) -> ValueLimits:
        return ValueLimits(self.max_depth, self.max_nodes, self.max_string)


def _flag(name: str, value: Any) -> bool:
    """A yes/no setting from a config value (``bool("false")`` would be True)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"room service setting {name} must be true or false, not {value!r}")
