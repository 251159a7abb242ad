"""Runs one room in time: batches actions per tick, commits them to the store, publishes the
event, answers the callers, and expires presence.

Ack only after durable: a caller of ``act`` is answered when the batch carrying its action
is in the store (group commit: one store write per tick, however many actions). One batch
is in flight at a time, which keeps seqs gap-free; actions arriving meanwhile wait for the
next one. A join is answered the same way, once the event carrying the member's presence is
in the store (the reply shows the member). A failed or late store write rolls the room back
and fails every caller it holds with ``kasagi.error.unavailable`` (retry with the same cseq
is safe: the store's seq fence refuses a late write that would apply twice); a join waiting
for it is answered from the committed state instead.

When the store is failing, the room degrades instead of queueing: after two failed writes in
a row, actions are refused at once (``unavailable``) until a backoff (50 ms doubling, at most
the store deadline) lets the next commit probe the store again. A write that outlived its
deadline *suspends* the room: joins and leaves are still served from the committed state,
acts fail fast, and the registry reloads the room from the store when it answers. The phases
(live, degraded, suspended, draining, stopped) and which follows which are
:class:`kasagi.core.lifecycle.RoomLifecycle`'s.

Admin changes (:meth:`RoomRunner.remove_member`, :meth:`RoomRunner.close`) go through the
core like an action: into the pending batch, committed, published, then answered with the seq
of the event that carries them.

Each member's actions pass a token bucket first (``action_rate`` per second, bursts of
``action_burst``; one :class:`~kasagi.core.ratelimit.RateLimiter` per process, shared by its
rooms): beyond it ``act`` is refused with ``kasagi.error.rate_limited`` and ``retry_after``.

Under overload (an :class:`~kasagi.service.admission.Admission` shared by the process's
rooms, when given): the commit tick stretches with the reactor's lag up to its bound, and
past it actions are refused before they are applied (``rate_limited``, ``retry_after``),
see :mod:`kasagi.core.admission`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi.core.commands import ActCommand, JoinCommand
from kasagi.core.commit_schedule import commit_delay
from kasagi.core.errors import RateLimited, Unavailable
from kasagi.core.lifecycle import Phase, RoomLifecycle, Signal
from kasagi.core.ratelimit import RateLimiter
from kasagi.core.replies import CatchUp, JoinPending, JoinReply, Snapshot, wire_reply
from kasagi.core.room import Accepted, AckKey, Applied, Batch, Room, StreamPosition
from kasagi.core.values import copy_value
from kasagi.core.views import Audience, deliveries, event_for
from kasagi.deadline import DeadlineExceeded, within
from kasagi.service.admission import Admission
from kasagi.service.loop import RoomLoop
from kasagi.service.observer import NullObserver, ServiceObserver
from kasagi.service.settings import ServiceSettings
from kasagi.store.interface import RoomStore, SeqConflict, StaleEpoch
from kasagi.wire import room_topic

__all__ = ["Publish", "RoomRunner", "publish_event"]


class Publish(Protocol):
    """``publish(topic, event)``: hands an event to the router (may return a Deferred).
    ``audience``: who this form of the event is for (None: everyone the topic reaches);
    given only for rooms with private state (:func:`kasagi.core.views.deliveries`)."""

    def __call__(self, topic: str, event: dict[str, Any], audience: Audience | None = None, /) -> Any: ...


def publish_event(publish: Publish, topic: str, event: dict[str, Any]) -> list[Any]:
    """Publish a whole event in every member's form (one publish when the room keeps no
    private state); the results of the publish calls."""
    results: list[Any] = []
    for delivery in deliveries(event):
        if delivery.audience is None:
            results.append(publish(topic, delivery.event))
        else:
            results.append(publish(topic, delivery.event, delivery.audience))
    return results


class RoomRunner:
    """The live owner of one room in this process."""

    log = Logger()

    def __init__(
        self,
        room: Room,
        *,
        clock: IReactorTime,
        store: RoomStore,
        publish: Publish,
        settings: ServiceSettings,
        now_ms: Callable[[], int],
        on_lost: Callable[[RoomRunner, Failure], None] | None = None,
        observer: ServiceObserver | None = None,
        limiter: RateLimiter | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.room = room
        self._limiter = limiter
        self._admission = admission
        #: Callers of ``act`` waiting for their commit.
        self._waiting = 0
        self._clock = clock
        self._store = store
        self._publish = publish
        self._settings = settings
        self._now_ms = now_ms
        self._on_lost = on_lost
        self._observer: ServiceObserver = observer or NullObserver()
        self._topic = room_topic(room.room_id)
        self._waiters: dict[AckKey, list[Deferred[dict[str, int]]]] = {}
        #: Joins waiting for the commit of the event that carries their effects.
        self._joins: list[tuple[JoinPending, Deferred[JoinReply]]] = []
        #: Admin changes waiting for the commit of their seq.
        self._changes: list[tuple[int, Deferred[dict[str, int]]]] = []
        self._commit_timer: IDelayedCall | None = None
        self._expiry_timer: IDelayedCall | None = None
        self._committing = False
        self._last_commit = -1e18
        self._last_snapshot_seq = room.seq
        #: Bytes of the events committed since the last snapshot was saved.
        self._bytes_since_snapshot = 0
        self._commit_started = 0.0
        #: Who waits for the drain to finish.
        self._drain_waiters: list[Deferred[bool]] = []
        #: When the expiry timer fires (room time, ms), while it is set.
        self._expiry_at: int | None = None
        #: When the last event was published (clock seconds); the head beacon reads it.
        self.last_published = clock.seconds()
        self._life = RoomLifecycle()
        #: When the next commit may probe the store, after failed ones.
        self._retry_at = 0.0
        #: Counters for metrics and tests.
        self.stats = {"events": 0, "actions": 0, "refused": 0, "failed_commits": 0, "catchups": 0, "snapshots": 0}
        self.stats["rate_limited"] = 0
        self.stats["overloaded"] = 0
        #: The server loop and durable timers (ticks, timers_fired, hook_failures in stats).
        self.loop = RoomLoop(
            room,
            clock=clock,
            now_ms=now_ms,
            on_change=self._schedule_commit,
            live=lambda: self._life.phase in (Phase.LIVE, Phase.DEGRADED),
            stats=self.stats,
        )

    # -- the phase -----------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return self._life.phase

    @property
    def stopped(self) -> bool:
        return self._life.stopped

    @property
    def suspended(self) -> bool:
        """Serving joins from the committed state only, while the registry reloads the room."""
        return self._life.suspended

    # -- calls -------------------------------------------------------------------------------
    def join(self, member: str, session_id: str, cmd: JoinCommand) -> Deferred[dict[str, Any]]:
        """Join (or rejoin) the room; the reply is a catch-up or a snapshot, in its wire form."""
        return self.join_reply(member, session_id, cmd).addCallback(wire_reply)

    def join_reply(self, member: str, session_id: str, cmd: JoinCommand) -> Deferred[JoinReply]:
        """:meth:`join`, answered with the typed reply.

        A join is an action: the reply waits for the commit of the event that carries the
        member's presence (and what ``on_join`` added), and is the state or the catch-up at
        that event's seq. While the room does not write (suspended) or its store is failing,
        the join is answered at once from the committed state, without its own effects.
        """
        self._check_live()
        try:
            outcome = self.room.join(member, session_id, cmd.since, self._now_ms())
        except Exception:
            self.loop.report_failures()
            raise
        self._after_change()
        if not isinstance(outcome, JoinPending):
            return self._answer(member, cmd.since, outcome)
        if self._life.writes and not self._store_failing():
            d: Deferred[JoinReply] = Deferred()
            self._joins.append((outcome, d))
            return d
        return self._answer(member, cmd.since, self.room.catch_up(member, cmd.since))

    def _answer(self, member: str, since: StreamPosition | None, reply: JoinReply) -> Deferred[JoinReply]:
        store_ok = self._life.writes and not self._store_failing()
        behind = since is not None and since.epoch == self.room.epoch and since.seq < self.room.seq
        if store_ok and isinstance(reply, Snapshot) and behind and since is not None and self._may_read(since.seq):
            # Memory no longer holds the gap: the store's history may.
            return self._catch_up_from_store(member, since.seq, reply)
        self._count_reply(reply)
        return succeed(reply)

    def _answer_joins(self, everyone: bool) -> None:
        """Answer the joins whose seq is committed (``everyone``: all of them, from the
        committed state as it is)."""
        waiting, self._joins = self._joins, []
        for pending, d in waiting:
            reply = self.room.answer_join(pending)
            if reply is None:
                if not everyone:
                    self._joins.append((pending, d))
                    continue
                reply = self.room.catch_up(pending.member, pending.since)
            self._answer(pending.member, pending.since, reply).chainDeferred(d)

    def _may_read(self, since_seq: int) -> bool:
        """Whether the store may hold a catch-up from ``since_seq`` small enough to send:
        memory holds none of it (it held it all and it was too big), and what memory knows
        of its size does not already exceed the limit."""
        history = self.room.history
        return history.bytes_since(since_seq) is None and self.room.may_catch_up_from(since_seq)

    def _catch_up_from_store(self, member: str, since_seq: int, snapshot: Snapshot) -> Deferred[JoinReply]:
        epoch, seq = snapshot.epoch, snapshot.seq
        d = within(
            self._store.events_since(self.room.room_id, epoch, since_seq),
            self._settings.store_deadline,
            self._clock,
            "history read",
        )

        def answer(events: list[dict[str, Any]] | None) -> JoinReply:
            if events is not None:
                events = [e for e in events if e["seq"] <= seq]
                events = [event_for(e, member) for e in events] if self.room.catch_up_fits(events) else None
            reply: JoinReply = snapshot
            if events and events[-1]["seq"] == seq and events[0]["seq"] == since_seq + 1:
                reply = CatchUp(self.room.room_id, epoch, seq, member, events)
            self._count_reply(reply)
            return reply

        def fallback(failure: Failure) -> JoinReply:
            self.log.warn(
                "room {room}: history read failed ({why}); sending a snapshot",
                room=self.room.room_id,
                why=failure.getErrorMessage(),
            )
            self._count_reply(snapshot)
            return snapshot

        return d.addCallbacks(answer, fallback)

    def _count_reply(self, reply: JoinReply) -> None:
        caught_up = isinstance(reply, CatchUp)
        self.stats["catchups" if caught_up else "snapshots"] += 1
        self._observer.joined(caught_up)

    def leave(self, member: str, session_id: str) -> dict[str, Any]:
        self._check_live()
        self.room.leave(member, session_id, self._now_ms())
        self._after_change()
        return {}

    def adopt_sessions(self, sessions: dict[str, str]) -> None:
        """Take over the live sessions of a previous copy of this room (after a reload)."""
        now = self._now_ms()
        for session_id, member in sessions.items():
            self.room.add_session(member, session_id, now)
        self._after_change()

    def session_closed(self, session_id: str) -> None:
        # Every room hears of every session that ends: most never saw it (no clock read then).
        if self.room.has_session(session_id) and self.room.session_closed(session_id, self._now_ms()):
            self._after_change()

    def admit(self) -> None:
        """Refuse an arriving action at once (``rate_limited`` with ``retry_after``) when the
        process is past its capacity; called before the action is parsed."""
        admission = self._admission
        if admission is None:
            return
        try:
            admission.check(self.room.room_id, self._waiting)
        except RateLimited:
            self.stats["overloaded"] += 1
            raise

    def act(
        self, member: str, cmd: ActCommand, announce: bool = False, admitted: bool = False
    ) -> Deferred[dict[str, int]]:
        """Apply an action; fires with ``{"seq", "cseq"}`` once it is durable. ``announce``:
        it came by the fast input path (its event acknowledges it); ``admitted``: the caller
        already called :meth:`admit` for it."""
        self._check_live()
        if not admitted:
            self.admit()
        if (self.suspended or self._store_failing()) and self.room.result_of(member, cmd.instance, cmd.cseq) is None:
            raise Unavailable(
                "the room's store is not answering; retry with the same cseq",
                field="store",
                expected="a reachable store",
                got="suspended" if self.suspended else f"{self._life.failures} failed writes",
            )
        self._check_rate(member)
        try:
            outcome = self.room.act(member, cmd.cseq, cmd.action, cmd.args, announce, self._now_ms(), cmd.instance)
        except Exception:
            self.stats["refused"] += 1
            self.loop.report_failures()
            raise
        if isinstance(outcome, Applied):
            return succeed({"seq": outcome.seq, "cseq": cmd.cseq})
        d: Deferred[dict[str, int]] = Deferred()
        received = self._clock.seconds()

        def acknowledged(result: dict[str, int]) -> dict[str, int]:
            delay = self._clock.seconds() - received
            self._observer.acknowledged(delay)
            if self._admission is not None:
                self._admission.acked(1, delay)
            return result

        d.addCallback(acknowledged)
        self._waiters.setdefault(outcome.key, []).append(d)
        self._waiting += 1
        if self._admission is not None:
            self._admission.entered()
        if isinstance(outcome, Accepted):
            self.stats["actions"] += 1
            self._schedule_commit()
            self.loop.update()  # the action may have set or cancelled a timer
        return d

    # -- admin changes -------------------------------------------------------------------------
    def remove_member(self, member: str) -> Deferred[dict[str, int]]:
        """An admin removes ``member`` (:meth:`kasagi.core.room.Room.remove_member`); fires
        with ``{"seq"}`` once the event that carries it is durable."""
        self._check_writable()
        self.room.remove_member(member, self._now_ms())
        return self._change_committed()

    def close(self, reason: str = "") -> Deferred[dict[str, int]]:
        """An admin closes the room (:meth:`kasagi.core.room.Room.close`): everyone is
        removed and the room stops taking calls; fires with ``{"seq"}`` of the final event
        once it is durable (the registry then stops serving the room)."""
        self._check_writable()
        self.room.close(self._now_ms(), reason)
        return self._change_committed()

    def _check_writable(self) -> None:
        self._check_live()
        if self.suspended or self._store_failing():
            raise Unavailable(
                "the room's store is not answering; try again",
                field="store",
                expected="a reachable store",
                got="suspended" if self.suspended else f"{self._life.failures} failed writes",
            )

    def _change_committed(self) -> Deferred[dict[str, int]]:
        d: Deferred[dict[str, int]] = Deferred()
        self._changes.append((self.room.carrying_seq, d))
        self._after_change()
        return d

    def _answer_changes(self, error: Exception | None) -> None:
        """Answer the admin changes that are committed (``error`` None) or lost (all of them)."""
        waiting, self._changes = self._changes, []
        for seq, d in waiting:
            if error is not None:
                d.errback(Failure(error))
            elif seq <= self.room.seq:
                d.callback({"seq": seq})
            else:
                self._changes.append((seq, d))

    def idle_since(self) -> float | None:
        """When this room last published (clock seconds) if it is at rest now: live, nobody
        online or in a grace period, no pending timer, nothing to commit and no caller
        waiting -- what may be unloaded without losing anything. None otherwise."""
        room = self.room
        busy = (
            self._life.phase is not Phase.LIVE
            or self._committing
            or room.has_pending
            or self._waiters
            or self._joins
            or self._changes
            or room.sessions()
            or room.next_expiry() is not None
            or room.next_timer_at() is not None
            or any(p.get("online") for p in room.committed.get("members", {}).values())
        )
        return None if busy else self.last_published

    def _store_failing(self) -> bool:
        return self._life.failures > 0 and self._clock.seconds() < self._retry_at

    def _check_rate(self, member: str) -> None:
        limiter = self._limiter
        if limiter is None:
            return
        wait = limiter.take(member, self._clock.seconds())
        if wait > 0:
            self.stats["rate_limited"] += 1
            raise RateLimited(
                "too many actions; retry later",
                field="member",
                expected=f"at most {limiter.rate:g} actions per second (bursts of {limiter.burst:g})",
                got=member,
                retry_after=round(wait, 3),
            )

    def _check_live(self) -> None:
        if not self._life.serves_calls:
            raise Unavailable(
                "the room is moving to another owner", field="room", expected="a live owner", got=self.room.room_id
            )

    # -- commits -------------------------------------------------------------------------------
    def _after_change(self) -> None:
        self._schedule_commit()
        self._schedule_expiry()
        self.loop.report_failures()
        self.loop.update()

    def _schedule_commit(self) -> None:
        if self._committing or self._commit_timer is not None or not self.room.has_pending:
            return
        if not self._life.writes:
            return
        now = self._clock.seconds()
        backoff = self._retry_at - now if self._life.failures else 0.0
        tick = self._settings.tick if self._admission is None else self._admission.tick()
        grid = self._settings.tick if self._settings.aligned_commits else 0.0
        delay = commit_delay(now, self._last_commit, tick, backoff=backoff, grid=grid)
        self._commit_timer = self._clock.callLater(delay, self._commit)

    def _commit(self) -> None:
        self._commit_timer = None
        batch = self.room.begin_commit()
        if batch is None:
            return
        self._committing = True
        self._last_commit = self._commit_started = self._clock.seconds()
        d = within(maybeDeferred(self._store.append, batch), self._settings.store_deadline, self._clock, "store append")
        d.addCallbacks(self._committed, self._commit_failed, callbackArgs=(batch,), errbackArgs=(batch,))
        d.addErrback(lambda f: self.log.failure("room {room}: commit bookkeeping failed", f, room=self.room.room_id))

    def _committed(self, _: object, batch: Batch) -> None:
        self._committing = False
        self._life.handle(Signal.COMMIT_SUCCEEDED)
        self.room.commit_succeeded(batch, self._now_ms())
        self.stats["events"] += 1
        self._observer.committed(batch, self._clock.seconds() - self._commit_started)
        self.last_published = self._clock.seconds()
        try:
            for delivery in deliveries(batch.event):
                if delivery.audience is None:
                    d = maybeDeferred(self._publish, self._topic, delivery.event)
                else:
                    d = maybeDeferred(self._publish, self._topic, delivery.event, delivery.audience)
                d.addErrback(self._publish_failed)
        except Exception:  # noqa: BLE001 -- a publish failure must not lose the acks below
            self._publish_failed(Failure())
        for key in batch.acks:
            for d in self._release(self._waiters.pop(key, [])):
                d.callback({"seq": batch.seq, "cseq": key[1]})
        self._answer_joins(everyone=False)
        if self._changes:
            self._answer_changes(None)
        self._maybe_snapshot()
        self._schedule_commit()  # what was accepted meanwhile; a commit changes no presence
        self._check_drained()

    def _release(self, ds: list[Deferred[dict[str, int]]]) -> list[Deferred[dict[str, int]]]:
        """``ds`` stop waiting for their commit (they are about to be answered)."""
        if ds:
            self._waiting -= len(ds)
            if self._admission is not None:
                self._admission.left(len(ds))
        return ds

    def _publish_failed(self, failure: Failure) -> None:
        # Clients notice the missing event by seq and catch up from history.
        self.log.warn("room {room}: publish failed: {why}", room=self.room.room_id, why=failure.getErrorMessage())

    def _commit_failed(self, failure: Failure, batch: Batch) -> None:
        self._committing = False
        self.stats["failed_commits"] += 1
        self._observer.commit_failed(batch, self._clock.seconds() - self._commit_started, type(failure.value).__name__)
        failed = self.room.commit_failed(batch, self._now_ms())
        why = failure.getErrorMessage()
        self.log.warn("room {room}: commit of seq {seq} failed: {why}", room=self.room.room_id, seq=batch.seq, why=why)
        error = Unavailable(
            "the room's store did not confirm the write; retry with the same cseq",
            field="store",
            expected="a durable write",
            got=why[:200],
        )
        for key in failed:
            for d in self._release(self._waiters.pop(key, [])):
                d.errback(Failure(error))
        if self._changes:
            self._answer_changes(error)
        # A join does not wait on a failing store: it is answered from the committed state.
        self._answer_joins(everyone=True)
        if self._life.phase in (Phase.DRAINING, Phase.SUSPENDED, Phase.STOPPED):
            # Closing (whatever the store holds now is for the next owner to find), or no
            # longer writing.
            if self._life.handle(Signal.COMMIT_FAILED) is Phase.STOPPED:
                self._stop_now()
            return
        if failure.check(StaleEpoch, SeqConflict, DeadlineExceeded) and self._on_lost is not None:
            # Another owner wrote, a late write of ours landed, or ours may still land: only
            # a reload from the store knows. Until then joins are served, acts refused.
            self.suspend()
            self._on_lost(self, failure)
            return
        self._life.handle(Signal.COMMIT_FAILED)
        failures = self._life.failures
        # One failure may be a blip: the next tick tries again. From the second in a row on,
        # back off (and refuse acts meanwhile) so a dead store is not hammered every tick.
        backoff = 0.0
        if failures >= 2:
            backoff = min(self._settings.store_deadline, 0.05 * 2 ** min(failures - 2, 8))
        self._retry_at = self._clock.seconds() + backoff
        self._after_change()

    def _maybe_snapshot(self) -> None:
        settings = self._settings
        self._bytes_since_snapshot += self.room.history.last_size
        by_count = bool(settings.snapshot_every) and self.room.seq - self._last_snapshot_seq >= settings.snapshot_every
        by_bytes = bool(settings.snapshot_bytes) and self._bytes_since_snapshot >= settings.snapshot_bytes
        if not (by_count or by_bytes):
            return
        self._last_snapshot_seq = self.room.seq
        self._bytes_since_snapshot = 0
        state = copy_value(self.room.committed)  # whole: private entries included
        d = within(
            maybeDeferred(self._store.save_snapshot, self.room.room_id, self.room.epoch, self.room.seq, state),
            self._settings.store_deadline,
            self._clock,
            "snapshot",
        )
        d.addErrback(
            lambda f: self.log.warn(
                "room {room}: snapshot failed: {why}", room=self.room.room_id, why=f.getErrorMessage()
            )
        )

    # -- presence expiry -----------------------------------------------------------------------
    def _schedule_expiry(self) -> None:
        if not self._life.writes:
            return
        when = self.room.next_expiry()
        timer = self._expiry_timer
        if timer is not None and timer.active():
            if when == self._expiry_at:
                return  # already set for that moment
            timer.cancel()
        self._expiry_timer = None
        if when is None:
            return
        self._expiry_at = when
        delay = max(0.0, (when - self._now_ms()) / 1000.0)
        self._expiry_timer = self._clock.callLater(delay, self._expire)

    def _expire(self) -> None:
        self._expiry_timer = None
        self.room.expire(self._now_ms())
        self._after_change()

    # -- life ------------------------------------------------------------------------------------
    def drain(self) -> Deferred[bool]:
        """Stop taking calls, commit what was already accepted, then stop. Fires True when
        every write succeeded: the store then holds exactly the events this runner published
        (a successor may keep the epoch)."""
        if self.stopped:
            return succeed(False)
        d: Deferred[bool] = Deferred()
        self._drain_waiters.append(d)
        if self._life.handle(Signal.DRAIN) is Phase.STOPPED:
            # Suspended: a write of ours is undetermined, the successor must not trust this
            # history.
            self._stop_now()
            return d
        self._schedule_commit()
        self._check_drained()
        return d

    def _check_drained(self) -> None:
        if not self._life.draining or self._committing or self.room.has_pending:
            return
        self.stop()

    def begin(self) -> None:
        """Start serving a freshly loaded room: presence follows the live sessions."""
        self.room.reconcile_presence(self._now_ms())
        self._after_change()

    def suspend(self) -> None:
        """Stop writing (acts fail fast) but keep serving joins from the committed state."""
        if not self._life.takes(Signal.SUSPEND):
            return  # already suspended, or stopped
        if self._life.handle(Signal.SUSPEND) is Phase.STOPPED:
            self._stop_now()  # it was draining: stop, not intact
            return
        self._halt(
            Unavailable(
                "the room is reloading from its store; retry with the same cseq",
                field="store",
                expected="a confirmed write",
                got="undetermined",
            )
        )

    def stop(self) -> None:
        """Stop serving: cancel timers and fail every waiting caller (retryable)."""
        if self.stopped:
            return
        self._life.handle(Signal.STOP)
        self._stop_now()

    def _stop_now(self) -> None:
        """The room just stopped: halt, and tell who waits for the drain."""
        self._halt(
            Unavailable(
                "the room stopped; retry with the same cseq",
                field="room",
                expected="a live owner",
                got=self.room.room_id,
            )
        )
        drained, self._drain_waiters = self._drain_waiters, []
        for waiter in drained:
            waiter.callback(self._life.intact)

    def _halt(self, error: Unavailable) -> None:
        """Cancel the timers and fail every caller still waiting for a commit with ``error``."""
        for timer in (self._commit_timer, self._expiry_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._commit_timer = self._expiry_timer = None
        self.loop.stop()
        waiters, self._waiters = self._waiters, {}
        for ds in waiters.values():
            for d in self._release(ds):
                d.errback(Failure(error))
        if self._changes:
            self._answer_changes(error)
        # Joins are answered from the committed state (still true; nothing more is written).
        self._answer_joins(everyone=True)
