"""The admin surface of one room-service process: what the monitor (``/monitor``) reads and
the changes it makes (``docs/monitor.md``).

- ``kasagi.admin.summary`` (topic): about once a second, this process's summary
  (:class:`~kasagi.service.inspect.ProcessSummary`: health, rooms, lagging members);
- ``kasagi.admin.<process>.inspect(room)``: one room's inside
  (:func:`~kasagi.service.inspect.inspect_room`);
- ``kasagi.admin.<process>.remove(room, member)``: end a member's presence now;
- ``kasagi.admin.<process>.close(room, reason)``: end everyone's, then stop serving the room.

The router permits ``kasagi.admin.*`` to the ``admin`` role alone (and the backend's
registrations and publishes); every procedure checks the disclosed role again. Changes go
through the room's runner like an action -- sequenced, durable, published -- and each is
written to the log with the admin who made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from autobahn.wamp.types import CallDetails
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kasagi import wire
from kasagi.core.commands import AdminCloseCommand, AdminRemoveCommand, InspectCommand
from kasagi.service.inspect import ProcessSummary, RoomWatch, inspect_room
from kasagi.service.runner import RoomRunner
from kasagi.wamp.edge import caller_admin

__all__ = ["NODE_PROCESS", "SUMMARY_EVERY", "RoomAdmin"]

#: Seconds between two summaries.
SUMMARY_EVERY = 1.0
#: The process id of a single node's room service (a cluster worker's is its worker id).
NODE_PROCESS = "node"


class RoomAdmin:
    """The admin procedures and the summary of one process (see the module docstring).

    ``runner(room)`` is the live runner of a room served here (a domain error otherwise);
    ``close_room(room)`` stops serving it once what was accepted is committed; ``publish``
    sends the summary on every router link.
    """

    log = Logger()

    @classmethod
    def for_process(
        cls,
        *,
        process: str,
        kind: str,
        runners: Callable[[], Mapping[str, RoomRunner]],
        runner: Callable[[str], RoomRunner],
        close_room: Callable[[str], Deferred[Any]],
        links: Callable[[], int],
        publish: Callable[[str, dict[str, Any]], None],
        watch: RoomWatch,
        store: str,
        clock: Any,
    ) -> RoomAdmin:
        """The admin surface of one room-service process (a single node's or a cluster
        worker's): its summary, read from the rooms it serves, and the admin procedures."""
        summary = ProcessSummary(
            process=process,
            kind=kind,
            runners=runners,
            watch=watch,
            now=clock.seconds,
            links=links,
            started=clock.seconds(),
            store=store.split("://")[0],
        )
        return cls(summary=summary, watch=watch, runner=runner, close_room=close_room, publish=publish, clock=clock)

    def __init__(
        self,
        *,
        summary: ProcessSummary,
        watch: RoomWatch,
        runner: Callable[[str], RoomRunner],
        close_room: Callable[[str], Deferred[Any]],
        publish: Callable[[str, dict[str, Any]], None],
        clock: Any,
        every: float = SUMMARY_EVERY,
    ) -> None:
        if not wire.PROCESS_ID_RE.fullmatch(summary.process):
            raise ValueError(f"process id {summary.process!r} must match {wire.PROCESS_ID_RE.pattern}")
        self.process = summary.process
        self.summary = summary
        self.watch = watch
        self._runner = runner
        self._close_room = close_room
        self._publish = publish
        self._loop = LoopingCall(self.publish_summary)
        self._loop.clock = clock
        self._every = every

    def procedures(self) -> Mapping[str, Callable[..., Any]]:
        """URI -> procedure (each takes ``details``), registered on every link."""
        return {
            wire.admin_procedure(self.process, "inspect"): self.inspect,
            wire.admin_procedure(self.process, "remove"): self.remove,
            wire.admin_procedure(self.process, "close"): self.close,
        }

    # -- the summary -----------------------------------------------------------------------------
    def start(self) -> None:
        if not self._loop.running:
            d = self._loop.start(self._every, now=False)
            d.addErrback(lambda f: self.log.failure("the admin summary stopped", f))

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def publish_summary(self) -> None:
        try:
            self._publish(wire.ADMIN_SUMMARY, self.summary.build())
        except Exception as exc:  # noqa: BLE001 -- the next summary tries again
            self.log.warn("admin summary not published: {why}", why=str(exc)[:200])

    # -- procedures ------------------------------------------------------------------------------
    def inspect(self, *args: Any, details: CallDetails, **kwargs: Any) -> dict[str, Any]:
        caller_admin(details)
        cmd = InspectCommand.from_wamp(args, kwargs)
        return inspect_room(self._runner(cmd.room), self.process)

    @inlineCallbacks
    def remove(self, *args: Any, details: CallDetails, **kwargs: Any):  # type: ignore[no-untyped-def]
        admin = caller_admin(details)
        cmd = AdminRemoveCommand.from_wamp(args, kwargs)
        result = yield self._runner(cmd.room).remove_member(cmd.member)
        self.log.info(
            "admin {admin} removed member {member} from room {room} (seq {seq})",
            admin=admin,
            member=cmd.member,
            room=cmd.room,
            seq=result["seq"],
        )
        return result

    @inlineCallbacks
    def close(self, *args: Any, details: CallDetails, **kwargs: Any):  # type: ignore[no-untyped-def]
        admin = caller_admin(details)
        cmd = AdminCloseCommand.from_wamp(args, kwargs)
        runner = self._runner(cmd.room)
        committed = runner.close(cmd.reason)
        # Draining refuses new calls at once and commits the final event first.
        stopped = self._close_room(cmd.room)
        result = yield committed
        yield stopped
        self.log.info(
            "admin {admin} closed room {room} (final seq {seq}, epoch {epoch}){why}",
            admin=admin,
            room=cmd.room,
            seq=result["seq"],
            epoch=runner.room.epoch,
            why=f": {cmd.reason}" if cmd.reason else "",
        )
        return {"seq": result["seq"], "epoch": runner.room.epoch}
