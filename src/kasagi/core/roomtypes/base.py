"""The interface of a room type: the server-side rules of one kind of room.

A room type is a class. :meth:`RoomType.from_options` builds an instance from the options
given to ``kasagi.lobby.open`` (validating them); the instance then decides, for every action,
which ops it causes -- it never mutates state itself. The core applies those ops all or
nothing, so a room type can't half-apply an action.

Hooks, all pure functions of their arguments:

- ``apply(state, member, action, args) -> ops``: validate an action and say what it changes;
  raise :class:`~kasagi.core.errors.InvalidArgument` for malformed input and
  :class:`~kasagi.core.errors.Rejected` for input the rules refuse.
- ``check(state)``: called after an action's ops were applied; raise ``Rejected`` to undo them
  (``doc`` uses it for its JSON Schema).
- ``on_join(state, member) -> ops``: the member came online (first session, or back within
  the grace period).
- ``on_leave(state, member) -> ops``: the member's grace period ended; it is gone.

Actions may not write the server-owned subtrees (``members``); the core refuses such ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kasagi.core.errors import InvalidArgument, describe
from kasagi.core.ops import Op

__all__ = ["RoomType", "require_keys"]


class RoomType:
    """Base class of room types; subclasses set :attr:`name` and override the hooks."""

    name: ClassVar[str] = ""
    actions: ClassVar[frozenset[str]] = frozenset()

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

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Op]:
        raise NotImplementedError

    def check(self, state: Mapping[str, Any]) -> None:
        """Raise ``Rejected`` if ``state`` breaks the room's invariants."""

    def on_join(self, state: Mapping[str, Any], member: str) -> list[Op]:
        return []

    def on_leave(self, state: Mapping[str, Any], member: str) -> list[Op]:
        return []


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
