"""The room-type API: the one module a room type imports.

A room type is a class with pure hooks that return effects; the core applies an action's
effects all or nothing, in one event, exactly once per (member, cseq)::

    from kasagi.rooms import RoomType, Rejected, require_keys, set_op

    class Counter(RoomType):
        name = "counter"
        actions = frozenset({"add"})

        def initial_state(self):
            return {"total": 0}

        def apply(self, state, member, action, args):
            require_keys(args, {"n"}, set(), action)
            if args["n"] not in (1, 2, 3):
                raise Rejected("add 1, 2 or 3", field="args.n", expected="1, 2 or 3", got=describe(args["n"]))
            return [set_op(["total"], state["total"] + args["n"])]

Effects: :func:`set_op` and :func:`del_op` change the state at a path (a list of keys and
indices); :func:`set_timer` and :func:`cancel_timer` schedule and cancel durable timers, kept
in the server-owned ``state["timers"]`` (visible to clients: put no secrets in timer data).
Private state: what only one member may see lives under ``state["private"][member]``
(:data:`PRIVATE_KEY`); write it with ordinary effects at :func:`private_path`
(``set_op(private_path(member, "hand"), cards)``). Each member receives only its own entry, in
events, snapshots, catch-ups and hashes; ``private`` as a whole is never set or deleted.
Refuse input with :class:`InvalidArgument` (malformed) or :class:`Rejected` (the rules forbid
it). Any other exception raised by a hook is a bug: the call is refused with
``kasagi.error.internal`` and nothing of it is applied. See ``docs/rooms.md``.
"""

from __future__ import annotations

from kasagi.core.effects import CancelTimer, Effect, SetTimer, cancel_timer, set_timer
from kasagi.core.errors import InvalidArgument, Rejected, describe
from kasagi.core.ops import Op, Path, del_op, parse_path, set_op
from kasagi.core.roomtypes.base import RoomType, int_option, require_keys, require_options
from kasagi.core.values import check_value
from kasagi.core.views import view_of
from kasagi.wire import PRIVATE_KEY, ROOM_TYPE_RE, SERVER_OWNED, TIMERS_KEY

__all__ = [
    "PRIVATE_KEY",
    "ROOM_TYPE_RE",
    "SERVER_OWNED",
    "TIMERS_KEY",
    "CancelTimer",
    "Effect",
    "InvalidArgument",
    "Op",
    "Path",
    "Rejected",
    "RoomType",
    "SetTimer",
    "cancel_timer",
    "check_value",
    "del_op",
    "describe",
    "int_option",
    "parse_path",
    "private_path",
    "require_keys",
    "require_options",
    "set_op",
    "set_timer",
    "view_of",
]


def private_path(member: str, *path: str | int) -> list[str | int]:
    """The path of ``path`` inside ``member``'s private state (only ``member`` sees it):
    ``private_path("alice", "hand")`` is ``["private", "alice", "hand"]``."""
    if not isinstance(member, str) or not member:
        raise ValueError(f"private state belongs to a member id, got {describe(member)}")
    return [PRIVATE_KEY, member, *path]
