"""The interface of a room type: the server-side rules of one kind of room.

A room type is a class. :meth:`RoomType.from_options` builds an instance from the options
given to ``kasagi.lobby.open`` (validating them); the instance then decides, for every action,
which effects it causes -- it never mutates state itself. The core applies those effects all
or nothing, so a room type can't half-apply an action. Room types are written against the
public module :mod:`kasagi.rooms`, which re-exports this class.

Hooks, all pure functions of their arguments, returning a list of effects (ops from
``set_op``/``del_op`` and timer effects from ``set_timer``/``cancel_timer``):

- ``apply(state, member, action, args) -> effects``: validate an action and say what it
  changes; raise :class:`~kasagi.core.errors.InvalidArgument` for malformed input and
  :class:`~kasagi.core.errors.Rejected` for input the rules refuse.
- ``check(state)``: called after an action's effects were applied; raise ``Rejected`` to undo
  them (``doc`` uses it for its JSON Schema).
- ``on_join(state, member) -> effects``: the member came online (first session, or back
  within the grace period).
- ``on_leave(state, member) -> effects``: the member's grace period ended; it is gone.
- ``on_tick(state, now_ms, dt_ms) -> effects``: one step of the server loop, ``tick_hz``
  times a second (0: no loop) while the room has online members or pending timers.
- ``on_timer(state, name, data, now_ms) -> effects``: the durable timer ``name`` is due; it
  fires once, and is gone from ``state["timers"]`` when the hook runs.
- ``listing(state) -> metadata | None``: what the lobby shows of the room (``kasagi.lobby.list``
  and ``match``): a flat map of JSON scalars under the keys of :attr:`RoomType.listing_keys`
  (see :mod:`kasagi.core.listing` for the bounds), or None: the room is not listed. The core
  calls it on the committed state, once per commit at most (never for a private room).

Matchmaking fills a listed room up to :attr:`RoomType.seats` members (0: the service's
member limit per room).

Hooks may not write the server-owned subtrees (``members``, ``timers``); the core refuses such
ops. A hook that raises anything else than a domain error is a bug: see
:mod:`kasagi.core.hooks`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar

from kasagi.core.effects import Effect
from kasagi.core.errors import InvalidArgument, describe

__all__ = ["RoomType", "require_keys"]


class RoomType:
    """Base class of room types; subclasses set :attr:`name` and override the hooks."""

    #: The room-type id clients name in ``kasagi.lobby.open`` (``^[a-z][a-z0-9_-]{0,31}$``).
    name: ClassVar[str] = ""
    #: The actions ``apply`` accepts.
    actions: ClassVar[frozenset[str]] = frozenset()
    #: Ticks per second of the server loop (``on_tick``); 0: no loop.
    tick_hz: ClassVar[float] = 0
    #: The metadata keys :meth:`listing` publishes (lobby filters may name only these).
    listing_keys: ClassVar[frozenset[str]] = frozenset()
    #: Members matchmaking puts in one room (a listing's ``max_members``); 0: the service's
    #: member limit per room.
    seats: ClassVar[int] = 0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RoomType:
        """Build the room type from ``lobby.open`` options; refuse unknown options."""
        if options:
            key = next(iter(options))
            raise InvalidArgument(
                f"unknown option {key!r} for room type {cls.name}",
                field=f"options.{key}",
                expected="no options",
                got=describe(options[key]),
            )
        return cls()

    def options(self) -> dict[str, Any]:
        """The options this room was opened with (stored with the room)."""
        return {}

    def initial_state(self) -> dict[str, Any]:
        return {}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> Sequence[Effect]:
        raise NotImplementedError

    def check(self, state: Mapping[str, Any]) -> None:
        """Raise ``Rejected`` if ``state`` breaks the room's invariants."""

    def on_join(self, state: Mapping[str, Any], member: str) -> Sequence[Effect]:
        return []

    def on_leave(self, state: Mapping[str, Any], member: str) -> Sequence[Effect]:
        return []

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> Sequence[Effect]:
        return []

    def on_timer(self, state: Mapping[str, Any], name: str, data: Any, now_ms: int) -> Sequence[Effect]:
        return []

    def listing(self, state: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The room's public metadata in the lobby, or None: not listed (the default)."""
        return None

    @classmethod
    def match_options(cls, criteria: Mapping[str, Any]) -> dict[str, Any]:
        """The ``lobby.open`` options of a room matchmaking creates for ``criteria`` (default:
        none; a type whose listing reflects its options maps criteria to them here)."""
        return {}


def require_keys(args: Mapping[str, Any], required: set[str], optional: set[str], action: str) -> None:
    """Refuse missing or unknown argument keys of an action."""
    for key in required:
        if key not in args:
            raise InvalidArgument(
                f"{action} needs argument {key!r}", field=f"args.{key}", expected="present", got="missing"
            )
    for key in args:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted(required | optional))
            raise InvalidArgument(
                f"{action} has no argument {key!r}",
                field=f"args.{key}",
                expected=f"only {allowed}",
                got=describe(args[key]),
            )


def require_options(options: Mapping[str, Any], allowed: Collection[str], room_type: str) -> None:
    """Refuse an option of a room of ``room_type`` that is not one of ``allowed``."""
    for key in options:
        if key not in allowed:
            raise InvalidArgument(
                f"unknown option {key!r} for room type {room_type}",
                field=f"options.{key}",
                expected=_only(sorted(allowed)),
                got=describe(options[key]),
            )


def _only(names: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"only a, b and c"``."""
    if not names:
        return "no options"
    if len(names) == 1:
        return f"only {names[0]}"
    return f"only {', '.join(names[:-1])} and {names[-1]}"


def int_option(
    options: Mapping[str, Any], key: str, default: int, low: int, high: int, message: str | None = None
) -> int:
    """The whole number option ``key`` (``default`` when absent), refused unless from ``low`` to
    ``high``; ``message`` says what is wrong (by default, the range)."""
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(
            message or f"{key} must be a whole number from {low} to {high}",
            field=f"options.{key}",
            expected=f"an integer from {low} to {high}",
            got=describe(value),
        )
    return value
