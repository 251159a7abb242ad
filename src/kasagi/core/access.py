"""Who may use a room: everyone (a public room) or the members listed when it was opened
(a private room).

``kasagi.lobby.open(room, type, {"members": [...]})`` makes a private room. The list is a
lobby-level option: it is split off before the room type sees its options, fixed when the
room is created, and stored with the room (inside its stored options, under the same key
``members``, next to the room type's options: :func:`stored_options`, :func:`access_of_stored`),
so every store keeps it without knowing of it. Only listed member ids may open, join, act in,
leave or subscribe to a private room; the room service checks calls, the router's client
authorizer checks subscriptions, and events are published to the listed members only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kasagi.core.errors import InvalidArgument, NotAuthorized, describe
from kasagi.wire import AUTHID_RE, OPEN_MEMBERS

__all__ = ["PUBLIC", "RoomAccess", "access_of_stored", "split_open_options", "stored_options"]


@dataclass(frozen=True)
class RoomAccess:
    """``members`` is None for a public room, else the member ids admitted."""

    members: frozenset[str] | None = None

    @classmethod
    def private(cls, members: Iterable[str]) -> RoomAccess:
        return cls(frozenset(members))

    @classmethod
    def parse(cls, raw: Any, max_members: int, field: str = f"options.{OPEN_MEMBERS}") -> RoomAccess | None:
        """A client-supplied member list: None (not given: no opinion) or a non-empty list
        of distinct member ids, at most ``max_members`` of them."""
        if raw is None:
            return None
        if not isinstance(raw, list) or not raw:
            raise InvalidArgument(
                "members must be a non-empty list of member ids",
                field=field,
                expected="a non-empty list of member ids",
                got=describe(raw),
            )
        if max_members and len(raw) > max_members:
            raise InvalidArgument(
                "too many members for one room",
                field=field,
                expected=f"at most {max_members} member ids",
                got=f"{len(raw)} member ids",
            )
        for i, item in enumerate(raw):
            if not isinstance(item, str) or not AUTHID_RE.fullmatch(item):
                raise InvalidArgument(
                    "malformed member id",
                    field=f"{field}[{i}]",
                    expected=f"a string matching {AUTHID_RE.pattern}",
                    got=describe(item),
                )
        members = frozenset(raw)
        if len(members) != len(raw):
            raise InvalidArgument(
                "a member id is listed twice", field=field, expected="distinct member ids", got="duplicates"
            )
        return cls(members)

    @property
    def is_private(self) -> bool:
        return self.members is not None

    def admits(self, member: str) -> bool:
        return self.members is None or member in self.members

    def check(self, member: str) -> None:
        """Raise ``NotAuthorized`` unless ``member`` may use the room."""
        if not self.admits(member):
            raise NotAuthorized(
                "this room is private", field="member", expected="a member listed when the room was opened", got=member
            )

    def to_wire(self) -> list[str] | None:
        """The member list as stored and sent (sorted), or None for a public room."""
        return None if self.members is None else sorted(self.members)


PUBLIC = RoomAccess()


def split_open_options(options: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Split ``lobby.open`` options into the lobby-level member list (raw, None if absent)
    and the room type's own options."""
    type_options = {k: v for k, v in options.items() if k != OPEN_MEMBERS}
    return options.get(OPEN_MEMBERS), type_options


def stored_options(type_options: Mapping[str, Any], access: RoomAccess) -> dict[str, Any]:
    """The options stored with a room: the type's, plus the member list of a private room."""
    options = dict(type_options)
    members = access.to_wire()
    if members is not None:
        options[OPEN_MEMBERS] = members
    return options


def access_of_stored(options: Mapping[str, Any]) -> tuple[RoomAccess, dict[str, Any]]:
    """Split stored options into the room's access and the type's options."""
    members, type_options = split_open_options(options)
    return (PUBLIC if members is None else RoomAccess.private(members)), type_options
