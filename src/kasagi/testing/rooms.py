"""``RoomKit``: drive a room type without a server, for the room type's own unit tests.

The kit runs the real room core (:class:`~kasagi.core.room.Room`) synchronously on a fake
clock: members join and leave, send actions, time advances (ticks and due timers fire, in
time order), and every change is committed at once as one event. No reactor, no store::

    kit = RoomKit(TicTacToe)
    kit.join("alice"); kit.join("bob")
    assert kit.act("alice", "move", {"cell": 4}) is None
    assert kit.refused("alice", "move", {"cell": 0}).uri == "kasagi.error.rejected"
    kit.advance(30_000)                      # the turn timer fires
    assert kit.state["turn"] == "bob"
    assert "hand" not in kit.view("bob").get("private", {}).get("alice", {})

``state`` is the whole state (every member's private entry in it); ``view(member)`` is what
that member's client holds, and ``events_for(member)`` the events it receives.

Differences from a server, on purpose: a member's grace period is skipped (``leave`` removes
it at once), each call commits its own event (a server batches a commit tick's actions and
ticks into one event), and a hook that fails outside an action (``on_leave``, ``on_tick``,
``on_timer``) fails the test with its traceback unless ``strict_hooks=False``.

For an end-to-end test, :func:`running_node` starts a real node (Crossbar, the room service)
that serves the author's room types, on a free port, and stops it afterwards::

    with running_node([TicTacToe]) as node:
        client = await KasagiClient.connect(node.url, "alice")
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kasagi.core.commands import ActCommand
from kasagi.core.errors import KasagiError
from kasagi.core.hooks import HookFailure
from kasagi.core.room import Room, RoomConfig
from kasagi.core.roomtypes.base import RoomType
from kasagi.core.ticks import DEFAULT_MAX_CATCH_UP, TickSchedule
from kasagi.core.values import copy_value
from kasagi.core.views import event_for

if TYPE_CHECKING:
    from kasagi.testing.node import NodeProcess

__all__ = ["HookFailed", "Refusal", "RoomKit", "room_type_spec", "running_node"]


@dataclass(frozen=True)
class Refusal:
    """A refused call as a client sees it: the error URI, the message and the details."""

    uri: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, error: KasagiError) -> Refusal:
        return cls(error.uri, error.message, error.details())


class HookFailed(AssertionError):
    """A hook of the room type raised outside an action (the traceback is the message)."""


class RoomKit:
    """One room of ``room_type`` driven by a test: calls are synchronous, time is fake."""

    def __init__(
        self,
        room_type: type[RoomType],
        options: Mapping[str, Any] | None = None,
        now_ms: int = 0,
        *,
        room_id: str = "kit",
        config: RoomConfig | None = None,
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
        strict_hooks: bool = True,
    ) -> None:
        config = config or RoomConfig(grace_ms=0)
        self.room = Room(room_id, room_type.from_options(options or {}), epoch=1, config=config)
        #: The fake clock (ms).
        self.now_ms = now_ms
        self.room.clock_ms = now_ms
        #: Committed events so far (``{"epoch", "seq", "ops", ...}``).
        self.events: list[dict[str, Any]] = []
        #: Every refusal so far, oldest first.
        self.refusals: list[Refusal] = []
        #: Every hook failure so far (with ``strict_hooks`` one outside an action also raises).
        self.hook_failures: list[HookFailure] = []
        #: Ticks run and ticks skipped (the loop lagged) so far.
        self.ticks = 0
        self.skipped_ticks = 0
        self._strict = strict_hooks
        self._cseq: dict[str, int] = {}
        hz = room_type.tick_hz
        self._schedule = TickSchedule(hz, max_catch_up) if hz > 0 else None

    # -- what a test reads ---------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        """The committed state (a copy)."""
        state: dict[str, Any] = copy_value(self.room.committed)
        return state

    @property
    def seq(self) -> int:
        return self.room.seq

    def view(self, member: str | None) -> dict[str, Any]:
        """``member``'s view of the committed state (a copy): what its client's ``room.state``
        holds -- the public state plus its own private entry only (None: the public view)."""
        return self.room.view(member)

    def events_for(self, member: str | None) -> list[dict[str, Any]]:
        """The committed events as ``member`` receives them (None: their public form)."""
        return [copy_value(event_for(event, member)) for event in self.events]

    # -- what members do -----------------------------------------------------------------------
    def join(self, member: str) -> dict[str, Any]:
        """``member`` comes online; the committed state after the join (which includes the
        member's presence and its ``on_join`` effects). A refused join raises its error."""
        try:
            self.room.join(member, self._session(member), None, self.now_ms)
        except KasagiError as error:
            self.refusals.append(Refusal.of(error))
            self._settle()
            raise
        self._settle()
        return self.state

    def leave(self, member: str) -> None:
        """``member`` leaves; it is gone at once (its grace period is skipped)."""
        self.room.leave(member, self._session(member), self.now_ms)
        self.room.expire(self.now_ms + self.room.config.grace_ms)
        self._settle()

    def act(self, member: str, action: str, args: Mapping[str, Any] | None = None) -> Refusal | None:
        """Send one action (validated at the boundary like a client's); None when applied and
        committed, else the refusal."""
        self._cseq[member] = cseq = self._cseq.get(member, 0) + 1
        try:
            cmd = ActCommand.from_wamp([action], {"args": dict(args or {}), "cseq": cseq})
            self.room.act(member, cmd.cseq, cmd.action, cmd.args, now_ms=self.now_ms)
        except KasagiError as error:
            refusal = Refusal.of(error)
            self.refusals.append(refusal)
            self._settle(raising=False)
            return refusal
        self._settle()
        return None

    def refused(self, member: str, action: str, args: Mapping[str, Any] | None = None) -> Refusal:
        """Send an action that must be refused; the refusal (AssertionError if applied)."""
        refusal = self.act(member, action, args)
        if refusal is None:
            raise AssertionError(f"{member}'s {action} {dict(args or {})!r} was applied, not refused")
        return refusal

    # -- time ----------------------------------------------------------------------------------
    def advance(self, ms: int) -> None:
        """Let ``ms`` pass: every tick and due timer in between fires at its time, in order
        (ticks before timers due at the same ms), each step committed."""
        if ms < 0:
            raise ValueError("time only moves forward")
        until = self.now_ms + ms
        while True:
            when = self._next_wake()
            if when is None or when > until:
                break
            self.now_ms = max(self.now_ms, when)
            self._wake()
        self.now_ms = until
        self.room.clock_ms = max(self.room.clock_ms, until)

    def _next_wake(self) -> int | None:
        times = [self.room.next_timer_at(), self.room.next_expiry()]
        if self._schedule is not None:
            times.append(self._schedule.next_at())
        due = [t for t in times if t is not None]
        return min(due) if due else None

    def _wake(self) -> None:
        now = self.now_ms
        if self._schedule is not None:
            due = self._schedule.due(now)
            self.skipped_ticks += due.skipped
            for at, dt in due.ticks:
                self.room.tick(at, dt)
                self.ticks += 1
        self.room.fire_timers(now)
        self.room.expire(now)
        self._settle()

    # -- internals -----------------------------------------------------------------------------
    @staticmethod
    def _session(member: str) -> str:
        return f"kit:{member}"

    def _settle(self, raising: bool = True) -> None:
        """Commit what is pending, follow the loop's run state, surface hook failures."""
        batch = self.room.begin_commit()
        if batch is not None:
            self.room.commit_succeeded(batch, self.now_ms)
            self.events.append(copy_value(batch.event))
        if self._schedule is not None:
            if self.room.ticking:
                self._schedule.start(self.now_ms)
            else:
                self._schedule.stop()
        failures = self.room.take_hook_failures()
        self.hook_failures.extend(failures)
        if raising and self._strict:
            for failure in failures:
                if failure.hook not in ("apply", "check", "on_join"):
                    raise HookFailed(f"{failure.room_type}.{failure.hook} failed:\n{failure.traceback}")


def room_type_spec(room_type: str | type[RoomType]) -> str:
    """The ``--room-type`` spec (``package.module:ClassName``) of a class, or ``room_type`` itself."""
    if isinstance(room_type, str):
        return room_type
    return f"{room_type.__module__}:{room_type.__qualname__}"


@contextmanager
def running_node(
    room_types: Sequence[str | type[RoomType]] = (),
    *,
    data_dir: Path | None = None,
    store: str = "memory",
    app_dir: str | Path | None = None,
    service: Mapping[str, Any] | None = None,
    component: str = "router",
    timeout: float = 120.0,
) -> Iterator[NodeProcess]:
    """A real node serving ``room_types`` (classes or ``package.module:ClassName`` specs, loaded
    as ``kasagi up --room-type`` loads them, besides the built-ins and entry points) on a free
    port; its ``url`` is the clients' WebSocket URL. The store is ``memory`` unless given
    (``sqlite`` keeps rooms in ``data_dir`` across a restart); without ``data_dir`` a
    temporary directory is used and removed. ``app_dir`` is added to the node's ``sys.path``
    (the directory holding the room types' package, if not installed), after the node's own
    and installed packages. The node is stopped (SIGTERM, then kill -9) when the block ends."""
    from kasagi.node import NodeOptions
    from kasagi.testing import free_port
    from kasagi.testing.node import NodeProcess

    own_dir = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="kasagi-node-")) if data_dir is None else data_dir
    port = free_port()
    options = NodeOptions(
        port=port,
        data_dir=base / f"node-{port}" if own_dir else base,
        service={"store": store, **(service or {})},
        component=component,
        room_types=tuple(room_type_spec(t) for t in room_types),
        app_dir=str(app_dir) if app_dir is not None else None,
        loglevel="warn",
    )
    node = NodeProcess(options).start(timeout)
    try:
        yield node
    finally:
        node.stop()
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
