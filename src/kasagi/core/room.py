"""The room state machine: everything that decides what a room's state and events are.

No I/O and no clock: time arrives as ``now_ms`` arguments, and the caller (the service)
decides when to commit. The life of an action::

    act()            validated, applied to the working state at once, queued as pending
    begin_commit()   pending ops become one Batch = the event for seq + 1 (one per tick)
    commit_succeeded(batch)   the store has it: seq advances, results are recorded
    commit_failed(batch)      the store refused: every uncommitted change is rolled back

Two copies of the state are kept: ``state`` (working: every accepted action applied, used to
validate the next one) and ``committed`` (exactly the state at ``seq``, served to joins).

A join is an action too: its effects (presence, ``on_join``) go into the next batch, and its
reply is the committed state (or catch-up) at the seq of that batch -- so the reply always
shows the joining member. :meth:`Room.join` answers at once when nothing of the member's
presence is left to commit, else it gives a :class:`~kasagi.core.replies.JoinPending`, and
:meth:`Room.answer_join` answers it once that seq is committed.

Presence (``state.members``) is derived from the live sessions the room knows of and
reconciled into ordinary ops; after a rollback or a restore it heals itself.

Time: a room type with ``tick_hz`` is stepped by :meth:`Room.tick`; durable timers (kept in the
server-owned ``state["timers"]``) fire through :meth:`Room.fire_timers`. The service decides
when (``kasagi.service.loop``); the effects join the pending batch like an action's.

Hooks that fail (:mod:`kasagi.core.hooks`) never escape as a crash: ``apply``/``check`` and the
``on_join`` of a join refuse the call with ``Internal`` and apply nothing; ``on_leave``: the
member is removed without its effects; ``on_tick``: that tick is skipped; ``on_timer``: the
timer is consumed. Each failure is kept in :attr:`Room.hook_failures` for the service to log.

Admin changes (the monitor, ``docs/monitor.md``): :meth:`Room.remove_member` ends a member's
presence at once and :meth:`Room.close` ends everyone's; both join the pending batch like an
action, and the event that carries them says so in its ``notices``.

Limits: a private room admits only its listed members (:class:`~kasagi.core.access.RoomAccess`);
``max_members`` caps the members a room holds (online or within their grace period) and
``max_state_bytes`` the size of its state (:mod:`kasagi.core.size`), refusing the join or
action that would exceed them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kasagi.core.access import PUBLIC, RoomAccess
from kasagi.core.canonical import state_hash
from kasagi.core.effects import due_timers, next_timer_at, timer_ops
from kasagi.core.errors import (
    Full,
    InvalidArgument,
    KasagiError,
    NotMember,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    describe,
)
from kasagi.core.history import DeltaLog
from kasagi.core.hooks import HookError, HookFailure
from kasagi.core.listing import check_meta
from kasagi.core.ops import Op, OpError, UndoLog, apply_op, apply_ops, compact_ops, del_op, set_op, undo
from kasagi.core.replies import CatchUp, JoinPending, JoinReply, Snapshot
from kasagi.core.results import (
    DEFAULT_INSTANCE,
    drop_instance,
    instance_floor_key,
    pick_drops,
    producer_key,
    record_result,
)
from kasagi.core.roomtypes.base import RoomType
from kasagi.core.size import json_size, size_delta
from kasagi.core.values import copy_value
from kasagi.core.views import HASHES_KEY, check_private_ops, event_for, op_audience, view_hashes, view_of
from kasagi.wire import NOTICE_CLOSED, NOTICE_REMOVED, PRIVATE_KEY, SERVER_OWNED, TIMERS_KEY, Limits

__all__ = [
    "Accepted",
    "ActOutcome",
    "Applied",
    "Batch",
    "FiredTimers",
    "InFlight",
    "Room",
    "RoomConfig",
    "StreamPosition",
]

Event = dict[str, Any]
#: (producer key, cseq): the producer key is the member for its default client instance,
#: ``"<member>/<instance>"`` for another (:mod:`kasagi.core.results`).
AckKey = tuple[str, int]


@dataclass(frozen=True)
class StreamPosition:
    """A point in a room's event stream: the epoch and the seq of the last event applied."""

    epoch: int
    seq: int

    @classmethod
    def parse(cls, raw: Any, field_name: str = "since") -> StreamPosition | None:
        """``None`` or ``{"epoch": int, "seq": int}``, else ``InvalidArgument``."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise InvalidArgument(
                f"{field_name} must be null or a position",
                field=field_name,
                expected='null or {"epoch": int, "seq": int}',
                got=describe(raw),
            )
        for key in ("epoch", "seq"):
            value = raw.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgument(
                    f"{field_name}.{key} must be an integer >= 0",
                    field=f"{field_name}.{key}",
                    expected="an integer >= 0",
                    got=describe(value),
                )
        return cls(raw["epoch"], raw["seq"])


@dataclass(frozen=True)
class RoomConfig:
    """Per-room tunables (documented in ``docs/protocol.md``)."""

    #: Put the state hash in every K-th event (0: never).
    hash_every: int = Limits.HASH_EVERY
    #: Keep this many cseq results per client instance of a member (exactly-once window) ...
    results_per_member: int = Limits.RESULTS_PER_MEMBER
    #: ... and this many client instances per member besides its default one (0: no limit).
    instances_per_member: int = Limits.INSTANCES_PER_MEMBER
    #: How long an offline member keeps its place.
    grace_ms: int = Limits.GRACE_MS
    #: History: at least this many events ...
    history_events: int = Limits.HISTORY_EVENTS
    #: ... and every event younger than this.
    history_min_age_ms: int = Limits.HISTORY_MIN_AGE_MS
    #: ... but never more than this many.
    history_hard_cap: int = Limits.HISTORY_HARD_CAP
    #: Most members (online or in their grace period) a room holds; 0: no limit.
    max_members: int = 0
    #: Largest state (bytes of compact JSON) an action may leave; 0: no limit.
    max_state_bytes: int = 0
    #: Largest change (bytes of compact JSON of its ops) one action may make, and most the
    #: actions of one event may make together; 0: no limit.
    max_event_bytes: int = Limits.MAX_EVENT_BYTES
    #: Largest catch-up (bytes of its events) a join is answered with; a bigger one gets a
    #: snapshot. 0: no limit.
    max_catchup_bytes: int = Limits.MAX_CATCHUP_BYTES
    #: History: never more than this many bytes of events (0: no byte limit).
    history_max_bytes: int = Limits.HISTORY_ROOM_BYTES


@dataclass(frozen=True)
class Batch:
    """The effects of one tick: the event for ``seq`` and the actions it acknowledges."""

    room: str
    epoch: int
    seq: int
    ops: list[Op]
    hash: str | None
    acks: tuple[AckKey, ...]
    #: Actions of the fast input path, acknowledged in the event itself: member -> cseqs.
    announced: Mapping[str, list[int]] = field(default_factory=dict)
    #: With ``hash``: the hash of the view of each member with private state (``hash`` is
    #: then the public view's). Kept in the whole event, never sent as it is.
    hashes: Mapping[str, str] = field(default_factory=dict)
    #: What happened besides the ops (an admin removed a member, closed the room), in order.
    notices: tuple[Mapping[str, Any], ...] = ()
    #: Client instances whose results this batch drops, ``(member, instance)``: the member's
    #: instance floor rises to each (:mod:`kasagi.core.results`).
    dropped: tuple[tuple[str, int], ...] = ()

    @property
    def event(self) -> Event:
        """The whole event, as the store and the history keep it (private ops included: a
        member receives :func:`kasagi.core.views.event_for` of it)."""
        event: Event = {"epoch": self.epoch, "seq": self.seq, "ops": self.ops}
        if self.hash is not None:
            event["hash"] = self.hash
        if self.announced:
            event["acks"] = {member: list(cseqs) for member, cseqs in self.announced.items()}
        if self.hashes:
            event[HASHES_KEY] = dict(self.hashes)
        if self.notices:
            event["notices"] = [dict(notice) for notice in self.notices]
        return event


@dataclass(frozen=True)
class Applied:
    """The action was applied before (same member and cseq): its first result."""

    seq: int


@dataclass(frozen=True)
class Accepted:
    """The action was applied to the working state and waits for the next commit."""

    key: AckKey


@dataclass(frozen=True)
class InFlight:
    """The same action (member, cseq) is already waiting for a commit."""

    key: AckKey


ActOutcome = Applied | Accepted | InFlight


@dataclass(frozen=True)
class FiredTimers:
    """What :meth:`Room.fire_timers` did: the timers that fired (in order) and the failures
    of their ``on_timer`` hooks (such a timer is consumed all the same)."""

    fired: tuple[str, ...] = ()
    failures: tuple[HookFailure, ...] = ()


@dataclass
class _Pending:
    ops: list[Op] = field(default_factory=list)
    acks: list[AckKey] = field(default_factory=list)
    keys: set[AckKey] = field(default_factory=set)
    announced: dict[str, list[int]] = field(default_factory=dict)
    notices: list[dict[str, Any]] = field(default_factory=list)
    #: Bytes of the ops of the actions in this batch (with an event limit).
    bytes: int = 0


class Room:
    """One room: its type, its position (epoch, seq), its state, history and presence."""

    def __init__(
        self,
        room_id: str,
        room_type: RoomType,
        *,
        epoch: int,
        seq: int = 0,
        state: dict[str, Any] | None = None,
        results: Mapping[str, Mapping[int, int]] | None = None,
        floors: Mapping[str, int] | None = None,
        config: RoomConfig | None = None,
        access: RoomAccess = PUBLIC,
    ) -> None:
        self.room_id = room_id
        self.type = room_type
        self.config = config or RoomConfig()
        self.access = access
        self.epoch = epoch
        self.seq = seq
        if state is None:
            state = room_type.initial_state()
            state.setdefault("members", {})
        self.committed: dict[str, Any] = state
        self.state: dict[str, Any] = copy_value(state)
        #: ``json_size(self.state)``, kept up to date op by op (only when a limit is set).
        self._track_size = self.config.max_state_bytes > 0
        self.state_bytes = json_size(self.state) if self._track_size else 0
        # The exactly-once record (kasagi.core.results): producer key -> {cseq: seq}, each
        # producer's highest cseqs, and the floors below which the room can't answer.
        self.results: dict[str, dict[int, int]] = {m: dict(r) for m, r in (results or {}).items()}
        self.floors: dict[str, int] = dict(floors or {})
        self.history = DeltaLog(
            self.config.history_events,
            self.config.history_min_age_ms,
            self.config.history_hard_cap,
            self.config.history_max_bytes,
        )
        self._pending = _Pending()
        self._inflight: Batch | None = None
        #: The actions of the batch in flight (a retry of one answers InFlight, not twice).
        self._inflight_keys: set[AckKey] = set()
        self._session_member: dict[str, str] = {}
        self._member_sessions: dict[str, set[str]] = {}
        #: The latest time (ms) the room was told of; ``act`` without ``now_ms`` uses it.
        self.clock_ms = 0
        #: Hooks that failed, oldest first, until the service takes them (:meth:`take_hook_failures`).
        self.hook_failures: list[HookFailure] = []
        #: The listing of the committed state and the position it was computed at.
        self._listing: dict[str, Any] | None = None
        self._listing_at: StreamPosition | None = None

    # -- position and views ------------------------------------------------------------------
    @property
    def position(self) -> StreamPosition:
        return StreamPosition(self.epoch, self.seq)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending.ops) or bool(self._pending.notices)

    @property
    def carrying_seq(self) -> int:
        """The seq of the event that will carry what is uncommitted now (the seq reached
        when nothing is)."""
        return self._carrying_seq()

    def online_members(self) -> set[str]:
        return set(self._member_sessions)

    @property
    def online_count(self) -> int:
        """How many members have a live session (no copy of the set)."""
        return len(self._member_sessions)

    def snapshot(self, member: str | None = None) -> Snapshot:
        """``member``'s view of the committed state as a join reply (None: the public view; a
        copy: the caller may keep it)."""
        return Snapshot(self.room_id, self.epoch, self.seq, member, copy_value(view_of(self.committed, member)))

    def view(self, member: str | None) -> dict[str, Any]:
        """``member``'s view of the committed state (a copy; None: the public view)."""
        view: dict[str, Any] = copy_value(view_of(self.committed, member))
        return view

    def restart_epoch(self, epoch: int) -> None:
        """Continue in a new ``epoch`` from the committed state at the same seq: the history
        of the old epoch no longer serves catch-ups (clients of it take a snapshot)."""
        if epoch <= self.epoch:
            raise ValueError(f"a new epoch must be above {self.epoch}, got {epoch}")
        self.epoch = epoch
        self.history.clear()

    def listing(self) -> dict[str, Any] | None:
        """The room type's lobby metadata of the committed state (None: not listed).

        Computed again only when a commit moved the room's position since the last call, so
        asking after every commit costs one hook call per commit and nothing in between. A
        private room is never listed; a hook that raises or returns metadata out of bounds
        lists nothing (the failure is kept in :attr:`hook_failures`).
        """
        if self.access.is_private or type(self.type).listing is RoomType.listing:
            return None
        if self._listing_at == self.position:
            return self._listing
        self._listing_at = self.position
        try:
            raw = self.type.listing(self.committed)
            self._listing = None if raw is None else check_meta(raw, "listing", self.type.listing_keys)
        except Exception as exc:  # noqa: BLE001 -- a bug in a room type must not crash the room
            self._listing = None
            self._failed("listing", None, exc)
        return self._listing

    # -- joining and leaving -------------------------------------------------------------------
    def join(self, member: str, session_id: str, since: StreamPosition | None, now_ms: int) -> JoinReply | JoinPending:
        """Register a session of ``member``; reply with a catch-up or a snapshot that shows
        the join's effects.

        When they are all committed already (the member was online), the reply comes at
        once; else a :class:`JoinPending` names the seq of the event that will carry them
        (answer it with :meth:`answer_join` once committed; :meth:`catch_up` answers from the
        committed state at any time, without them).
        """
        self.access.check(member)
        limit = self.config.max_members
        members = self.state.get("members", {})
        if limit and member not in members and member not in self._member_sessions and len(members) >= limit:
            raise Full(
                "the room is full",
                field="members",
                expected=f"at most {limit} members in the room",
                got=f"{len(members)} members",
            )
        ops_before = len(self._pending.ops)
        if member in self._member_sessions:
            self.add_session(member, session_id, now_ms)
        else:
            # Coming online runs on_join: a failing hook refuses the join, nothing applied.
            self._session_member[session_id] = member
            self._member_sessions[member] = {session_id}
            try:
                self._reconcile_member(member, now_ms, strict=True)
            except KasagiError:
                del self._session_member[session_id]
                del self._member_sessions[member]
                raise
        changed = len(self._pending.ops) > ops_before
        if not changed and self.state.get("members", {}).get(member) == self.committed.get("members", {}).get(member):
            return self.catch_up(member, since)
        return JoinPending(member, since, self._carrying_seq())

    def _carrying_seq(self) -> int:
        """The seq of the event that will carry what is uncommitted now."""
        if self._pending.ops or self._pending.notices:
            return self.seq + (2 if self._inflight is not None else 1)
        if self._inflight is not None:
            return self._inflight.seq
        return self.seq

    def answer_join(self, pending: JoinPending) -> JoinReply | None:
        """The reply to ``pending`` once its seq is committed; None while it is not."""
        if self.seq < pending.seq:
            return None
        return self.catch_up(pending.member, pending.since)

    def add_session(self, member: str, session_id: str, now_ms: int) -> None:
        """Count a live session of ``member`` in the room (it comes online if it was not)."""
        self._session_member[session_id] = member
        self._member_sessions.setdefault(member, set()).add(session_id)
        self._reconcile_member(member, now_ms)

    def sessions(self) -> dict[str, str]:
        """The live sessions in the room: session id -> member."""
        return dict(self._session_member)

    def catch_up(self, member: str, since: StreamPosition | None) -> JoinReply:
        """Every event after ``since`` if history holds them all and they are not too big
        together (sized from the history's index, before the reply is built), else a
        snapshot."""
        if since is not None and since.epoch == self.epoch and since.seq <= self.seq:
            events = [] if since.seq == self.seq else self._catch_up_events(since.seq)
            if events is not None:
                return CatchUp(self.room_id, self.epoch, self.seq, member, [event_for(e, member) for e in events])
        return self.snapshot(member)

    def _catch_up_events(self, seq: int) -> list[Event] | None:
        size = self.history.bytes_since(seq)
        limit = self.config.max_catchup_bytes
        if size is None or (limit and size > limit):
            return None
        return self.history.since(seq)

    def may_catch_up_from(self, since_seq: int) -> bool:
        """Whether a catch-up from ``since_seq`` (older than the history holds) may still be
        small enough to send: the events the history holds are part of it, and those it
        dropped for its byte limit made it too long already."""
        limit = self.config.max_catchup_bytes
        if not limit:
            return True
        history = self.history
        if history.max_bytes and history.max_bytes >= limit and since_seq < history.over_bytes_below:
            return False
        return history.bytes <= limit

    def catch_up_fits(self, events: Iterable[Event]) -> bool:
        """Whether ``events`` (read from the store) are small enough for one catch-up."""
        limit = self.config.max_catchup_bytes
        total = 0
        for event in events:
            total += json_size(event)
            if limit and total > limit:
                return False
        return True

    def leave(self, member: str, session_id: str, now_ms: int) -> None:
        """The session leaves the room; the member goes offline if it was its last one."""
        self.access.check(member)
        if self._session_member.get(session_id) != member:
            raise NotMember(
                "this session has not joined the room", field="member", expected="a joined member", got=member
            )
        self.session_closed(session_id, now_ms)

    def has_session(self, session_id: str) -> bool:
        return session_id in self._session_member

    def session_closed(self, session_id: str, now_ms: int) -> bool:
        """A session ended (left, closed, or missed its heartbeat). True if it was in the room."""
        member = self._session_member.pop(session_id, None)
        if member is None:
            return False
        sessions = self._member_sessions.get(member)
        if sessions is not None:
            sessions.discard(session_id)
            if not sessions:
                del self._member_sessions[member]
        self._reconcile_member(member, now_ms)
        return True

    def remove_member(self, member: str, now_ms: int) -> None:
        """An admin removes ``member``: its sessions leave the room and its presence ends now
        (no grace period; ``on_leave`` runs), noticed as ``{"kind": "removed", "member": m}``
        in the event. Not a ban: the member may join again. ``NotMember`` if it has neither a
        session nor a presence here."""
        members = self.state.get("members", {})
        if member not in members and member not in self._member_sessions:
            raise NotMember("no such member in the room", field="member", expected="a member of the room", got=member)
        self.clock_ms = max(self.clock_ms, now_ms)
        for session_id in self._member_sessions.pop(member, set()):
            self._session_member.pop(session_id, None)
        if member in members:
            self._apply_internal([del_op(["members", member])])
            self._run_hook("on_leave", member, lambda: self.type.on_leave(self.state, member), now_ms)
        self._pending.notices.append({"kind": NOTICE_REMOVED, "member": member})

    def close(self, now_ms: int, reason: str = "") -> None:
        """An admin closes the room: every member is removed as by :meth:`remove_member`, and
        the event says ``{"kind": "closed", "reason": reason}`` last (the service stops
        serving the room once it is committed)."""
        for member in sorted(set(self.state.get("members", {})) | set(self._member_sessions)):
            self.remove_member(member, now_ms)
        self._pending.notices.append({"kind": NOTICE_CLOSED, "reason": reason})

    @property
    def closing(self) -> bool:
        """Whether a close waits in the pending batch."""
        return any(n.get("kind") == NOTICE_CLOSED for n in self._pending.notices)

    def expire(self, now_ms: int) -> int | None:
        """Remove members whose grace period has ended; return the next expiry time (ms)."""
        members = self.state.get("members", {})
        gone = [
            m
            for m, p in members.items()
            if not p.get("online") and m not in self._member_sessions and p.get("until", 0) <= now_ms
        ]
        self.clock_ms = max(self.clock_ms, now_ms)
        for member in gone:
            ops = [del_op(["members", member])]
            self._apply_internal(ops)
            self._run_hook("on_leave", member, lambda m=member: self.type.on_leave(self.state, m), now_ms)  # type: ignore[misc]
        return self.next_expiry()

    def next_expiry(self) -> int | None:
        untils = [
            p["until"]
            for m, p in self.state.get("members", {}).items()
            if not p.get("online") and m not in self._member_sessions and "until" in p
        ]
        return min(untils) if untils else None

    def reconcile_presence(self, now_ms: int) -> None:
        """Make ``state.members`` agree with the live sessions (after a restore or rollback)."""
        members = set(self.state.get("members", {})) | set(self._member_sessions)
        for member in sorted(members):
            self._reconcile_member(member, now_ms)

    def _reconcile_member(self, member: str, now_ms: int, strict: bool = False) -> None:
        online = member in self._member_sessions
        current = self.state.get("members", {}).get(member)
        self.clock_ms = max(self.clock_ms, now_ms)
        if online and (current is None or not current.get("online")):
            coming = [set_op(["members", member], {"online": True, "since": now_ms})]
            if strict:
                self._come_online(member, coming, now_ms)
                return
            self._apply_internal(coming)
            self._run_hook("on_join", member, lambda: self.type.on_join(self.state, member), now_ms)
        elif not online and current is not None and current.get("online"):
            presence = {"online": False, "since": now_ms, "until": now_ms + self.config.grace_ms}
            self._apply_internal([set_op(["members", member], presence)])

    def _apply_internal(self, ops: list[Op]) -> None:
        if not ops:
            return
        log: UndoLog = []
        try:
            grown = self._apply_sized(ops, log)
        except OpError:
            undo(log)
            raise
        self.state_bytes += grown
        self._pending.ops.extend(ops)

    def _come_online(self, member: str, presence: list[Op], now_ms: int) -> None:
        """Apply ``presence`` and the member's ``on_join`` effects, all or nothing: a domain
        error of the hook refuses the join as it is, any other failure with ``Internal``."""
        log: UndoLog = []
        grown = self._apply_sized(presence, log)
        try:
            ops = self._hook_ops("on_join", member, lambda: self.type.on_join(self.state, member), now_ms, True)
            grown += self._apply_sized(ops, log)
        except OpError as exc:
            undo(log)
            raise self._failed("on_join", member, exc).refusal() from None
        except HookError as exc:
            undo(log)
            self.hook_failures.append(exc.failure)
            raise exc.failure.refusal() from None
        except KasagiError:
            undo(log)
            raise
        self.state_bytes += grown
        self._pending.ops.extend(presence)
        self._pending.ops.extend(ops)

    def _hook_ops(
        self,
        hook: str,
        member: str | None,
        call: Callable[[], Sequence[Any]],
        now_ms: int,
        refusals: bool = False,
    ) -> list[Op]:
        """Run a hook and turn its effects into ops. ``refusals``: a domain error it raises
        passes through (a refusal); any other exception, an effect that is not one, or a
        write to a server-owned subtree raises :class:`HookError`."""
        try:
            own, ops = timer_ops(call(), self.state, now_ms)
        except KasagiError:
            if refusals:
                raise
            raise HookError(self._failure(hook, member)) from None
        except Exception:  # noqa: BLE001 -- a bug in a room type must not crash the room
            raise HookError(self._failure(hook, member)) from None
        for op in own:
            if op[1] and op[1][0] in SERVER_OWNED:
                error = ValueError(f"{hook} wrote the server-owned {op[1][0]} ({describe(op[1])})")
                raise HookError(HookFailure.of(self.room_id, self.type.name, hook, member, error))
        why = check_private_ops(own)
        if why is not None:
            raise HookError(HookFailure.of(self.room_id, self.type.name, hook, member, ValueError(why)))
        return ops

    def _failure(self, hook: str, member: str | None) -> HookFailure:
        """The failure of the exception being handled."""
        exc = sys.exc_info()[1]
        assert exc is not None
        return HookFailure.of(self.room_id, self.type.name, hook, member, exc)

    def _failed(self, hook: str, member: str | None, exc: BaseException) -> HookFailure:
        """Record a failure of ``hook`` (for the service's log) and return it."""
        failure = HookFailure.of(self.room_id, self.type.name, hook, member, exc)
        self.hook_failures.append(failure)
        return failure

    def _run_hook(
        self, hook: str, member: str | None, call: Callable[[], Sequence[Any]], now_ms: int
    ) -> HookFailure | None:
        """Run an internal hook (not an action's) and queue its effects, all or nothing; on a
        failure nothing of it is applied and the failure is recorded and returned."""
        try:
            ops = self._hook_ops(hook, member, call, now_ms)
            self._apply_internal(ops)
        except HookError as exc:
            self.hook_failures.append(exc.failure)
            return exc.failure
        except OpError as exc:
            return self._failed(hook, member, exc)
        return None

    def take_hook_failures(self) -> list[HookFailure]:
        """The hook failures since the last call (the service logs and counts them)."""
        failures, self.hook_failures = self.hook_failures, []
        return failures

    # -- time: the server loop and durable timers ----------------------------------------------
    def tick(self, now_ms: int, dt_ms: int) -> HookFailure | None:
        """One step of the server loop (``on_tick``); its effects join the pending batch. A
        failing hook skips the tick: the failure is returned (and recorded)."""
        self.clock_ms = max(self.clock_ms, now_ms)
        return self._run_hook("on_tick", None, lambda: self.type.on_tick(self.state, now_ms, dt_ms), now_ms)

    @property
    def ticking(self) -> bool:
        """Whether the server loop runs now: the type has ``tick_hz`` and the room has online
        members or pending timers (an idle room costs nothing per tick)."""
        return self.type.tick_hz > 0 and (bool(self._member_sessions) or self.next_timer_at() is not None)

    def next_timer_at(self) -> int | None:
        """When the earliest pending timer is due (ms); None when none is set."""
        return next_timer_at(self.state)

    def fire_timers(self, now_ms: int) -> FiredTimers:
        """Fire every timer due at ``now_ms``, in ``(at, name)`` order, each once: its removal
        and its ``on_timer`` effects join the pending batch together (one commit). A failing
        hook consumes the timer without its effects. Timers that the hooks set for ``now_ms``
        or earlier fire at the next call."""
        self.clock_ms = max(self.clock_ms, now_ms)
        fired: list[str] = []
        failures: list[HookFailure] = []
        for at, name in due_timers(self.state, now_ms):
            timer = self.state.get(TIMERS_KEY, {}).get(name)
            if timer is None or timer["at"] != at:
                continue  # cancelled or moved by a timer fired before it
            data = copy_value(timer.get("data"))
            self._apply_internal([del_op([TIMERS_KEY, name])])
            fired.append(name)
            failure = self._run_hook(
                "on_timer",
                None,
                lambda n=name, d=data: self.type.on_timer(self.state, n, d, now_ms),  # type: ignore[misc]
                now_ms,
            )
            if failure is not None:
                failures.append(failure)
        return FiredTimers(tuple(fired), tuple(failures))

    def _apply_sized(self, ops: list[Op], log: UndoLog) -> int:
        """Apply ``ops`` recording ``log``; return how many bytes they added to the state."""
        grown = 0
        for op in ops:
            if self._track_size:
                grown += size_delta(self.state, op)
            apply_op(self.state, op, log)
        return grown

    # -- actions -------------------------------------------------------------------------------
    def act(
        self,
        member: str,
        cseq: int,
        action: str,
        args: Mapping[str, Any],
        announce: bool = False,
        now_ms: int | None = None,
        instance: int = DEFAULT_INSTANCE,
    ) -> ActOutcome:
        """Validate and apply one action, all or nothing; raise a domain error to refuse it.

        ``announce``: the action came by the fast input path; the event that carries it
        acknowledges it in ``"acks": {member: [cseq, ...]}``. ``now_ms``: the time, for
        ``set_timer(after_ms=...)`` (default: the latest time the room was told of).
        ``instance``: the member's client instance that sent it (0: the default one).
        A hook that fails refuses the action with ``Internal``; a cseq the room can no
        longer answer for, with ``OutcomeUnknown``.
        """
        if now_ms is None:
            now_ms = self.clock_ms
        else:
            self.clock_ms = max(self.clock_ms, now_ms)
        self.access.check(member)
        if member not in self._member_sessions:
            raise NotMember("join the room before acting", field="member", expected="a joined member", got=member)
        producer = producer_key(member, instance)
        done = self.results.get(producer, {}).get(cseq)
        if done is not None:
            return Applied(done)
        key = (producer, cseq)
        if key in self._pending.keys or key in self._inflight_keys:
            return InFlight(key)
        self._refuse_forgotten(member, instance, producer, cseq)
        try:
            effects = self.type.apply(self.state, member, action, args)
            own, ops = timer_ops(effects, self.state, now_ms)
        except KasagiError:
            raise
        except Exception:  # noqa: BLE001 -- a bug in a room type must not crash the room
            failure = self._failure("apply", member)
            self.hook_failures.append(failure)
            raise failure.refusal() from None
        _refuse_forbidden(own)
        change = self._check_event_size(ops)
        log: UndoLog = []
        try:
            grown = self._apply_sized(ops, log)
            self._run_check(member)
            self._check_size(grown)
        except OpError as exc:
            undo(log)
            raise Rejected(
                "the action does not apply to the room's state",
                field="args",
                expected="an applicable change",
                got=_redacted(str(exc)[:200], ops, member),
            ) from None
        except KasagiError:
            undo(log)
            raise
        self.state_bytes += grown
        self._pending.ops.extend(ops)
        self._pending.bytes += change
        self._pending.acks.append(key)
        self._pending.keys.add(key)
        if announce:
            self._pending.announced.setdefault(member, []).append(cseq)
        return Accepted(key)

    def result_of(self, member: str, instance: int, cseq: int) -> int | None:
        """The seq of ``member``'s action ``cseq`` from client ``instance``, if it is known."""
        return self.results.get(producer_key(member, instance), {}).get(cseq)

    def _refuse_forgotten(self, member: str, instance: int, producer: str, cseq: int) -> None:
        """Refuse an action the room can't tell apart from one it applied and forgot: from an
        instance it dropped (or one at or below the member's instance floor it never knew),
        or with a cseq at or below its instance's floor."""
        if instance != DEFAULT_INSTANCE:
            dropping = self._inflight is not None and (member, instance) in self._inflight.dropped
            floor = self.floors.get(instance_floor_key(member), 0)
            if dropping or (producer not in self.results and instance <= floor):
                raise OutcomeUnknown(
                    "the room no longer knows this client instance; its action may have been applied",
                    field="instance",
                    expected=f"an instance id above {floor}, or one the room knows",
                    got=str(instance),
                    floor=floor,
                )
        floor = self.floors.get(producer, 0)
        if cseq <= floor:
            raise OutcomeUnknown(
                "the room no longer holds this cseq's result; it may have been applied",
                field="cseq",
                expected=f"a cseq above {floor}, or one of the last {self.config.results_per_member}",
                got=str(cseq),
                floor=floor,
            )

    def _run_check(self, member: str) -> None:
        """``check`` the working state; an unexpected exception refuses with ``Internal``."""
        try:
            self.type.check(self.state)
        except KasagiError:
            raise
        except Exception:  # noqa: BLE001 -- a bug in a room type must not crash the room
            failure = self._failure("check", member)
            self.hook_failures.append(failure)
            raise failure.refusal() from None

    def _check_event_size(self, ops: list[Op]) -> int:
        """The bytes of ``ops`` (0 when there is no event limit); refuse an action whose ops
        alone are over the limit (final), or that would make the pending event too big
        (retry: the next event has room)."""
        limit = self.config.max_event_bytes
        if not limit:
            return 0
        change = json_size(ops)
        if change > limit:
            raise Rejected(
                "the action's change is too big for one event",
                field="ops",
                expected=f"a change of at most {limit} bytes",
                got=f"{change} bytes",
            )
        if self._pending.bytes + change > limit:
            raise RateLimited(
                "the room's next event is full; retry",
                field="event",
                expected=f"at most {limit} bytes of changes per event",
                got=f"{self._pending.bytes + change} bytes",
            )
        return change

    def _check_size(self, grown: int) -> None:
        limit = self.config.max_state_bytes
        if limit and grown > 0 and self.state_bytes + grown > limit:
            raise Rejected(
                "the action would make the room's state too big",
                field="state",
                expected=f"a state of at most {limit} bytes",
                got=f"{self.state_bytes + grown} bytes",
            )

    # -- commits -------------------------------------------------------------------------------
    def begin_commit(self) -> Batch | None:
        """Turn the pending changes into the batch for ``seq + 1``; None if nothing to do or a
        batch is already in flight (one at a time keeps seqs gap-free)."""
        if self._inflight is not None or not self.has_pending:
            return None
        seq = self.seq + 1
        k = self.config.hash_every
        digest: str | None = None
        hashes: dict[str, str] = {}
        if k and seq % k == 0:
            if PRIVATE_KEY in self.state:
                digest, hashes = view_hashes(self.state)
            else:
                digest = state_hash(self.state)
        pending = self._pending
        ops = compact_ops(pending.ops)
        batch = Batch(
            self.room_id,
            self.epoch,
            seq,
            ops,
            digest,
            tuple(pending.acks),
            pending.announced,
            hashes=hashes,
            notices=tuple(pending.notices),
            dropped=tuple(pick_drops(self.results, (p for p, _ in pending.acks), self.config.instances_per_member)),
        )
        self._pending = _Pending()
        self._inflight = batch
        self._inflight_keys = pending.keys
        return batch

    def commit_succeeded(self, batch: Batch, now_ms: int) -> None:
        """The store holds ``batch``: advance seq, record results, keep the event."""
        if batch is not self._inflight:
            raise ValueError("not the batch in flight")
        self._inflight = None
        self._inflight_keys = set()
        apply_ops(self.committed, batch.ops)
        self.seq = batch.seq
        self.history.append(batch.event, now_ms)
        self.record_results(batch.acks, batch.seq, batch.dropped)

    def record_results(self, acks: Iterable[AckKey], seq: int, dropped: Iterable[tuple[str, int]] = ()) -> None:
        """Forget the ``dropped`` client instances and remember the result of each action,
        dropping a producer's lowest cseqs beyond the window (its floor rises to them)."""
        for member, instance in dropped:
            drop_instance(self.results, self.floors, member, instance)
        keep = self.config.results_per_member
        for producer, cseq in acks:
            record_result(self.results, self.floors, producer, cseq, seq, keep)

    def commit_failed(self, batch: Batch, now_ms: int) -> list[AckKey]:
        """The store refused ``batch``: roll back to the committed state.

        Returns every action that will not happen (the batch's and those accepted since),
        so the caller can fail them. Presence is reconciled again at once.
        """
        if batch is not self._inflight:
            raise ValueError("not the batch in flight")
        failed = list(batch.acks) + list(self._pending.acks)
        self._inflight = None
        self._inflight_keys = set()
        self._pending = _Pending()
        self.state = copy_value(self.committed)
        self.state_bytes = json_size(self.state) if self._track_size else 0
        self.reconcile_presence(now_ms)
        return failed


def _redacted(text: str, ops: Sequence[Op], member: str) -> str:
    """``text`` (why ``ops`` of ``member``'s action failed) unless some op touches another
    member's private state: then it says no more than that (nothing of theirs is told)."""
    for op in ops:
        audience = op_audience(op)
        if audience is not None and audience != member:
            return "a change to private state does not apply"
    return text


def _refuse_forbidden(ops: list[Op]) -> None:
    """Refuse an action's own ops that write a server-owned subtree, or the private state
    other than member by member."""
    for op in ops:
        if op[1] and op[1][0] in SERVER_OWNED:
            raise Rejected(
                f"{op[1][0]} is owned by the server",
                field="args",
                expected="no change to " + ", ".join(sorted(SERVER_OWNED)),
                got=describe(op[1]),
            )
    why = check_private_ops(ops)
    if why is not None:
        raise Rejected(
            "private state changes per member", field="args", expected="changes to private.<member>", got=why
        )
