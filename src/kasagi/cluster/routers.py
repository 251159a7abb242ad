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

The procedures are the room procedures of every deployment
(:class:`~kasagi.wamp.procedures.RoomProcedures`), plus ``kasagi.worker.<id>.open`` (this
worker only: another worker's forwarded open) and the forwarding itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from autobahn.twisted.wamp import Session
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallDetails
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from kasagi import wire
from kasagi.cluster.rooms import ClusterRooms
from kasagi.core.access import stored_options
from kasagi.core.commands import OpenCommand
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
from kasagi.lobby.service import Lobby
from kasagi.service.settings import ServiceSettings
from kasagi.wamp.procedures import RoomProcedures, RoomSource
from kasagi.wamp.session import ScreenedSession

__all__ = ["WorkerProcedures", "WorkerSession", "domain_error"]

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


class WorkerProcedures(RoomProcedures):
    """The room procedures of a cluster worker on its routers (see the module docstring)."""

    def __init__(
        self,
        worker_id: str,
        *,
        clock: IReactorTime,
        settings: ServiceSettings | None = None,
        refused: Callable[[str], None] | None = None,
        lobby: Lobby | None = None,
    ) -> None:
        # Every worker hears every input: the room's owner answers it, the others leave it.
        super().__init__(clock=clock, settings=settings, refused=refused, shared_inputs=True, lobby=lobby)
        self.worker_id = worker_id

    def serve(self, rooms: RoomSource) -> None:
        if not isinstance(rooms, ClusterRooms):
            raise TypeError("a worker serves the rooms of a cluster (ClusterRooms)")
        super().serve(rooms)

    @property
    def cluster(self) -> ClusterRooms:
        rooms = self.rooms
        assert isinstance(rooms, ClusterRooms)
        return rooms

    def own_procedures(self) -> Mapping[str, Callable[..., Any]]:
        return {wire.worker_procedure(self.worker_id, "open"): self._open_here}

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
        return self.cluster.open_here(cmd, sessions=sessions, caller=caller)


class WorkerSession(ScreenedSession, Session):
    """A worker's session to a router (Autobahn's Component session, screened)."""


def _to_domain_error(failure: Failure) -> Failure:
    if failure.check(ApplicationError):
        return Failure(domain_error(failure.value))  # type: ignore[arg-type]
    return failure
