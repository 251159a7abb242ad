"""Loading the room types a node serves: the built-in ``arena`` and ``doc``, the types of
installed packages (entry-point group ``kasagi.room_types``, ``name = "package.module:Class"``)
and those named on the command line (``kasagi up --room-type package.module:ClassName``).

For ``--room-type`` the application directory (the directory ``kasagi up`` was started in) is
added to the end of ``sys.path``, so a checkout's own modules load, and a package of the node
itself (``router``, ``components``) or an installed one is never replaced by an app's of the
same name. Every problem a developer can act on stops start-up with :class:`RoomTypeError`,
one line naming the culprit: a module that fails to import, a name that is not a
:class:`~kasagi.rooms.RoomType` subclass, two types with one name, a type name that is not a
valid room-type id.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import entry_points

from kasagi.rooms import ROOM_TYPE_RE, RoomType
from kasagi.roomtypes import BUILTIN_TYPES

__all__ = ["ENTRY_POINT_GROUP", "RoomTypeError", "load_room_type", "load_room_types"]

#: The entry-point group in which installed packages announce their room types.
ENTRY_POINT_GROUP = "kasagi.room_types"


class RoomTypeError(Exception):
    """A room type can't be served; the message is one line naming the culprit."""


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


def load_room_type(spec: str, origin: str = "--room-type") -> type[RoomType]:
    """The class named by ``package.module:ClassName`` (``origin`` says where it was named)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise RoomTypeError(f"{origin} {spec!r}: expected package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 -- any failure of the developer's module is reported, in one line
        raise RoomTypeError(f"{origin} {spec!r}: module {module_name!r} failed to import: {_one_line(exc)}") from None
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RoomTypeError(f"{origin} {spec!r}: module {module_name!r} has no {attr!r}") from None
    if not isinstance(obj, type) or not issubclass(obj, RoomType) or obj is RoomType:
        raise RoomTypeError(f"{origin} {spec!r}: {attr} is not a subclass of kasagi.rooms.RoomType")
    return obj


def _entry_point_specs() -> list[tuple[str, str]]:
    return [
        (f"entry point {ep.name!r} ({ENTRY_POINT_GROUP})", ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)
    ]


def load_room_types(
    specs: Sequence[str] = (),
    app_dir: str | None = None,
    *,
    use_entry_points: bool = True,
    builtins: Mapping[str, type[RoomType]] = BUILTIN_TYPES,
) -> dict[str, type[RoomType]]:
    """Every room type to serve, by name: the built-ins, the entry points, then ``specs``.

    ``app_dir`` (where ``kasagi up`` ran) is searched for ``specs`` after the node's own
    packages: an app package named like one of them (``router``, ``components``) cannot take
    its place in the node's processes."""
    if specs and app_dir and app_dir not in sys.path:
        sys.path.append(app_dir)
    named: list[tuple[str, type[RoomType]]] = [("built-in", cls) for cls in builtins.values()]
    found: Iterable[tuple[str, str]] = _entry_point_specs() if use_entry_points else ()
    named += [(origin, load_room_type(value, origin)) for origin, value in found]
    named += [(f"--room-type {spec!r}", load_room_type(spec)) for spec in specs]
    types: dict[str, type[RoomType]] = {}
    origins: dict[str, str] = {}
    for origin, cls in named:
        name = cls.name
        if not isinstance(name, str) or not ROOM_TYPE_RE.fullmatch(name):
            raise RoomTypeError(
                f"{origin}: {cls.__module__}.{cls.__qualname__}.name {name!r} is not a valid room-type id "
                f"({ROOM_TYPE_RE.pattern})"
            )
        if name in types and types[name] is not cls:
            raise RoomTypeError(f"two room types are named {name!r}: {origins[name]} and {origin}")
        types[name] = cls
        origins.setdefault(name, origin)
    return types
