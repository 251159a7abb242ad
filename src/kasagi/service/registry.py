"""The rooms this process owns: opening (creating or loading) them, finding them, and the
events that concern all of them (a session closing)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi.core.commands import OpenCommand
from kasagi.core.errors import InvalidArgument, NoSuchRoom, Unavailable, describe
from kasagi.core.ops import apply_ops
from kasagi.core.room import Room
from kasagi.core.roomtypes import BUILTIN_TYPES, RoomType, make_room_type
from kasagi.deadline import within
from kasagi.service.runner import Publish, RoomRunner
from kasagi.service.settings import ServiceSettings
from kasagi.store.interface import RoomExists, RoomStore, StoredRoom

__all__ = ["RoomRegistry", "new_epoch", "wall_ms"]

#: ``expose(room)``: make the room's procedures reachable (register them with the router).
Expose = Callable[[str], Any]
#: ``withdraw(room)``: unregister them.
Withdraw = Callable[[str], Any]


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
    ) -> None:
        self._clock = clock
        self._store = store
        self._publish = publish
        self._expose = expose
        self._withdraw = withdraw
        self._settings = settings
        self._now_ms = now_ms
        self._types = types
        self.runners: dict[str, RoomRunner] = {}
        self._last_epoch = 0
        self._opening: dict[str, list[Deferred[RoomRunner]]] = {}

    def runner(self, room: str) -> RoomRunner:
        """The live runner of ``room``; ``NoSuchRoom`` if this process does not serve it."""
        runner = self.runners.get(room)
        if runner is None:
            if room in self._opening:
                raise Unavailable("the room is loading; retry", field="room", expected="a live room", got=describe(room))
            raise NoSuchRoom("the room is not open; call kasagi.lobby.open first", field="room", expected="an open room", got=describe(room))
        return runner

    def open(self, cmd: OpenCommand) -> Deferred[dict[str, Any]]:
        """Serve ``cmd.room``: already live, loaded from the store, or created."""
        d = self._runner_for(cmd)

        def info(runner: RoomRunner) -> dict[str, Any]:
            if runner.room.type.name != cmd.type:
                raise InvalidArgument(
                    "the room exists with another type",
                    field="type",
                    expected=runner.room.type.name,
                    got=describe(cmd.type),
                )
            return {"room": cmd.room, "type": runner.room.type.name, "epoch": runner.room.epoch, "seq": runner.room.seq}

        return d.addCallback(info)

    def _runner_for(self, cmd: OpenCommand) -> Deferred[RoomRunner]:
        live = self.runners.get(cmd.room)
        if live is not None:
            return succeed(live)
        waiting = self._opening.get(cmd.room)
        d: Deferred[RoomRunner] = Deferred()
        if waiting is not None:
            waiting.append(d)
            return d
        self._opening[cmd.room] = [d]

        def done(result: RoomRunner | Failure) -> None:
            for w in self._opening.pop(cmd.room, []):
                w.errback(result) if isinstance(result, Failure) else w.callback(result)

        self._load_or_create(cmd).addBoth(done)
        return d

    @inlineCallbacks
    def _load_or_create(self, cmd: OpenCommand):  # type: ignore[no-untyped-def]
        deadline = self._settings.store_deadline
        try:
            stored = yield within(maybeDeferred(self._store.load, cmd.room), deadline, self._clock, "room load")
        except Exception as exc:
            raise Unavailable("the room store did not answer", field="store", expected="a loaded room", got=str(exc)[:200]) from None
        if stored is None:
            room_type = make_room_type(cmd.type, cmd.options, self._types)
            room = Room(cmd.room, room_type, epoch=self._fresh_epoch(0), config=self._settings.room_config())
            try:
                yield within(
                    maybeDeferred(self._store.create, cmd.room, room_type.name, room_type.options(), room.epoch, room.committed),
                    deadline,
                    self._clock,
                    "room create",
                )
            except RoomExists:
                # Another worker created it meanwhile: load what it stored.
                stored = yield within(maybeDeferred(self._store.load, cmd.room), deadline, self._clock, "room load")
                room = self._restore(stored)
            except Exception as exc:
                raise Unavailable("the room store did not answer", field="store", expected="a created room", got=str(exc)[:200]) from None
        else:
            room = self._restore(stored)
        runner = RoomRunner(
            room,
            clock=self._clock,
            store=self._store,
            publish=self._publish,
            settings=self._settings,
            now_ms=self._now_ms,
            on_lost=self._lost,
        )
        self.runners[cmd.room] = runner
        try:
            yield maybeDeferred(self._expose, cmd.room)
        except Exception:
            del self.runners[cmd.room]
            runner.stop()
            raise
        room.reconcile_presence(self._now_ms())
        runner._after_change()
        self.log.info("room {room} open ({type}, epoch {epoch}, seq {seq})", room=cmd.room, type=room.type.name, epoch=room.epoch, seq=room.seq)
        return runner

    def _fresh_epoch(self, previous: int) -> int:
        """A new epoch, also distinct from every other epoch this process made, so a ``since``
        taken from another room never matches this one's."""
        self._last_epoch = max(new_epoch(previous, self._now_ms()), self._last_epoch + 1)
        return self._last_epoch

    def _restore(self, stored: StoredRoom) -> Room:
        """Rebuild a room from snapshot + tail, exactly."""
        room_type = make_room_type(stored.type, stored.options, self._types)
        state = stored.snapshot
        for event in stored.tail:
            apply_ops(state, event["ops"])
        room = Room(
            stored.room,
            room_type,
            epoch=stored.epoch,
            seq=stored.seq,
            state=state,
            results=stored.results,
            config=self._settings.room_config(),
        )
        room.history.extend(stored.tail, self._now_ms())
        return room

    def _lost(self, runner: RoomRunner, failure: Failure) -> None:
        """A runner found its copy stale (or a write undetermined): drop it and reload the
        room from the store, which alone knows what was written."""
        room = runner.room.room_id
        if self.runners.get(room) is not runner:
            return
        del self.runners[room]
        self.log.warn("room {room}: reloading from the store ({why})", room=room, why=failure.getErrorMessage())
        cmd = OpenCommand(room, runner.room.type.name, runner.room.type.options())
        sessions = runner.room.sessions()

        def rejoin(new: RoomRunner) -> None:
            new.adopt_sessions(sessions)

        def give_up(f: Failure) -> None:
            self.log.warn("room {room}: reload failed ({why}); it is closed until opened again", room=room, why=f.getErrorMessage())
            if self._withdraw is not None:
                maybeDeferred(self._withdraw, room).addErrback(lambda e: self.log.failure("withdraw {room}", e, room=room))

        self._runner_for(cmd).addCallbacks(rejoin, give_up)

    def session_closed(self, session_id: str) -> None:
        """A WAMP session ended: every room it joined marks it gone."""
        for runner in list(self.runners.values()):
            runner.session_closed(session_id)

    def stop(self) -> None:
        for runner in self.runners.values():
            runner.stop()

