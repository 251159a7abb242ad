"""The rooms this process owns: opening (creating or loading) them, finding them, and the
events that concern all of them (a session closing).

Also the process-wide limits: at most ``max_rooms`` live rooms at once (``kasagi.error.full``),
at most ``max_rooms_per_member`` of them loaded or created by one member's ``open``
(``kasagi.error.full`` naming ``rooms_per_member``), one action rate limiter shared by all
rooms, and who may open a private room. A private room's member list is stored with the room
inside its stored ``options`` (:func:`kasagi.core.access.stored_options`).

Idle rooms are unloaded. A sweep every quarter of ``room_idle`` (while rooms are loaded) looks
for rooms at rest (:meth:`RoomRunner.idle_since`: nobody online or in a grace period, no
pending timer, nothing to commit) whose last event is ``room_idle`` seconds old, and unloads
them like a graceful close (drained, procedures withdrawn; a cluster also releases the room as
a handover, see ``unload``). The state stays in the store; the next ``open`` loads it again (a
``join`` meanwhile gets ``kasagi.error.no_such_room``, on which clients reopen). A room with a
pending timer stays loaded until the timer has fired.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail, inlineCallbacks, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi.core.access import PUBLIC, RoomAccess, access_of_stored, stored_options
from kasagi.core.commands import OpenCommand
from kasagi.core.errors import Full, InvalidArgument, KasagiError, NoSuchRoom, RoomDamaged, Unavailable, describe
from kasagi.core.history import HistoryBudget
from kasagi.core.ratelimit import RateLimiter
from kasagi.core.restore import CorruptRecord, rebuild
from kasagi.core.room import Room
from kasagi.core.roomtypes import RoomType
from kasagi.core.views import Audience
from kasagi.deadline import within
from kasagi.roomtypes import BUILTIN_TYPES, make_room_type
from kasagi.service.admission import Admission
from kasagi.service.observer import ServiceObserver
from kasagi.service.runner import Publish, RoomRunner
from kasagi.service.settings import ServiceSettings
from kasagi.store.interface import RoomExists, RoomStore, StoredRoom
from kasagi.wire import OPEN_MEMBERS

if TYPE_CHECKING:
    from kasagi.lobby.service import Lobby

__all__ = ["Fence", "NotOwner", "RoomRegistry", "new_epoch", "wall_ms"]

#: ``expose(room)``: make the room's procedures reachable (register them with the router).
Expose = Callable[[str], Any]
#: ``withdraw(room)``: unregister them.
Withdraw = Callable[[str], Any]
#: ``unload(room)``: stop serving an idle room (default: :meth:`RoomRegistry.close_room`).
Unload = Callable[[str], "Deferred[Any]"]
#: ``load(room)``: read a room before serving it (default: the store's ``load``; a cluster
#: claims the room first, and asks for a :class:`Fence` when it comes from another owner).
Load = Callable[[str], "Deferred[StoredRoom | Fence | None]"]


@dataclass(frozen=True)
class Fence:
    """What ``load`` answers for a stored room whose history must restart in a new epoch
    before it is served here: from then on writes at the old epoch (a previous owner's) fail
    with ``StaleEpoch``. ``fenced(old_epoch, new_epoch, seq)`` is called once it is done."""

    stored: StoredRoom
    fenced: Callable[[int, int, int], None]


class NotOwner(Unavailable):
    """``load`` refused: another process serves the room (a retry finds it through the lobby)."""


def wall_ms() -> int:
    return int(time.time() * 1000)


def new_epoch(previous: int, now_ms: int) -> int:
    """A fresh epoch: above every earlier one of the room, and unique across restarts that
    lost the store (it is at least the wall clock in ms)."""
    return max(previous + 1, now_ms)


class RoomRegistry:
    """Opens and holds the rooms of one room-service process."""

    log = Logger()

    def __init__(
        self,
        *,
        clock: IReactorTime,
        store: RoomStore,
        publish: Publish,
        expose: Expose,
        withdraw: Withdraw | None = None,
        settings: ServiceSettings,
        now_ms: Callable[[], int] = wall_ms,
        types: Mapping[str, type[RoomType]] = BUILTIN_TYPES,
        load: Load | None = None,
        observer: ServiceObserver | None = None,
        lobby: Lobby | None = None,
        unload: Unload | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._clock = clock
        #: Admission under overload, shared by the rooms (None: every action is admitted).
        self.admission = admission
        #: Keeps the listings of the rooms served here (None: no lobby).
        self.lobby = lobby
        self._store = store
        self._publish = publish
        self._expose = expose
        self._withdraw = withdraw
        self._settings = settings
        self._now_ms = now_ms
        self._types = types
        self._load = load or store.load
        self._observer = observer
        self.runners: dict[str, RoomRunner] = {}
        #: Counters of runners that are gone (so totals never go backwards).
        self.retired_stats: dict[str, int] = {}
        self._last_epoch = 0
        self._opening: dict[str, list[Deferred[RoomRunner]]] = {}
        self._reload_timers: dict[str, IDelayedCall] = {}
        self.limiter = RateLimiter(settings.action_rate, settings.action_burst)
        #: The byte budget the histories of this process's rooms share.
        self.history_budget = HistoryBudget(settings.history_process_bytes)
        self._stopped = False
        self._unload = unload or self.close_room
        #: room -> the member whose open loaded or created it (live or opening rooms only).
        self._opener: dict[str, str] = {}
        #: member -> how many rooms of ``_opener`` are theirs.
        self._opened: dict[str, int] = {}
        self._sweep: IDelayedCall | None = None
        self.stats = {"rooms_unloaded": 0}

    @property
    def types(self) -> Mapping[str, type[RoomType]]:
        """The room types this process serves, by name."""
        return self._types

    def runner(self, room: str) -> RoomRunner:
        """The live runner of ``room``; ``NoSuchRoom`` if this process does not serve it."""
        runner = self.runners.get(room)
        if runner is None:
            if room in self._opening:
                raise Unavailable(
                    "the room is loading; retry", field="room", expected="a live room", got=describe(room)
                )
            raise NoSuchRoom(
                "the room is not open; call kasagi.lobby.open first",
                field="room",
                expected="an open room",
                got=describe(room),
            )
        return runner

    def open(
        self, cmd: OpenCommand, caller: str | None = None, sessions: Mapping[str, str] | None = None
    ) -> Deferred[dict[str, Any]]:
        """Serve ``cmd.room``: already live, loaded from the store, or created.

        ``caller`` is the member asking (None: the service itself). A member list must
        include the caller; a private room opens only for its members; an existing room keeps
        the member list (or the absence of one) it was created with. ``sessions`` (session id
        -> member) are live sessions of the room handed over by its previous owner: a room
        loaded now starts with them, so their members stay online.
        """
        if cmd.access is not None and caller is not None and not cmd.access.admits(caller):
            return fail(
                InvalidArgument(
                    "a private room's member list must include the member who opens it",
                    field=f"options.{OPEN_MEMBERS}",
                    expected="a list that includes the caller",
                    got=f"a list without {caller}",
                )
            )
        d = self._runner_for(cmd, sessions, caller)

        def info(runner: RoomRunner) -> dict[str, Any]:
            room = runner.room
            if caller is not None:
                room.access.check(caller)
            if room.type.name != cmd.type:
                raise InvalidArgument(
                    "the room exists with another type",
                    field="type",
                    expected=room.type.name,
                    got=describe(cmd.type),
                )
            self._check_options(room, cmd)
            if cmd.access is not None and cmd.access != room.access:
                raise InvalidArgument(
                    "the room exists with another member list",
                    field=f"options.{OPEN_MEMBERS}",
                    expected=(
                        "the member list it was created with" if room.access.is_private else "none: it is public"
                    ),
                    got=f"a list of {len(cmd.access.members or ())}",
                )
            reply: dict[str, Any] = {"room": cmd.room, "type": room.type.name, "epoch": room.epoch, "seq": room.seq}
            if room.access.is_private:
                reply[OPEN_MEMBERS] = room.access.to_wire()
            return reply

        return d.addCallback(info)

    def _check_options(self, room: Room, cmd: OpenCommand) -> None:
        """Refuse an ``open`` of an existing room whose type options differ from the ones the
        room was created with (an ``open`` without options accepts the room's as they are)."""
        if not cmd.options:
            return
        asked = make_room_type(cmd.type, cmd.options, self._types).options()
        if asked != room.type.options():
            raise InvalidArgument(
                "the room exists with other options",
                field="options",
                expected="the options it was created with, or none",
                got=describe(cmd.options),
            )

    def access(self, room: str) -> Deferred[dict[str, Any]]:
        """Who may read ``room``: ``{"room", "exists", "members"}`` (members None: public).

        Answered from the live room, or else from the store (any process can answer for any
        room); fails with ``Unavailable`` when neither can say.
        """

        def reply(access: RoomAccess, exists: bool = True) -> dict[str, Any]:
            return {"room": room, "exists": exists, OPEN_MEMBERS: access.to_wire()}

        live = self.runners.get(room)
        if live is not None:
            return succeed(reply(live.room.access))
        waiting = self._opening.get(room)
        if waiting is not None:
            d: Deferred[RoomRunner] = Deferred()
            waiting.append(d)
            return d.addCallbacks(lambda runner: reply(runner.room.access), lambda _: self._stored_access(room, reply))
        return self._stored_access(room, reply)

    def _stored_access(self, room: str, reply: Callable[..., dict[str, Any]]) -> Deferred[dict[str, Any]]:
        d = within(maybeDeferred(self._store.load, room), self._settings.store_deadline, self._clock, "room load")

        def answer(stored: StoredRoom | None) -> dict[str, Any]:
            if stored is None:
                return reply(PUBLIC, exists=False)
            return reply(access_of_stored(stored.options)[0])

        def unknown(failure: Failure) -> Failure:
            why = failure.getErrorMessage()[:200]
            error = Unavailable("the room store did not answer", field="store", expected="a loaded room", got=why)
            return Failure(error)

        return d.addCallbacks(answer, unknown)

    def _runner_for(
        self, cmd: OpenCommand, sessions: Mapping[str, str] | None = None, caller: str | None = None
    ) -> Deferred[RoomRunner]:
        live = self.runners.get(cmd.room)
        if live is not None:
            return succeed(live)
        waiting = self._opening.get(cmd.room)
        d: Deferred[RoomRunner] = Deferred()
        if waiting is not None:
            waiting.append(d)
            return d
        limit = self._settings.max_rooms
        if limit and len(self.runners) + len(self._opening) >= limit:
            return fail(
                Full(
                    "this room service serves as many rooms as it may",
                    field="rooms",
                    expected=f"at most {limit} rooms per room-service process",
                    got=f"{len(self.runners) + len(self._opening)} rooms",
                )
            )
        per_member = self._settings.max_rooms_per_member
        if caller is not None and per_member and self._opened.get(caller, 0) >= per_member:
            return fail(
                Full(
                    "this member has opened as many live rooms as it may (rooms_per_member)",
                    field="rooms_per_member",
                    expected=f"at most {per_member} live rooms opened by one member",
                    got=f"{self._opened[caller]} rooms opened by {caller}",
                )
            )
        self._opening[cmd.room] = [d]
        if caller is not None:
            self._opener[cmd.room] = caller
            self._opened[caller] = self._opened.get(caller, 0) + 1

        def done(result: RoomRunner | Failure) -> None:
            if isinstance(result, Failure):
                self._forget_opener(cmd.room)
            for w in self._opening.pop(cmd.room, []):
                w.errback(result) if isinstance(result, Failure) else w.callback(result)

        self._load_or_create(cmd, sessions).addBoth(done)
        return d

    @inlineCallbacks
    def _load_or_create(self, cmd: OpenCommand, sessions: Mapping[str, str] | None = None):  # type: ignore[no-untyped-def]
        room = yield self._load_room(cmd)
        runner = self._start_runner(room)
        for session_id, member in (sessions or {}).items():
            room.add_session(member, session_id, self._now_ms())
        try:
            yield maybeDeferred(self._expose, cmd.room)
        except Exception:
            del self.runners[cmd.room]
            runner.stop()
            raise
        self._schedule_sweep()
        runner.begin()
        self._listing_changed(runner)
        self.log.info(
            "room {room} open ({type}, epoch {epoch}, seq {seq})",
            room=cmd.room,
            type=room.type.name,
            epoch=room.epoch,
            seq=room.seq,
        )
        return runner

    @inlineCallbacks
    def _load_room(self, cmd: OpenCommand):  # type: ignore[no-untyped-def]
        """The room as stored (rebuilt), or a new one stored now."""
        deadline, load_deadline = self._settings.store_deadline, self._settings.load_deadline
        try:
            stored = yield within(maybeDeferred(self._load, cmd.room), load_deadline, self._clock, "room load")
        except CorruptRecord as exc:
            raise self._damaged(exc) from None
        except KasagiError:
            raise
        except Exception as exc:  # noqa: BLE001 -- any store failure is "unavailable" to the caller
            raise Unavailable(
                "the room store did not answer", field="store", expected="a loaded room", got=str(exc)[:200]
            ) from None
        if stored is not None:
            room = yield self._rebuild(stored)
            return room
        room_type = make_room_type(cmd.type, cmd.options, self._types)
        access = cmd.access or PUBLIC
        epoch = self._fresh_epoch(0)
        room = Room(cmd.room, room_type, epoch=epoch, config=self._settings.room_config(), access=access)
        options = stored_options(room_type.options(), access)
        try:
            yield within(
                maybeDeferred(self._store.create, cmd.room, room_type.name, options, room.epoch, room.committed),
                deadline,
                self._clock,
                "room create",
            )
        except RoomExists:
            # Another worker created it meanwhile (or something is stored under its name).
            try:
                stored = yield within(maybeDeferred(self._load, cmd.room), load_deadline, self._clock, "room load")
            except CorruptRecord as exc:
                raise self._damaged(exc) from None
            if stored is None:
                raise Unavailable(
                    "the room is being created; retry", field="store", expected="a stored room", got="none"
                ) from None
            room = yield self._rebuild(stored)
        except Exception as exc:  # noqa: BLE001 -- any store failure is "unavailable" to the caller
            raise Unavailable(
                "the room store did not answer", field="store", expected="a created room", got=str(exc)[:200]
            ) from None
        return room

    @inlineCallbacks
    def _rebuild(self, loaded: StoredRoom | Fence):  # type: ignore[no-untyped-def]
        """Snapshot + tail, exactly; a new epoch when history is not intact, or when ``load``
        asked for a fence (the one place a stored room moves to a new epoch)."""
        fence = loaded if isinstance(loaded, Fence) else None
        stored = loaded.stored if isinstance(loaded, Fence) else loaded
        try:
            rebuilt = rebuild(stored, config=self._settings.room_config(), now_ms=self._now_ms(), types=self._types)
        except CorruptRecord as exc:
            raise self._damaged(exc) from None
        room = rebuilt.room
        if rebuilt.lost is not None or fence is not None:
            epoch = self._fresh_epoch(stored.epoch)
            if rebuilt.lost is not None:
                self.log.warn(
                    "room {room}: history not intact ({why}); continuing from seq {seq} in a new epoch {epoch}",
                    room=stored.room,
                    why=rebuilt.lost,
                    seq=room.seq,
                    epoch=epoch,
                )
            try:
                yield within(
                    maybeDeferred(self._store.set_epoch, stored.room, stored.epoch, epoch, room.seq, room.committed),
                    self._settings.store_deadline,
                    self._clock,
                    "new epoch",
                )
            except Exception as exc:  # noqa: BLE001 -- any store failure means: not now
                why = str(exc)[:200]
                raise Unavailable(
                    "the room store did not answer", field="store", expected="a new epoch", got=why
                ) from None
            room.restart_epoch(epoch)
            if fence is not None:
                fence.fenced(stored.epoch, epoch, room.seq)
        return room

    def _fresh_epoch(self, previous: int) -> int:
        """A new epoch, also distinct from every other epoch this process made, so a ``since``
        taken from another room never matches this one's."""
        self._last_epoch = max(new_epoch(previous, self._now_ms()), self._last_epoch + 1)
        return self._last_epoch

    def _damaged(self, exc: CorruptRecord) -> RoomDamaged:
        self.log.error(
            "room {room} can't be loaded: {problem} (its stored data is left as it is)",
            room=exc.room,
            problem=exc.problem,
        )
        return RoomDamaged(
            f"room {exc.room} can't be loaded: its stored data is damaged ({exc.problem[:200]})",
            field="store",
            expected="a valid stored room",
            got=exc.problem[:200],
        )

    def _listing_changed(self, runner: RoomRunner) -> None:
        if self.lobby is not None and self.runners.get(runner.room.room_id) is runner:
            self.lobby.room_changed(runner)

    def _start_runner(self, room: Room) -> RoomRunner:
        publish = self._publish
        if self.lobby is not None:
            # Every commit publishes its event: then the room's listing may have changed.
            def publish_and_list(topic: str, event: dict[str, Any], audience: Audience | None = None, /) -> Any:
                result = self._publish(topic, event) if audience is None else self._publish(topic, event, audience)
                self._listing_changed(runner)
                return result

            publish = publish_and_list
        room.history.use_budget(self.history_budget)
        runner = RoomRunner(
            room,
            clock=self._clock,
            store=self._store,
            publish=publish,
            settings=self._settings,
            now_ms=self._now_ms,
            on_lost=self._lost,
            observer=self._observer,
            limiter=self.limiter,
            admission=self.admission,
        )
        self.runners[room.room_id] = runner
        return runner

    def _lost(self, runner: RoomRunner, failure: Failure) -> None:
        """A runner found its copy stale, or a write undetermined: only the store knows what
        was written. The copy stays reachable for joins (its committed state is still
        true) while acts fail fast, and the room is reloaded -- retried with backoff until
        the store answers."""
        room = runner.room.room_id
        if self.runners.get(room) is not runner:
            return
        runner.suspend()
        self.log.warn("room {room}: reloading from the store ({why})", room=room, why=failure.getErrorMessage())
        self._reload(runner, 0)

    def _reload(self, old: RoomRunner, attempt: int) -> None:
        room = old.room.room_id
        self._reload_timers.pop(room, None)
        if self.runners.get(room) is not old or self._stopped:
            return
        cmd = OpenCommand(room, old.room.type.name, old.room.type.options(), old.room.access)

        def swap(new_room: Room) -> None:
            if self.runners.get(room) is not old or self._stopped:
                return
            sessions = old.room.sessions()
            old.stop()
            self._retire(old)
            new = self._start_runner(new_room)
            new.adopt_sessions(sessions)
            new.begin()
            self._listing_changed(new)
            self.log.info(
                "room {room} reloaded (epoch {epoch}, seq {seq})", room=room, epoch=new_room.epoch, seq=new_room.seq
            )

        def retry(f: Failure) -> None:
            if f.check(RoomDamaged):
                self.log.error("room {room}: closed until repaired", room=room)
                self._close(old)
                return
            if f.check(NotOwner):
                self.log.warn("room {room}: another process serves it now; closed here", room=room)
                self._close(old)
                return
            delay = min(5.0, 0.2 * 2 ** min(attempt, 5))
            self.log.warn(
                "room {room}: reload failed ({why}); retrying in {delay:.1f} s",
                room=room,
                why=f.getErrorMessage(),
                delay=delay,
            )
            self._reload_timers[room] = self._clock.callLater(delay, self._reload, old, attempt + 1)

        self._load_room(cmd).addCallbacks(swap, retry).addErrback(
            lambda f: self.log.failure("room {room}: reload bookkeeping failed", f, room=room)
        )

    def _close(self, runner: RoomRunner) -> None:
        room = runner.room.room_id
        if self.runners.get(room) is runner:
            del self.runners[room]
            self._retire(runner)
            self._forget_opener(room)
        runner.stop()
        if self._withdraw is not None:
            maybeDeferred(self._withdraw, room).addErrback(lambda e: self.log.failure("withdraw {room}", e, room=room))

    def close_room(self, room: str) -> Deferred[bool]:
        """Stop serving ``room`` here: commit what was accepted, unregister its procedures.
        Fires True when its history is intact (every write of this process succeeded)."""
        runner = self.runners.get(room)
        if runner is None:
            return succeed(False)
        timer = self._reload_timers.pop(room, None)
        if timer is not None and timer.active():
            timer.cancel()

        def closed(intact: bool) -> Deferred[bool]:
            if self.runners.get(room) is runner:
                del self.runners[room]
                self._retire(runner)
                self._forget_opener(room)
            if self._withdraw is None:
                return succeed(intact)
            d = maybeDeferred(self._withdraw, room)
            d.addErrback(lambda f: self.log.failure("withdraw {room}", f, room=room))
            return d.addCallback(lambda _: intact)

        return runner.drain().addCallback(closed)

    def _forget_opener(self, room: str) -> None:
        member = self._opener.pop(room, None)
        if member is None:
            return
        left = self._opened.get(member, 0) - 1
        if left > 0:
            self._opened[member] = left
        else:
            self._opened.pop(member, None)

    def rooms_opened_by(self, member: str) -> int:
        """How many live (or opening) rooms ``member``'s opens loaded or created here."""
        return self._opened.get(member, 0)

    # -- idle rooms ------------------------------------------------------------------------------
    def _schedule_sweep(self) -> None:
        idle = self._settings.room_idle
        if idle <= 0 or self._stopped or not self.runners:
            return
        if self._sweep is not None and self._sweep.active():
            return
        self._sweep = self._clock.callLater(max(0.05, idle / 4), self._sweep_idle)

    def _sweep_idle(self) -> None:
        """Unload every room at rest for ``room_idle`` seconds (see the module docstring)."""
        self._sweep = None
        now, idle = self._clock.seconds(), self._settings.room_idle
        for room, runner in list(self.runners.items()):
            since = runner.idle_since()
            if since is None or now - since < idle or room in self._reload_timers:
                continue
            self.stats["rooms_unloaded"] += 1
            self.log.info("room {room}: idle for {idle:.0f} s; unloading it", room=room, idle=now - since)
            maybeDeferred(self._unload, room).addErrback(self._unload_failed, room)
        self._schedule_sweep()

    def _unload_failed(self, failure: Failure, room: str) -> None:
        self.log.failure("room {room}: unloading failed", failure, room=room)

    def _retire(self, runner: RoomRunner) -> None:
        # Its history no longer answers anyone: give its bytes back to the budget.
        runner.room.history.clear()
        if self.lobby is not None:
            self.lobby.forget(runner.room.room_id)
        for key, value in runner.stats.items():
            self.retired_stats[key] = self.retired_stats.get(key, 0) + value

    def session_closed(self, session_id: str) -> None:
        """A WAMP session ended: every room it joined marks it gone."""
        for runner in list(self.runners.values()):
            runner.session_closed(session_id)

    def sessions_closed(self, prefix: str) -> None:
        """Every WAMP session whose id starts with ``prefix`` ended (its router was lost)."""
        for runner in list(self.runners.values()):
            for session_id in [s for s in runner.room.sessions() if s.startswith(prefix)]:
                runner.session_closed(session_id)

    def stop(self) -> None:
        self._stopped = True
        if self._sweep is not None and self._sweep.active():
            self._sweep.cancel()
        self._sweep = None
        for timer in self._reload_timers.values():
            if timer.active():
                timer.cancel()
        self._reload_timers.clear()
        for runner in self.runners.values():
            runner.stop()
