"""Fakes and factories for tests of code built on Kasagi (re-exported by :mod:`kasagi.testing`).

- :class:`RecordingPublisher` -- a ``publish`` function that keeps what it was given;
- :class:`MemoryRoomStore` -- re-exported: the in-memory store, Deferreds like the real ones;
- :class:`FailingStore` -- a store wrapper whose appends fail or hang on demand;
- :func:`make_room` / :func:`make_runner` / :func:`make_registry` -- built with a ``Clock``;
- :func:`free_port` -- a TCP port on 127.0.0.1 below the kernel's ephemeral range.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from kasagi.core import Batch, Room, RoomConfig
from kasagi.core.views import Audience
from kasagi.roomtypes import make_room_type
from kasagi.service import Admission, RoomRegistry, RoomRunner, ServiceSettings
from kasagi.store.interface import StoreError
from kasagi.store.memory import MemoryRoomStore

__all__ = [
    "FailingStore",
    "MemoryRoomStore",
    "RecordingPublisher",
    "free_port",
    "make_failing_runner",
    "make_registry",
    "make_room",
    "make_runner",
]


@dataclass
class RecordingPublisher:
    """A ``publish(topic, event[, audience])`` that records every call (``published`` holds
    ``(topic, event)``; ``audiences`` the audience of each, None for everyone)."""

    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    audiences: list[Audience | None] = field(default_factory=list)

    def __call__(self, topic: str, event: dict[str, Any], audience: Audience | None = None) -> None:
        self.published.append((topic, event))
        self.audiences.append(audience)

    def events(self, topic: str | None = None) -> list[dict[str, Any]]:
        return [e for t, e in self.published if topic is None or t == topic]

    def received_by(self, member: str, topic: str | None = None) -> list[dict[str, Any]]:
        """The events ``member`` receives (as the router would deliver them by authid)."""
        return [
            event
            for (t, event), audience in zip(self.published, self.audiences, strict=True)
            if (topic is None or t == topic) and _reaches(audience, member)
        ]


def _reaches(audience: Audience | None, member: str) -> bool:
    if audience is None:
        return True
    if audience.only is not None:
        return audience.only == member
    return member not in audience.exclude


class FailingStore:
    """Wraps a store; ``mode`` = ``"ok"`` | ``"fail"`` (calls fail at once, like a store that
    refuses connections) | ``"hang"`` (calls never answer, like txredisapi while Redis is
    down). ``affects`` names the operations the mode applies to (appends only by default;
    :data:`ALL_OPERATIONS` for a store that is down as a whole)."""

    ALL_OPERATIONS = frozenset({"load", "create", "append", "save_snapshot", "events_since", "set_epoch"})

    def __init__(self, inner: MemoryRoomStore | None = None, affects: frozenset[str] = frozenset({"append"})) -> None:
        self.inner = inner or MemoryRoomStore()
        self.mode = "ok"
        self.affects = affects
        self.hanging: list[tuple[Deferred[None], Batch]] = []
        #: Calls other than appends left hanging: (deferred, operation name, args).
        self.hanging_calls: list[tuple[Deferred[Any], str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in self.ALL_OPERATIONS:
            return method

        def call(*args: Any) -> Deferred[Any]:
            if name in self.affects and self.mode == "fail":
                return fail(StoreError("store down"))
            if name in self.affects and self.mode == "hang":
                d: Deferred[Any] = Deferred()
                self.hanging_calls.append((d, name, args))
                return d
            return method(*args)  # type: ignore[no-any-return]

        return call

    def append(self, batch: Batch) -> Deferred[None]:
        if "append" in self.affects and self.mode == "fail":
            return fail(StoreError("store down"))
        if "append" in self.affects and self.mode == "hang":
            d: Deferred[None] = Deferred()
            self.hanging.append((d, batch))
            return d
        return self.inner.append(batch)


def make_room(
    room_id: str = "r1",
    type_name: str = "arena",
    options: dict[str, Any] | None = None,
    *,
    epoch: int = 1,
    config: RoomConfig | None = None,
) -> Room:
    return Room(room_id, make_room_type(type_name, options or {}), epoch=epoch, config=config)


def make_runner(
    room: Room | None = None,
    *,
    clock: Clock | None = None,
    store: Any = None,
    publish: RecordingPublisher | None = None,
    settings: ServiceSettings | None = None,
    on_lost: Callable[[RoomRunner, Failure], None] | None = None,
    now_ms: Callable[[], int] | None = None,
    admission: Admission | None = None,
) -> tuple[RoomRunner, Clock, RecordingPublisher]:
    """A runner on a ``Clock``, with a memory store that already holds the room; room time is
    the clock's whole milliseconds unless ``now_ms`` says otherwise."""
    room = room or make_room()
    clock = clock or Clock()
    publish = publish or RecordingPublisher()
    if store is None:
        store = MemoryRoomStore()
        store.create(room.room_id, room.type.name, room.type.options(), room.epoch, room.committed)
    runner = RoomRunner(
        room,
        clock=clock,
        store=store,
        publish=publish,
        settings=settings or ServiceSettings(),
        now_ms=now_ms or (lambda: int(clock.seconds() * 1000)),
        on_lost=on_lost,
        admission=admission,
    )
    return runner, clock, publish


def make_failing_runner(
    settings: ServiceSettings,
    room: Room | None = None,
    on_lost: Callable[[RoomRunner, Failure], None] | None = None,
) -> tuple[RoomRunner, Clock, RecordingPublisher, FailingStore]:
    """A runner on a ``Clock`` whose store (already holding the room) can be made to fail or
    hang through the returned :class:`FailingStore`."""
    room = room or make_room()
    store = FailingStore()
    store.inner.create(room.room_id, room.type.name, room.type.options(), room.epoch, room.committed)
    runner, clock, publish = make_runner(room, store=store, settings=settings, on_lost=on_lost)
    return runner, clock, publish, store


def make_registry(
    *, clock: Clock | None = None, store: Any = None, settings: ServiceSettings | None = None
) -> tuple[RoomRegistry, Clock, RecordingPublisher, list[str]]:
    """A registry on a ``Clock``; the last item lists the rooms it exposed."""
    clock = clock or Clock()
    publish = RecordingPublisher()
    exposed: list[str] = []
    registry = RoomRegistry(
        clock=clock,
        store=store if store is not None else MemoryRoomStore(),
        publish=publish,
        expose=exposed.append,
        settings=settings or ServiceSettings(),
        now_ms=lambda: int(clock.seconds() * 1000),
    )
    return registry, clock, publish, exposed


def free_port() -> int:
    """A free TCP port on 127.0.0.1 below the kernel's ephemeral range (so a client
    reconnecting to a dead server on it can't connect to itself)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError):
        low = 32768
    import random

    for _ in range(200):
        port = random.randint(20000, max(20001, low - 1))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def make_cluster_worker(worker_id: str = "w1") -> tuple[Any, Any, Clock]:
    """A cluster worker's router sessions and rooms on a ``Clock``, with a memory store and
    in-memory leases (attach router sessions with ``routers.attach``); returns
    ``(routers, rooms, clock)`` with the rooms started."""
    from kasagi.cluster.leases import MemoryLeases
    from kasagi.cluster.rooms import ClusterRooms, ClusterSettings
    from kasagi.cluster.routers import WorkerProcedures
    from kasagi.lobby import Lobby, MemoryListingStore

    clock = Clock()
    service = ServiceSettings(tick=0)
    lobby = Lobby(store=MemoryListingStore(), clock=clock, settings=service, now_ms=lambda: int(clock.seconds() * 1000))
    routers = WorkerProcedures(worker_id, clock=clock, lobby=lobby)
    rooms = ClusterRooms(
        settings=ClusterSettings(worker_id=worker_id),
        service=service,
        lobby=lobby,
        clock=clock,
        store=MemoryRoomStore(),
        leases=MemoryLeases(clock),
        publish=routers.publish,
        expose=routers.expose,
        withdraw=routers.withdraw,
        forward=routers.forward,
    )
    routers.serve(rooms)
    from kasagi.cluster.process import worker_admin
    from kasagi.service.inspect import RoomWatch

    routers.admin = worker_admin(clock, worker_id, rooms, routers, RoomWatch(now=clock.seconds), "memory")
    rooms.start()
    return routers, rooms, clock
