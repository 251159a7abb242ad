"""Twisted services around the pure core: a room's ticks and group commit
(:class:`RoomRunner`), the rooms of one process (:class:`RoomRegistry`), the quiet room's
beacon, the server loop of rooms with ticks and timers (:class:`RoomLoop`), loading room
types (:func:`load_room_types`), the shared start-up of a room service (:class:`Assembly`),
and the settings they share. Every collaborator
(clock, store, publish function) is injected.

These are the names the other layers use.
"""

from kasagi.service.admission import Admission
from kasagi.service.assembly import Assembly
from kasagi.service.beacon import HeadBeacon
from kasagi.service.loop import RoomLoop
from kasagi.service.observer import NullObserver, ServiceObserver
from kasagi.service.registry import Fence, NotOwner, RoomRegistry, new_epoch, wall_ms
from kasagi.service.room_types import load_room_types
from kasagi.service.runner import Publish, RoomRunner
from kasagi.service.settings import ServiceSettings

__all__ = [
    "Admission",
    "Assembly",
    "Fence",
    "HeadBeacon",
    "NotOwner",
    "NullObserver",
    "Publish",
    "RoomLoop",
    "RoomRegistry",
    "RoomRunner",
    "ServiceObserver",
    "ServiceSettings",
    "load_room_types",
    "new_epoch",
    "wall_ms",
]
