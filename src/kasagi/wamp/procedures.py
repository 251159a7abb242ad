"""The room procedures, once for every deployment: what a room service registers, subscribes
to and publishes on its sessions to the routers.

One :class:`RoomProcedures` serves the rooms of one process on one or more router sessions
(*links*, each named). The single-node room service has one link, named ``""``; a cluster
worker has one per router, named by the router's backend URL. A link's name namespaces the
client sessions it reports (``<name>#<session id>``): two routers may hand out the same id.

On every link: ``kasagi.lobby.open``, ``kasagi.lobby.list``, ``kasagi.lobby.match`` and
``kasagi.backend.room_access`` (shared, round robin; the lobby's procedures when the process
has a :class:`~kasagi.lobby.Lobby`),
the wildcard fallbacks of the rooms' procedures (calls to rooms nobody registered land there,
and are served when the room is open here), the link's own procedures (a worker's
``kasagi.worker.<id>.open``), the session leaves and the fast input path; and for every room
served here its ``join``/``act``/``leave``, registered with ``invoke="last"`` so that a new
owner takes the calls at once even while an old one still holds its registration.

With an admin surface (:attr:`RoomProcedures.admin`, :mod:`kasagi.wamp.admin`), its
``kasagi.admin.<process>.*`` procedures are registered on every link too, and every join is
reported to its watch.

With a table of local calls (:class:`~kasagi.wamp.local_calls.LocalCalls`, the single node's
room service inside the router worker), each room's ``act`` is also put in that table once it
is registered on the link named ``""``, so that the router session reading a client's call of
it calls it directly; it leaves the table when the room is unregistered or the link is lost.

A private room's events are published to its members only (``eligible_authid``), in addition
to the router's client authorizer refusing other members' subscriptions. In a room with
private state (``docs/protocol.md``, Private state) an event may come in several forms: the
public one goes to everyone but the members with a form of their own (``exclude_authid``,
within a private room's ``eligible_authid``), and each of those gets its own alone
(``eligible_authid=[member]``).

Where the rooms come from is a :class:`RoomSource`: a :class:`~kasagi.service.RoomRegistry`
(a single node) or a :class:`~kasagi.cluster.rooms.ClusterRooms` (a worker).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from autobahn.wamp.types import CallDetails, EventDetails, PublishOptions, RegisterOptions, SubscribeOptions
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from kasagi import wire
from kasagi.core.commands import AccessQuery, ActCommand, JoinCommand, LeaveCommand, OpenCommand, parse_room_id
from kasagi.core.errors import NoSuchRoom
from kasagi.core.views import Audience
from kasagi.deadline import within
from kasagi.service.runner import RoomRunner
from kasagi.service.settings import ServiceSettings
from kasagi.wamp.edge import caller_member, caller_session, wamp_errors
from kasagi.wamp.inputs import handle_input
from kasagi.wamp.refusals import counting_refusals

if TYPE_CHECKING:
    from kasagi.core.roomtypes import RoomType
    from kasagi.lobby.service import Lobby
    from kasagi.wamp.admin import RoomAdmin
    from kasagi.wamp.local_calls import LocalCalls

__all__ = ["WAMP_DEADLINE", "RoomProcedures", "RoomSource"]

#: Seconds a registration or subscription with the router may take (an Autobahn request in
#: flight when the transport drops never completes by itself).
WAMP_DEADLINE = 10.0

#: The link whose router runs in this process (a single node's): its rooms' ``act`` may be
#: called directly through the local calls table.
LOCAL_LINK = ""

#: The procedures every room has (``kasagi.room.<room>.<verb>``).
ROOM_PROCEDURES = ("join", "act", "leave")


class RoomSource(Protocol):
    """The rooms a process serves, as the procedures need them."""

    @property
    def runners(self) -> Mapping[str, RoomRunner]:
        """The live rooms served here."""

    def runner(self, room: str) -> RoomRunner:
        """The live runner of ``room``; a domain error when it is not served here (or loading)."""

    @property
    def types(self) -> Mapping[str, type[RoomType]]:
        """The room types served, by name."""

    def open(self, cmd: OpenCommand, caller: str | None = None) -> Deferred[dict[str, Any]]:
        """``kasagi.lobby.open`` for ``caller``."""

    def access(self, room: str) -> Deferred[dict[str, Any]]:
        """Who may read ``room``."""

    def session_closed(self, session_id: str) -> None:
        """A client session ended."""

    def sessions_closed(self, prefix: str) -> None:
        """Every client session whose id starts with ``prefix`` ended."""


class _Link:
    """One session to one router, and what this process registered on it."""

    def __init__(self, name: str, session: Any) -> None:
        self.name = name
        self.session = session
        #: URI -> registration (one that completed after its deadline counts too).
        self.registered: dict[str, Any] = {}
        #: Rooms whose procedures are registered (or being registered) on this link.
        self.rooms: set[str] = set()


class RoomProcedures:
    """The room procedures of one process on its router sessions (see the module docstring).

    ``shared_inputs``: other processes hear the same inputs (a cluster), so inputs to rooms
    not served here are left to their owner unanswered. A subclass adds procedures of its own
    with :meth:`own_procedures`.
    """

    log = Logger()

    def __init__(
        self,
        *,
        clock: IReactorTime,
        settings: ServiceSettings | None = None,
        refused: Callable[[str], None] | None = None,
        shared_inputs: bool = False,
        lobby: Lobby | None = None,
        local_calls: LocalCalls | None = None,
    ) -> None:
        self._clock = clock
        #: Procedures the router of :data:`LOCAL_LINK` may call directly (None: none).
        self._local_calls = local_calls
        #: Listings and matchmaking (None: no lobby procedures).
        self.lobby = lobby
        if lobby is not None:
            lobby.set_publish(self.publish)
        self._settings = settings or ServiceSettings()
        self._limits = self._settings.value_limits()
        self._refused = refused
        self._shared_inputs = shared_inputs
        self._rooms: RoomSource | None = None
        #: link name -> its session
        self.sessions: dict[str, Any] = {}
        self._links: dict[str, _Link] = {}
        self._publish_options = PublishOptions(acknowledge=False)
        #: topic -> options of a private room (its members only).
        self._private_publish: dict[str, PublishOptions] = {}
        self.stats = {"published": 0, "publish_failures": 0, "router_joins": 0, "router_losses": 0}
        #: The admin surface of this process (None: no monitor procedures).
        self.admin: RoomAdmin | None = None

    def serve(self, rooms: RoomSource) -> None:
        self._rooms = rooms

    @property
    def rooms(self) -> RoomSource:
        if self._rooms is None:
            raise RuntimeError("RoomProcedures.serve() was not called")
        return self._rooms

    def own_procedures(self) -> Mapping[str, Callable[..., Any]]:
        """URI -> procedure registered on every link for this process alone (none here)."""
        return {}

    # -- links -----------------------------------------------------------------------------------
    @inlineCallbacks
    def attach(self, name: str, session: Any):  # type: ignore[no-untyped-def]
        """A session to a router joined: register everything on it."""
        self.sessions[name] = session
        link = self._links[name] = _Link(name, session)
        shared = RegisterOptions(invoke="roundrobin", details_arg="details")
        yield self._register(link, wamp_errors(self._counted(self._open)), wire.LOBBY_OPEN, shared)
        yield self._register(link, wamp_errors(self._access), wire.ROOM_ACCESS, shared)
        if self.lobby is not None:
            yield self._register(link, wamp_errors(self._counted(self._list)), wire.LOBBY_LIST, shared)
            yield self._register(link, wamp_errors(self._counted(self._match)), wire.LOBBY_MATCH, shared)
        fallback = RegisterOptions(match="wildcard", invoke="roundrobin", details_arg="details")
        for verb in wire.ROOM_VERBS:
            unknown = wamp_errors(self._counted(_on_link_call(self._unknown_room, name)))
            yield self._register(link, unknown, wire.room_wildcard(verb), fallback)
        for uri, procedure in self.own_procedures().items():
            yield self._register(link, wamp_errors(procedure), uri, RegisterOptions(details_arg="details"))
        if self.admin is not None:
            for uri, procedure in self.admin.procedures().items():
                yield self._register(link, wamp_errors(procedure), uri, RegisterOptions(details_arg="details"))
        leaving = session.subscribe(_on_link(self._session_left, name), wire.META_SESSION_ON_LEAVE)
        yield within(leaving, WAMP_DEADLINE, self._clock, "subscribe to session leaves")
        # The fast input path: every process hears every input on this router (see _input).
        inputs = SubscribeOptions(match="prefix", details_arg="details")
        hearing = session.subscribe(_on_link(self._input, name), wire.INPUT_PREFIX, inputs)
        yield within(hearing, WAMP_DEADLINE, self._clock, "subscribe to the input topics")
        rooms = list(self.rooms.runners)
        yield DeferredList([self._register_room(name, room) for room in rooms], consumeErrors=True)
        self.stats["router_joins"] += 1
        self.log.info("joined router {router} ({n} rooms registered)", router=name or "(this node)", n=len(rooms))

    def detach(self, name: str) -> None:
        """The session to a router is gone: so are its clients, for this process."""
        if self.sessions.pop(name, None) is None:
            return
        link = self._links.pop(name, None)
        if link is not None:
            for room in link.rooms:
                self._local_withdraw(name, room)
        self.stats["router_losses"] += 1
        self.rooms.sessions_closed(_session_id(name, ""))
        self.log.warn("lost router {router}", router=name or "(this node)")

    def stop_taking_calls(self) -> Deferred[Any]:
        """Unregister the lobby, the fallbacks and the own procedures everywhere (a graceful
        stop begins); the rooms' own procedures stay until each room is handed over."""
        shared = [wire.LOBBY_OPEN, wire.ROOM_ACCESS, *map(wire.room_wildcard, wire.ROOM_VERBS), *self.own_procedures()]
        if self.lobby is not None:
            shared += [wire.LOBBY_LIST, wire.LOBBY_MATCH]
        ds = [_unregister(link.registered.pop(uri, None)) for link in self._links.values() for uri in shared]
        return DeferredList(ds, consumeErrors=True)

    # -- what the rooms need -------------------------------------------------------------------
    def publish(self, topic: str, event: dict[str, Any], audience: Audience | None = None) -> None:
        """Publish on every link (a private room's events to its members only; ``audience``:
        one member's form of an event, or the public form with those members left out)."""
        options = self._options(topic, audience)
        if options is None:
            return
        for name, session in list(self.sessions.items()):
            try:
                session.publish(topic, event, options=options)
                self.stats["published"] += 1
            except Exception as exc:  # noqa: BLE001 -- clients of that router catch up by seq
                self.stats["publish_failures"] += 1
                self.log.warn("publish to {router} failed: {why}", router=name or "(this node)", why=str(exc))

    def _options(self, topic: str, audience: Audience | None) -> PublishOptions | None:
        """The publish options of ``topic`` for ``audience``; None: nobody may receive it."""
        private = self._private_publish.get(topic)
        if audience is None:
            return private or self._publish_options
        eligible = private.eligible_authid if private is not None else None
        members = [eligible] if isinstance(eligible, str) else eligible
        if audience.only is not None:
            if members is not None and audience.only not in members:
                return None  # not a member of the private room: its subscription is refused anyway
            return PublishOptions(acknowledge=False, eligible_authid=[audience.only])
        if not audience.exclude:
            return private or self._publish_options
        return PublishOptions(acknowledge=False, eligible_authid=members, exclude_authid=list(audience.exclude))

    def publish_admin(self, topic: str, payload: dict[str, Any]) -> None:
        """Publish an admin summary on every link (not counted as a room's event)."""
        for session in list(self.sessions.values()):
            session.publish(topic, payload, options=self._publish_options)

    def expose(self, room: str) -> Deferred[Any]:
        """Register the room's procedures on every link."""
        runner = self.rooms.runners.get(room)
        members = runner.room.access.to_wire() if runner is not None else None
        if members is not None:
            self._private_publish[wire.room_topic(room)] = PublishOptions(acknowledge=False, eligible_authid=members)
        return DeferredList([self._register_room(name, room) for name in list(self._links)], consumeErrors=True)

    def withdraw(self, room: str) -> Deferred[Any]:
        """Unregister the room's procedures everywhere."""
        self._private_publish.pop(wire.room_topic(room), None)
        ds: list[Deferred[Any]] = []
        for link in self._links.values():
            ds.extend(self._unregister_room(link, room))
        return DeferredList(ds, consumeErrors=True)

    # -- registering -----------------------------------------------------------------------------
    def _register(self, link: _Link, fn: Any, uri: str, options: RegisterOptions) -> Deferred[Any]:
        """Register within a deadline; a registration that completes after it still counts
        (it is remembered, so a retry does not register twice)."""
        if uri in link.registered:
            return succeed(link.registered[uri])
        d: Deferred[Any] = link.session.register(fn, uri, options)

        def remember(registration: Any) -> Any:
            link.registered[uri] = registration
            return registration

        d.addCallback(remember)
        return within(d, WAMP_DEADLINE, self._clock, f"register {uri}")

    @inlineCallbacks
    def _register_room(self, name: str, room: str):  # type: ignore[no-untyped-def]
        link = self._links.get(name)
        if link is None or room in link.rooms:
            return
        link.rooms.add(room)
        options = RegisterOptions(details_arg="details", invoke="last")
        handlers = {"join": self._join, "act": self._act, "leave": self._leave}
        try:
            for verb in ROOM_PROCEDURES:
                bound = wamp_errors(self._counted(_on_room(handlers[verb], name, room)))
                yield self._register(link, bound, wire.room_procedure(room, verb), options)
                if verb == "act" and name == LOCAL_LINK and self._local_calls is not None and room in link.rooms:
                    self._local_calls.add(wire.room_procedure(room, verb), bound)
        except Exception as exc:  # noqa: BLE001 -- the fallback serves it; registered again on a rejoin
            self.log.warn(
                "room {room}: register on {router} failed: {why}", room=room, router=name or "(this node)", why=exc
            )
            self._unregister_room(link, room)
        if room not in self.rooms.runners and room in link.rooms:
            self._unregister_room(link, room)  # withdrawn while we were registering

    def _unregister_room(self, link: _Link, room: str) -> list[Deferred[Any]]:
        link.rooms.discard(room)
        self._local_withdraw(link.name, room)
        return [_unregister(link.registered.pop(wire.room_procedure(room, verb), None)) for verb in ROOM_PROCEDURES]

    def _local_withdraw(self, name: str, room: str) -> None:
        if name == LOCAL_LINK and self._local_calls is not None:
            self._local_calls.remove(wire.room_procedure(room, "act"))

    def _counted(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return counting_refusals(fn, self._refused)

    # -- procedures ------------------------------------------------------------------------------
    # Client arguments travel as one tuple and one dict from here on: a client keyword that
    # happens to be named like a parameter (``room``, ``router``) can't collide with it.
    def _open(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        member = caller_member(details)
        cmd = OpenCommand.from_wamp(args, kwargs, self._limits, self._settings.max_members)
        if self.lobby is not None:
            self.lobby.check_open(member)
        return self.rooms.open(cmd, member)

    def _list(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        from kasagi.lobby.queries import ListQuery

        caller_member(details)
        assert self.lobby is not None
        return self.lobby.list(ListQuery.from_wamp(args, kwargs, self.rooms.types))

    def _match(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        from kasagi.lobby.queries import MatchQuery

        member = caller_member(details)
        assert self.lobby is not None
        query = MatchQuery.from_wamp(args, kwargs, self.rooms.types)
        return self.lobby.match(query, member, self.rooms.types[query.type], self.rooms.open)

    def _access(self, *args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return self.rooms.access(AccessQuery.from_wamp(args, kwargs).room)

    def _join(self, link: str, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        member = caller_member(details)
        cmd = JoinCommand.from_wamp(args, kwargs)
        if self.admin is not None:
            self.admin.watch.member_joined(room, member)
        return self.rooms.runner(room).join(member, _session_id(link, caller_session(details)), cmd)

    def _act(self, link: str, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        member = caller_member(details)
        runner = self.rooms.runner(room)
        runner.admit()  # refused before parsing when the process is past its capacity
        return runner.act(member, ActCommand.from_wamp(args, kwargs, self._limits), admitted=True)

    def _leave(self, link: str, room: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        member = caller_member(details)
        LeaveCommand.from_wamp(args, kwargs)
        return self.rooms.runner(room).leave(member, _session_id(link, caller_session(details)))

    def _unknown_room(self, link: str, args: tuple[Any, ...], kwargs: dict[str, Any], details: CallDetails) -> Any:
        """Calls to rooms nobody registered on this router land here (a wildcard registration)."""
        procedure = details.procedure or ""
        room = procedure[len(wire.ROOM_PREFIX) :].rpartition(".")[0]
        parse_room_id(room)
        caller_member(details)
        verb = procedure.rpartition(".")[2]
        handlers = {"join": self._join, "act": self._act, "leave": self._leave}
        if room in self.rooms.runners and verb in handlers:
            return handlers[verb](link, room, args, kwargs, details)
        self.rooms.runner(room)  # raises Unavailable while loading
        raise NoSuchRoom(
            "the room is not open; call kasagi.lobby.open first", field="room", expected="an open room", got=room
        )

    def _input(self, link: str, *args: Any, details: EventDetails, **kwargs: Any) -> None:
        def reply(room: str, session: int, payload: dict[str, Any]) -> None:
            target = self.sessions.get(link)
            if target is not None:
                options = PublishOptions(acknowledge=False, eligible=[session])
                target.publish(wire.room_topic(room), reply=payload, options=options)

        # With shared inputs, rooms of other processes are theirs to answer.
        runner_for = self.rooms.runners.get if self._shared_inputs else self.rooms.runner
        handle_input(args, kwargs, details, runner_for=runner_for, limits=self._limits, reply=reply)

    def _session_left(self, link: str, session_id: Any, *args: Any, **kwargs: Any) -> None:
        self.rooms.session_closed(_session_id(link, str(session_id)))


def _session_id(link: str, session: str) -> str:
    """A client session's id in this process: namespaced by its link's name, if it has one."""
    return f"{link}#{session}" if link else session


def _on_link(handler: Callable[..., Any], link: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return handler(link, *args, **kwargs)

    return call


def _on_link_call(handler: Callable[..., Any], link: str) -> Callable[..., Any]:
    """A procedure of ``link``: the client's arguments travel as one tuple and one dict."""

    def call(*args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return handler(link, args, kwargs, details)

    return call


def _on_room(handler: Callable[..., Any], link: str, room: str) -> Callable[..., Any]:
    def call(*args: Any, details: CallDetails, **kwargs: Any) -> Any:
        return handler(link, room, args, kwargs, details)

    return call


def _unregister(registration: Any) -> Deferred[Any]:
    if not getattr(registration, "active", False):
        return succeed(None)
    try:
        d = registration.unregister()
    except Exception as exc:  # noqa: BLE001 -- the session is gone: so is the registration
        return succeed(exc)
    return d.addErrback(lambda f: None)  # type: ignore[no-any-return]
