"""Twisted services around the pure core: a room's ticks and group commit
(:class:`RoomRunner`), the rooms of one process (:class:`RoomRegistry`), the quiet room's
beacon, restoring a room from its store, and the settings they share. Every collaborator
(clock, store, publish function) is injected.

These are the names the other layers use.
"""

from kasagi.service.beacon import HeadBeacon
from kasagi.service.observer import NullObserver, ServiceObserver
from kasagi.service.registry import NotOwner, RoomRegistry, new_epoch, stored_options, wall_ms
from kasagi.service.restore import rebuild
from kasagi.service.runner import Publish, RoomRunner
from kasagi.service.settings import ServiceSettings

__all__ = [
    "HeadBeacon",
    "NotOwner",
    "NullObserver",
    "Publish",
    "RoomRegistry",
    "RoomRunner",
    "ServiceObserver",
    "ServiceSettings",
    "new_epoch",
    "rebuild",
    "stored_options",
    "wall_ms",
]
