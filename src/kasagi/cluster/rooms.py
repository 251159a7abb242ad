"""The rooms of one worker in a cluster: claiming, serving, failing over and handing over.

One worker process holds one :class:`ClusterRooms`. It wraps the process's
:class:`~kasagi.service.registry.RoomRegistry` with ownership:

- **Open.** ``kasagi.lobby.open`` lands on any worker (round robin). If a live worker owns
  the room, the call is forwarded to it (``kasagi.worker.<id>.open``); if nobody does, the
  room is placed on the less loaded of two live workers (:mod:`kasagi.cluster.placement`),
  which claims it. Clients never need to know which worker serves a room: the owner
  registers the room's procedures on every router.
- **Fencing.** Serving starts with a claim (:meth:`Leases.claim`). When the room comes from
  another worker (dead, or released without a clean handover), the new owner moves the stored
  room to a new epoch before loading it: from then on the previous owner's writes fail with
  ``StaleEpoch`` even if it wakes up and still believes it is the owner.
- **Failover.** Every heartbeat renews this worker's lease and reads every worker's. A worker
  whose lease expired is *reaped* by one survivor, which re-places each of its rooms. This
  watch, not the clients, detects a lost owner: a killed owner's registrations vanish from
  the routers at once, but a paused or partitioned one keeps them, and its callers just wait
  for their deadlines -- only the lease says it is gone. Scanning the worker table costs
  O(workers) per heartbeat, whatever the number of rooms.
- **Handover.** A graceful stop drains every room (commits what was accepted), releases it as
  ``handover`` at its epoch and asks another worker to take it: the successor keeps the epoch,
  so clients catch up from history instead of reloading a snapshot.
- **Idle rooms.** A room the registry finds idle is unloaded like a handover without a
  successor: drained, released as ``handover`` at its epoch (the next worker to claim it keeps
  the epoch), and not opened here again until the release is written.
- **Lapse.** If this worker's own lease lapsed (paused, or cut off from Redis), it re-checks
  each room on its next heartbeat and drops those another worker has claimed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, DeferredSemaphore, inlineCallbacks, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi.cluster.leases import Claim, Leases, OwnerRecord, WorkerInfo
from kasagi.cluster.placement import choose_worker
from kasagi.core.commands import OpenCommand
from kasagi.core.errors import KasagiError, Unavailable, describe
from kasagi.core.roomtypes import RoomType
from kasagi.deadline import within
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.service.admission import Admission
from kasagi.service.observer import ServiceObserver
from kasagi.service.registry import Fence, NotOwner, RoomRegistry, wall_ms
from kasagi.service.runner import Publish, RoomRunner
from kasagi.service.settings import ServiceSettings
from kasagi.store.interface import RoomStore, StoredRoom

if TYPE_CHECKING:
    from kasagi.lobby.service import Lobby

__all__ = ["ClusterRooms", "ClusterSettings", "Forward", "OwnedElsewhere"]

#: ``forward(worker, cmd, sessions, caller)``: ask ``worker`` to open (serve) a room for
#: ``caller`` (the member asking; None: the service itself), starting with the live
#: ``sessions`` (session id -> member) a graceful handover passes on; fires with the open reply.
Forward = Callable[[str, OpenCommand, "Mapping[str, str] | None", "str | None"], "Deferred[dict[str, Any]]"]

#: Seconds a closed session id is remembered, so that a handed-over session that closed
#: while the room was moving is not adopted as a ghost.
CLOSED_MEMORY = 30.0


@dataclass(frozen=True)
class ClusterSettings:
    """Tunables of a worker in a cluster (seconds)."""

    worker_id: str
    #: A worker is presumed dead this long after its last lease renewal.
    lease_ttl: float = 1.2
    #: Renew the lease and look for dead workers this often.
    heartbeat: float = 0.3
    #: A forwarded open must answer within this.
    forward_timeout: float = 1.5
    #: A graceful stop waits this long for each room's last commits.
    drain_timeout: float = 5.0
    #: Rooms loaded at once while taking over a dead worker's rooms.
    reap_concurrency: int = 16


class OwnedElsewhere(NotOwner):
    """Another live worker owns the room (retry: the lobby forwards to it)."""

    def __init__(self, room: str, owner: str | None) -> None:
        super().__init__(
            "the room is served by another worker; retry", field="room", expected="a live owner", got=describe(room)
        )
        self.owner = owner


class ClusterRooms:
    """Ownership-aware rooms of one worker (see the module docstring)."""

    log = Logger()

    def __init__(
        self,
        *,
        settings: ClusterSettings,
        service: ServiceSettings,
        clock: IReactorTime,
        store: RoomStore,
        leases: Leases,
        publish: Publish,
        expose: Callable[[str], Any],
        withdraw: Callable[[str], Any],
        forward: Forward,
        observer: ServiceObserver | None = None,
        now_ms: Callable[[], int] = wall_ms,
        rng: random.Random | None = None,
        types: Mapping[str, type[RoomType]] = BUILTIN_TYPES,
        lobby: Lobby | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = settings.worker_id
        self._clock = clock
        self._store = store
        self._leases = leases
        self._forward = forward
        self._now_ms = now_ms
        self._rng = rng or random.Random()
        self._withdraw = withdraw
        self.registry = RoomRegistry(
            clock=clock,
            store=store,
            publish=publish,
            expose=expose,
            withdraw=self._withdrawn,
            settings=service,
            now_ms=now_ms,
            load=self._claim_and_load,
            observer=observer,
            types=types,
            lobby=lobby,
            unload=self._unload_idle,
            admission=admission,
        )
        self._types = types
        #: Idle rooms being unloaded (opens of them wait for the release).
        self._unloading: set[str] = set()
        self.workers: dict[str, WorkerInfo] = {}
        #: Rooms won from another owner, not yet fenced (claim -> previous record).
        self._to_fence: dict[str, OwnerRecord | None] = {}
        self._placed: dict[str, float] = {}
        self._reaping: set[str] = set()
        self._recently_closed: dict[str, float] = {}
        self._beat = LoopingCall(self._heartbeat)
        self._beat.clock = clock
        self._beating: Deferred[Any] | None = None
        self.joined = False
        self.lease_ok = False
        self.stopping = False
        #: Counters for metrics and tests.
        self.stats = {
            "lease_renewals": 0,
            "lease_failures": 0,
            "lease_lapses": 0,
            "failovers": 0,
            "handovers_in": 0,
            "handovers_out": 0,
            "rooms_lost": 0,
            "forwards": 0,
            "reaped_workers": 0,
        }

    # -- life ----------------------------------------------------------------------------------
    def start(self) -> Deferred[None]:
        """Take the lease (first heartbeat), then keep renewing it."""
        d = self._heartbeat()

        def loop(_: object) -> None:
            self._beating = self._beat.start(self.settings.heartbeat, now=False)
            self._beating.addErrback(lambda f: self.log.failure("lease heartbeat loop stopped", f))

        return d.addCallback(loop)

    def pause_heartbeat(self) -> None:
        """Stop renewing the lease (as a stopped process would), until :meth:`resume_heartbeat`."""
        if self._beat.running:
            self._beat.stop()

    def resume_heartbeat(self) -> None:
        """Renew the lease now and every heartbeat from then on."""
        self._beating = self._beat.start(self.settings.heartbeat, now=True)
        self._beating.addErrback(lambda f: self.log.failure("lease heartbeat loop stopped", f))

    @inlineCallbacks
    def shutdown(self):  # type: ignore[no-untyped-def]
        """Graceful stop: hand every room over (same epoch where history is intact), then
        give up the lease."""
        self.stopping = True
        if self._beat.running:
            self._beat.stop()
        others = {w: i for w, i in self.workers.items() if i.alive and w != self.worker_id}
        sem = DeferredSemaphore(self.settings.reap_concurrency)
        rooms = list(self.registry.runners)
        results = yield DeferredList([sem.run(self._hand_over, room, others) for room in rooms], consumeErrors=True)
        for ok, value in results:
            if not ok:
                self.log.warn("handover failed: {why}", why=value.getErrorMessage())
        try:
            yield self._leases.leave(self.worker_id)
        except Exception as exc:  # noqa: BLE001 -- the lease expires by itself anyway
            self.log.warn(
                "could not drop the lease ({why}); it expires in {ttl} s", why=str(exc), ttl=self.settings.lease_ttl
            )
        self.registry.stop()
        self.log.info("worker {worker} stopped; {n} rooms handed over", worker=self.worker_id, n=len(rooms))

    @inlineCallbacks
    def _hand_over(self, room: str, others: Mapping[str, WorkerInfo]):  # type: ignore[no-untyped-def]
        runner = self.registry.runners.get(room)
        if runner is None:
            return
        epoch, type_name, options = runner.room.epoch, runner.room.type.name, runner.room.type.options()
        access = runner.room.access
        sessions = runner.room.sessions()
        try:
            intact = yield within(self.registry.close_room(room), self.settings.drain_timeout, self._clock, "drain")
        except Exception:  # noqa: BLE001 -- a late write: the successor must fence
            intact = False
        released = yield self._leases.release(room, self.worker_id, epoch, intact)
        if not released:
            return
        self.stats["handovers_out"] += 1
        if not others:
            return
        target = choose_worker(others, self.worker_id, self._rng, self._placed, include_me=False)
        self._placed[target] = self._placed.get(target, 0.0) + 1
        cmd = OpenCommand(room, type_name, options, access)
        try:
            yield within(
                self._forward(target, cmd, sessions, None), self.settings.forward_timeout, self._clock, "handover"
            )
        except Exception as exc:  # noqa: BLE001 -- clients reopen it anyway
            self.log.info(
                "room {room}: {target} did not take it over ({why}); its clients will reopen it",
                room=room,
                target=target,
                why=str(exc),
            )

    @inlineCallbacks
    def _unload_idle(self, room: str):  # type: ignore[no-untyped-def]
        """The registry's ``unload``: drain the idle room, then release it as a handover."""
        runner = self.registry.runners.get(room)
        if runner is None or self.stopping or room in self._unloading:
            return
        self._unloading.add(room)
        epoch = runner.room.epoch
        try:
            intact = yield within(self.registry.close_room(room), self.settings.drain_timeout, self._clock, "drain")
        except Exception:  # noqa: BLE001 -- a late write: the next owner must fence
            intact = False
        try:
            yield self._leases.release(room, self.worker_id, epoch, intact)
        finally:
            self._unloading.discard(room)

    # -- opening ---------------------------------------------------------------------------------
    @property
    def runners(self) -> Mapping[str, RoomRunner]:
        """The live rooms this worker serves."""
        return self.registry.runners

    def runner(self, room: str) -> RoomRunner:
        return self.registry.runner(room)

    @property
    def types(self) -> Mapping[str, type[RoomType]]:
        """The room types this worker serves, by name."""
        return self._types

    def access(self, room: str) -> Deferred[dict[str, Any]]:
        """Who may read ``room`` (any worker answers, from the store if need be)."""
        return self.registry.access(room)

    @inlineCallbacks
    def open(self, cmd: OpenCommand, caller: str | None = None):  # type: ignore[no-untyped-def]
        """``kasagi.lobby.open`` for ``caller``: make sure a live worker serves the room; reply
        with its info (the owner checks the caller against a private room's members)."""
        if cmd.room in self.registry.runners:
            info = yield self.registry.open(cmd, caller)
            return info
        if self.stopping:
            raise Unavailable(
                "this worker is stopping; retry", field="room", expected="a live worker", got=describe(cmd.room)
            )
        try:
            records = yield within(
                self._leases.owners([cmd.room]), self.settings.forward_timeout, self._clock, "owner read"
            )
        except Exception as exc:  # noqa: BLE001 -- any failure of the lease store is "retry later"
            raise Unavailable(
                "the lease store did not answer", field="store", expected="an owner record", got=str(exc)[:200]
            ) from None
        record = records.get(cmd.room)
        owner = record.worker if record is not None and record.state == "owned" else None
        if owner is not None and owner != self.worker_id and self._alive(owner):
            info = yield self._forward_open(owner, cmd, caller)
            return info
        if owner != self.worker_id:
            # Nobody (alive) serves it: place it.
            target = choose_worker(self.workers, self.worker_id, self._rng, self._placed)
            if target != self.worker_id:
                self._placed[target] = self._placed.get(target, 0.0) + 1
                try:
                    info = yield self._forward_open(target, cmd, caller)
                except Unavailable:
                    pass  # the chosen worker could not take it: serve it here
                else:
                    return info
        info = yield self.open_here(cmd, forward_once=True, caller=caller)
        return info

    @inlineCallbacks
    def open_here(  # type: ignore[no-untyped-def]
        self,
        cmd: OpenCommand,
        forward_once: bool = False,
        sessions: Mapping[str, str] | None = None,
        caller: str | None = None,
    ):
        """Serve the room on this worker if nobody else does (``kasagi.worker.<id>.open``);
        ``sessions``: the live sessions a graceful handover passes on; ``caller``: the member
        asking (None: the service itself)."""
        if self.stopping and cmd.room not in self.registry.runners:
            raise Unavailable(
                "this worker is stopping; retry", field="room", expected="a live worker", got=describe(cmd.room)
            )
        if cmd.room in self._unloading:
            raise Unavailable(
                "the room is being unloaded; retry", field="room", expected="a loaded room", got=describe(cmd.room)
            )
        if sessions:
            self._forget_closed()
            sessions = {s: m for s, m in sessions.items() if s not in self._recently_closed}
        try:
            info = yield self.registry.open(cmd, caller, sessions)
        except OwnedElsewhere as exc:
            if not forward_once or exc.owner is None or exc.owner == self.worker_id:
                raise
            info = yield self._forward_open(exc.owner, cmd, caller)
            return info
        runner = self.registry.runners.get(cmd.room)
        if runner is not None:
            room = runner.room
            confirmed = yield self._leases.confirm(cmd.room, self.worker_id, room.epoch, room.type.name)
            if not confirmed:
                self.log.warn("room {room}: claimed away while opening", room=cmd.room)
        return info

    def _forward_open(self, worker: str, cmd: OpenCommand, caller: str | None = None) -> Deferred[dict[str, Any]]:
        self.stats["forwards"] += 1
        d = within(
            maybeDeferred(self._forward, worker, cmd, None, caller),
            self.settings.forward_timeout,
            self._clock,
            "forwarded open",
        )

        def failed(failure: Failure) -> Failure:
            if failure.check(KasagiError):
                return failure  # the owner's own answer (unavailable, invalid type...)
            why = failure.getErrorMessage()
            return Failure(
                Unavailable(
                    "the room's worker did not answer; retry", field="room", expected="a live owner", got=why[:200]
                )
            )

        return d.addErrback(failed)

    def _alive(self, worker: str) -> bool:
        info = self.workers.get(worker)
        return info is not None and info.alive

    @inlineCallbacks
    def _claim_and_load(self, room: str):  # type: ignore[no-untyped-def]
        """The registry's ``load``: claim the room, fence out a previous owner, read it."""
        claim: Claim = yield self._leases.claim(room, self.worker_id)
        if not claim.won:
            if not claim.lease_ok:
                raise Unavailable(
                    "this worker's lease lapsed; retry", field="room", expected="a live worker", got=describe(room)
                )
            raise OwnedElsewhere(room, claim.owner)
        previous = claim.previous
        if previous is None or previous.worker != self.worker_id:
            self._to_fence[room] = previous
        stored: StoredRoom | None = yield self._store.load(room)
        if stored is None:
            self._to_fence.pop(room, None)  # a new room gets a new epoch anyway
            return None
        if room not in self._to_fence:
            return stored
        previous = self._to_fence[room]
        if previous is not None and previous.state == "handover" and previous.epoch == stored.epoch:
            # Released cleanly at this very epoch: history is intact, keep it.
            del self._to_fence[room]
            self.stats["handovers_in"] += 1
            self.log.info(
                "room {room}: taken over from {prev} at epoch {epoch} (handover)",
                room=room,
                prev=previous.worker,
                epoch=stored.epoch,
            )
            return stored
        # Fence: the registry restarts the stored room's history in a new epoch.
        return Fence(stored, lambda old, new, seq: self._fenced(room, previous, old, new, seq))

    def _fenced(self, room: str, previous: OwnerRecord | None, old: int, new: int, seq: int) -> None:
        self._to_fence.pop(room, None)
        self.stats["failovers"] += 1
        self.log.info(
            "room {room}: taken over from {prev} (epoch {old} -> {new}, seq {seq})",
            room=room,
            prev=previous.worker if previous is not None else "nobody",
            old=old,
            new=new,
            seq=seq,
        )

    def _withdrawn(self, room: str) -> Any:
        """The registry stopped serving ``room`` (lost it, or closed it)."""
        if room not in self.registry.runners:
            self.stats["rooms_lost"] += 0 if self.stopping else 1
        return self._withdraw(room)

    # -- sessions ----------------------------------------------------------------------------------
    def session_closed(self, session_id: str) -> None:
        self._recently_closed[session_id] = self._clock.seconds()
        self.registry.session_closed(session_id)

    def sessions_closed(self, prefix: str) -> None:
        """Every client session whose id starts with ``prefix`` is gone (its router was lost)."""
        now = self._clock.seconds()
        for runner in self.registry.runners.values():
            for session_id in runner.room.sessions():
                if session_id.startswith(prefix):
                    self._recently_closed[session_id] = now
        self.registry.sessions_closed(prefix)

    def _forget_closed(self) -> None:
        horizon = self._clock.seconds() - CLOSED_MEMORY
        for session_id in [s for s, t in self._recently_closed.items() if t < horizon]:
            del self._recently_closed[session_id]

    def load(self) -> dict[str, int]:
        runners = list(self.registry.runners.values())
        return {"rooms": len(runners), "sessions": sum(len(r.room.sessions()) for r in runners)}

    # -- the lease ------------------------------------------------------------------------------
    @inlineCallbacks
    def _heartbeat(self):  # type: ignore[no-untyped-def]
        try:
            beat = yield within(
                self._leases.heartbeat(self.worker_id, self.load()), self.settings.lease_ttl, self._clock, "heartbeat"
            )
        except Exception as exc:  # noqa: BLE001 -- a missed renewal is retried next beat
            self.stats["lease_failures"] += 1
            self.lease_ok = False
            self.log.warn("worker {worker}: lease renewal failed: {why}", worker=self.worker_id, why=str(exc))
            return
        self.stats["lease_renewals"] += 1
        self.lease_ok = True
        self._forget_closed()
        self.workers = beat.workers
        self._placed = {}
        if beat.lapsed and self.joined:
            self.stats["lease_lapses"] += 1
            self.log.warn(
                "worker {worker}: lease had lapsed; checking which rooms are still ours", worker=self.worker_id
            )
            yield self._recheck_rooms()
        self.joined = True
        for worker, info in beat.workers.items():
            if not info.alive and worker != self.worker_id and worker not in self._reaping and not self.stopping:
                self._reaping.add(worker)
                self._reap(worker).addBoth(self._reaped, worker)

    def _log_failure(self, failure: Failure, what: str, room: str) -> None:
        self.log.warn(what + ": {why}", room=room, why=failure.getErrorMessage())

    def _reaped(self, result: object, worker: str) -> None:
        self._reaping.discard(worker)
        if isinstance(result, Failure):
            self.log.failure("taking over the rooms of {worker} failed", result, worker=worker)

    @inlineCallbacks
    def _recheck_rooms(self):  # type: ignore[no-untyped-def]
        for room in list(self.registry.runners):
            runner = self.registry.runners.get(room)
            if runner is None:
                continue
            try:
                claim = yield self._leases.claim(room, self.worker_id)
            except Exception as exc:  # noqa: BLE001 -- checked again after the next lapse
                self.log.warn("room {room}: ownership check failed: {why}", room=room, why=str(exc))
                continue
            if claim.won and claim.previous is not None and claim.previous.worker == self.worker_id:
                continue
            self.log.warn(
                "room {room}: claimed by {owner} while our lease had lapsed; dropping our copy",
                room=room,
                owner=claim.owner or "?",
            )
            runner.stop()
            yield self.registry.close_room(room)
            if claim.won:
                self._to_fence[room] = claim.previous
                cmd = OpenCommand(room, runner.room.type.name, runner.room.type.options(), runner.room.access)
                self.open_here(cmd).addErrback(self._log_failure, "room {room}: reopen failed", room)

    @inlineCallbacks
    def _reap(self, dead: str):  # type: ignore[no-untyped-def]
        rooms = yield self._leases.reap(dead, self.worker_id)
        if rooms is None:
            return
        self.stats["reaped_workers"] += 1
        self.log.warn("worker {dead} is gone (lease expired); taking over its {n} rooms", dead=dead, n=len(rooms))
        records = yield self._leases.owners(rooms)
        sem = DeferredSemaphore(self.settings.reap_concurrency)
        todo = [r for r in rooms if _orphan_of(records.get(r), dead)]
        results = yield DeferredList([sem.run(self._adopt, room, records[room]) for room in todo], consumeErrors=True)
        failed = [value for ok, value in results if not ok]
        for failure in failed:
            self.log.warn("taking over a room of {dead} failed: {why}", dead=dead, why=failure.getErrorMessage())
        if not failed:
            yield self._leases.forget(dead)

    def _adopt(self, room: str, record: OwnerRecord | None) -> Deferred[Any]:
        assert record is not None
        cmd = OpenCommand(room, record.type, {})
        target = choose_worker(self.workers, self.worker_id, self._rng, self._placed)
        self._placed[target] = self._placed.get(target, 0.0) + 1
        if target == self.worker_id:
            return self._open_adopted(cmd)
        d = self._forward_open(target, cmd)
        return d.addErrback(lambda _: self._open_adopted(cmd))

    def _open_adopted(self, cmd: OpenCommand) -> Deferred[Any]:
        d = self.open_here(cmd)

        def owned_elsewhere(failure: Failure) -> None:
            failure.trap(OwnedElsewhere)  # someone else adopted it first: fine

        return d.addErrback(owned_elsewhere)


def _orphan_of(record: OwnerRecord | None, dead: str) -> bool:
    """A room the dead worker still owns and has served (its type is known)."""
    return record is not None and record.worker == dead and record.state == "owned" and bool(record.type)
