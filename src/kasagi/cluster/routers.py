"""A worker's WAMP sessions, one to every router: what it registers and publishes goes to all.

Many routers work without any router-to-router traffic: every worker joins every router, so
a client on any router calls the room's owner directly (one hop) and receives the owner's
events from its own router. The owner publishes each event once per router; each router
fans it out to its own subscribers only. Presence stays exact because each router tells the
worker about the sessions it holds (``wamp.session.on_leave``), and losing a router's
session closes every client session of that router at once.

Client session ids are namespaced by router (``<router>#<session id>``, the router named by
its backend URL): two routers may hand out the same id. Every worker must therefore list the
routers by the same URLs, so that a graceful handover can pass the room's live sessions on.

On every session: ``kasagi.lobby.open`` and the wildcard fallbacks (shared, round robin over
the workers), ``kasagi.worker.<id>.open`` (this worker only), and the procedures of every
room this worker owns, registered with ``invoke="last"`` so that a new owner takes the calls
at once even while a paused old owner still holds its registration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from autobahn.twisted.wamp import Session
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallDetails, EventDetails, PublishOptions, RegisterOptions, SubscribeOptions
from twisted.internet.defer import Deferred, DeferredList, fail, inlineCallbacks, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi import wire
from kasagi.cluster.rooms import ClusterRooms
from kasagi.core.access import stored_options
from kasagi.core.commands import AccessQuery, ActCommand, JoinCommand, LeaveCommand, OpenCommand, parse_room_id
from kasagi.core.errors import (
    Full,
    InvalidArgument,
    KasagiError,
    NoSuchRoom,
    NotAuthorized,
    NotMember,
    RateLimited,
    Rejected,
    Unavailable,
)
from kasagi.service.settings import ServiceSettings
from kasagi.wamp import caller_member, caller_session, screen_invocation, wamp_errors
from kasagi.wamp.inputs import handle_input
from kasagi.wamp.refusals import counting_refusals

__all__ = ["RouterSessions", "WorkerSession", "domain_error"]

_DOMAIN_ERRORS: dict[str, type[KasagiError]] = {
    cls.uri: cls
    for cls in (InvalidArgument, Rejected, NotMember, NoSuchRoom, RateLimited, Full, Unavailable, NotAuthorized)
}


def domain_error(exc: ApplicationError) -> KasagiError:
    """The domain error a forwarded call failed with (anything else: unavailable, retry)."""
    kwargs = dict(exc.kwargs or {})
    cls = _DOMAIN_ERRORS.get(exc.error)
    message = str(exc.args[0]) if exc.args else exc.error
    if cls is None:
        return Unavailable(
            "the room's worker did not answer; retry", field="room", expected="a live owner", got=exc.error
        )
    return cls(message, field=kwargs.get("field"), expected=kwargs.get("expected"), got=kwargs.get("got"))


class RouterSessions:
    """The sessions of one worker to its routers (see the module docstring)."""

    log = Logger()

    def __init__(
        self,
        worker_id: str,
        refused: Callable[[str], None] | None = None,
        settings: ServiceSettings | None = None,
    ) -> None:
        self.worker_id = worker_id
        self._refused = refused
        self._settings = settings or ServiceSettings()
        self._limits = self._settings.value_limits()
        #: topic -> options of a private room (its members only).
        self._private_publish: dict[str, PublishOptions] = {}
        self.sessions: dict[str, Any] = {}
        self._rooms: ClusterRooms | None = None
        #: router -> room -> the room's registrations on that router
        self._registrations: dict[str, dict[str, list[Any]]] = {}
        self._shared: dict[str, list[Any]] = {}
        self._publish_options = PublishOptions(acknowledge=False)
        self.stats = {"published": 0, "publish_failures": 0, "router_joins": 0, "router_losses": 0}

    def serve(self, rooms: ClusterRooms) -> None:
        self._rooms = rooms

    @property
    def rooms(self) -> ClusterRooms:
        if self._rooms is None:
            raise RuntimeError("RouterSessions.serve() was not called")
        return self._rooms

    # -- sessions --------------------------------------------------------------------------------
    @inlineCallbacks
    def attach(self, router: str, session: Any):  # type: ignore[no-untyped-def]
        """A session to ``router`` joined: register everything on it."""
        self.sessions[router] = session
        self._registrations[router] = {}
        shared = RegisterOptions(invoke="roundrobin", details_arg="details")
        fallback = RegisterOptions(match="wildcard", invoke="roundrobin", details_arg="details")
        regs = [(yield session.register(wamp_errors(self._counted(self._lobby_open)), wire.LOBBY_OPEN, shared))]
        regs.append((yield session.register(wamp_errors(self._access), wire.ROOM_ACCESS, shared)))
        for verb in wire.ROOM_VERBS:
            handler = wamp_errors(self._counted(_on_router_call(self._unknown_room, router)))
            regs.append((yield session.register(handler, wire.room_wildcard(verb), fallback)))
        own = RegisterOptions(details_arg="details")
        regs.append(
            (yield session.register(wamp_errors(self._open_here), wire.worker_procedure(self.worker_id, "open"), own))
        )
        self._shared[router] = regs
        yield session.subscribe(_on_router(self._session_left, router), wire.META_SESSION_ON_LEAVE)
        # The fast input path: every worker hears every input on this router; the room's owner
        # applies it and answers on this router, the others leave it (see _input).
        inputs = SubscribeOptions(match="prefix", details_arg="details")
        yield session.subscribe(_on_router(self._input, router), wire.INPUT_PREFIX, inputs)
        rooms = list(self.rooms.registry.runners)
        yield DeferredList([self._register_room(router, session, room) for room in rooms], consumeErrors=True)
        self.stats["router_joins"] += 1
        self.log.info(
            "worker {worker} joined router {router} ({n} rooms registered)",
            worker=self.worker_id,
            router=router,
            n=len(rooms),
        )

    def detach(self, router: str) -> None:
        """The session to ``router`` is gone: its clients are gone for this worker too."""
        if self.sessions.pop(router, None) is None:
            return
        self._registrations.pop(router, None)
        self._shared.pop(router, None)
        self.stats["router_losses"] += 1
        self.rooms.sessions_closed(router + "#")
        self.log.warn("worker {worker} lost router {router}", worker=self.worker_id, router=router)

    def stop_taking_calls(self) -> Deferred[Any]:
        """Unregister the lobby and the fallbacks everywhere (a graceful stop begins)."""
        ds: list[Deferred[Any]] = []
        for regs in self._shared.values():
            ds.extend(_unregister(reg) for reg in regs)
        self._shared = {}
        return DeferredList(ds, consumeErrors=True)

    # -- what ClusterRooms needs ----------------------------------------------------------------
    def publish(self, topic: str, event: dict[str, Any]) -> None:
        options = self._private_publish.get(topic, self._publish_options)
        for router, session in list(self.sessions.items()):
            try:
                session.publish(topic, event, options=options)
                self.stats["published"] += 1
            except Exception as exc:  # noqa: BLE001 -- clients of that router catch up by seq
                self.stats["publish_failures"] += 1
                self.log.warn("publish to {router} failed: {why}", router=router, why=str(exc))

    def expose(self, room: str) -> Deferred[Any]:
        runner = self.rooms.registry.runners.get(room)
        members = runner.room.access.to_wire() if runner is not None else None
        if members is not None:
            # A private room's events go to its members only.
            self._private_publish[wire.room_topic(room)] = PublishOptions(acknowledge=False, eligible_authid=members)
        ds = [self._register_room(router, session, room) for router, session in list(self.sessions.items())]
        return DeferredList(ds, consumeErrors=True)

    def withdraw(self, room: str) -> Deferred[Any]:
        ds: list[Deferred[Any]] = []
        for rooms in self._registrations.values():
            ds.extend(_unregister(reg) for reg in rooms.pop(room, []))
        return DeferredList(ds, consumeErrors=True)

    def forward(
        self, worker: str, cmd: OpenCommand, sessions: Mapping[str, str] | None = None, caller: str | None = None
    ) -> Deferred[dict[str, Any]]:
        """Ask ``worker`` (through any router) to serve ``cmd.room`` for ``caller`` (with
        ``sessions``)."""
        extra: dict[str, Any] = {}
        if sessions:
            extra["sessions"] = dict(sessions)
        if caller is not None:
            extra["caller"] = caller
        options = stored_options(cmd.options, cmd.access) if cmd.access is not None else cmd.options
        for session in list(self.sessions.values()):
            if session.is_attached():
                d = session.call(wire.worker_procedure(worker, "open"), cmd.room, cmd.type, options, **extra)
                return d.addErrback(_to_domain_error)  # type: ignore[no-any-return]
        return fail(
            Unavailable("this worker has no router session; retry", field="router", expected="a session", got="none")
        )

    @inlineCallbacks
    def _register_room(self, router: str, session: Any, room: str):  # type: ignore[no-untyped-def]
        rooms = self._registrations.get(router)
        if rooms is None or room in rooms:
            return
        rooms[room] = []
        options = RegisterOptions(details_arg="details", invoke="last")
        try:
            for verb, handler in (("join", self._join), ("act", self._act), ("leave", self._leave)):
                bound = wamp_errors(self._counted(_on_room(handler, router, room)))
                rooms[room].append((yield session.register(bound, wire.room_procedure(room, verb), options)))
        except Exception as exc:  # noqa: BLE001 -- registered again when the router comes back
            self.log.warn("room {room}: register on {router} failed: {why}", room=room, router=router, why=str(exc))
            for reg in rooms.pop(room, []):
                _unregister(reg)
        if room not in self.rooms.registry.runners and room in rooms:
            # Withdrawn while we were registering.
            for reg in rooms.pop(room, []):
                _unregister(reg)

    # -- procedures ------------------------------------------------------------------------------
    def _counted(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return counting_refusals(fn, self._refused)

    # Client arguments travel as one tuple and one dict from here on: a client keyword that
    # happens to be named like a parameter (``room``) can't collide with it.
    def _lobby_open(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        member = caller_member(details)
        cmd = OpenCommand.from_wamp(args, kwargs, self._limits, self._settings.max_members)
        return self.rooms.open(cmd, member)

    def _access(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return self.rooms.registry.access(AccessQuery.from_wamp(args, kwargs).room)

    def _open_here(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        """Another worker's forwarded open (backend only: clients may not call it)."""
        sessions = kwargs.pop("sessions", None)
        caller = kwargs.pop("caller", None)
        if sessions is not None and not (
            isinstance(sessions, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in sessions.items())
        ):
            raise InvalidArgument(
                "sessions must map session ids to members", field="sessions", expected="a map", got="other"
            )
        if caller is not None and not isinstance(caller, str):
            raise InvalidArgument("caller must be a member id", field="caller", expected="a string", got="other")
        cmd = OpenCommand.from_wamp(args, kwargs, self._limits, self._settings.max_members)
        return self.rooms.open_here(cmd, sessions=sessions, caller=caller)

    def _join(self, router: str, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        member = caller_member(details)
        cmd = JoinCommand.from_wamp(args, kwargs)
        return self.rooms.runner(room).join(member, f"{router}#{caller_session(details)}", cmd)

    def _act(self, router: str, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        member = caller_member(details)
        return self.rooms.runner(room).act(member, ActCommand.from_wamp(args, kwargs, self._limits))

    def _leave(
        self, router: str, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails
    ) -> Any:
        member = caller_member(details)
        LeaveCommand.from_wamp(args, kwargs)
        return self.rooms.runner(room).leave(member, f"{router}#{caller_session(details)}")

    def _unknown_room(self, router: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        """Calls to rooms nobody registered on this router land here."""
        procedure = details.procedure or ""
        room = procedure[len(wire.ROOM_PREFIX) :].rpartition(".")[0]
        parse_room_id(room)
        caller_member(details)
        verb = procedure.rpartition(".")[2]
        handlers = {"join": self._join, "act": self._act, "leave": self._leave}
        if room in self.rooms.registry.runners and verb in handlers:
            return handlers[verb](router, room, args, kwargs, details)
        self.rooms.runner(room)  # raises Unavailable while loading
        raise NoSuchRoom(
            "the room is not open; call kasagi.lobby.open first", field="room", expected="an open room", got=room
        )

    def _input(self, router: str, *args: Any, details: EventDetails, **kwargs: Any) -> None:
        def reply(room: str, session: int, payload: dict[str, Any]) -> None:
            target = self.sessions.get(router)
            if target is not None:
                options = PublishOptions(acknowledge=False, eligible=[session])
                target.publish(wire.room_topic(room), reply=payload, options=options)

        # Rooms of other workers are theirs to answer: only this worker's runners take inputs.
        handle_input(
            args, kwargs, details, runner_for=self.rooms.registry.runners.get, limits=self._limits, reply=reply
        )

    def _session_left(self, router: str, session_id: Any, *args: Any, **kwargs: Any) -> None:
        self.rooms.session_closed(f"{router}#{session_id}")


def _on_router(handler: Callable[..., Any], router: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return handler(router, *args, **kwargs)

    return call


def _on_router_call(handler: Callable[..., Any], router: str) -> Callable[..., Any]:
    """A procedure of ``router``: the client's arguments travel as one tuple and one dict, so
    a keyword named like a parameter (``router=``) can't collide with it."""

    def call(*args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return handler(router, args, kwargs, details)

    return call


def _on_room(handler: Callable[..., Any], router: str, room: str) -> Callable[..., Any]:
    def call(*args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return handler(router, room, args, kwargs, details)

    return call


class WorkerSession(Session):
    """A worker's session to a router: invocations Autobahn can't dispatch safely (reserved
    keyword names, a forged ``forward_for``) are refused before they reach a procedure."""

    def onMessage(self, msg: Any) -> None:
        refusal = screen_invocation(msg)
        if refusal is not None:
            if self._transport is not None:
                self._transport.send(refusal)
            return
        super().onMessage(msg)


def _unregister(registration: Any) -> Deferred[Any]:
    if not getattr(registration, "active", False):
        return succeed(None)
    try:
        d = registration.unregister()
    except Exception as exc:  # noqa: BLE001 -- the session is gone: so is the registration
        return succeed(exc)
    return d.addErrback(lambda f: None)  # type: ignore[no-any-return]


def _to_domain_error(failure: Failure) -> Failure:
    if failure.check(ApplicationError):
        return Failure(domain_error(failure.value))  # type: ignore[arg-type]
    return failure
