"""Per-member views: what one member may see of a room's state and events.

A room's state may hold the top-level subtree ``private`` (:data:`~kasagi.wire.PRIVATE_KEY`):
``state["private"][member] = <any JSON value>``, written by the room type through ordinary
effects (``set_op(["private", member, "hand"], ...)``). A member's *view* is the state with
``private`` reduced to that member's own entry, and no ``private`` key at all when it has
none -- so a room that keeps no private state looks exactly as it always did::

    view_of({"table": 1, "private": {"a": 5, "b": 7}}, "a")  == {"table": 1, "private": {"a": 5}}
    view_of({"table": 1, "private": {"a": 5, "b": 7}}, "c")  == {"table": 1}

Events are kept whole (in history and in the store) and filtered when they are sent: event
N for member M (:func:`event_for`) holds the public ops of N (paths not under ``private``)
plus M's own private ops (paths under ``["private", M]``), in order, and the hash of M's view
when N carries a hash. Applied to M's view at N - 1 they give M's view at N, so a client
keeps one gapless stream, checks hashes and catches up exactly as without private state.

One rewrite keeps that true: ``del ["private", M]`` becomes ``del ["private"]`` for M (in M's
view ``private`` holds M's entry only, and M's view has no ``private`` once it is gone).

An op on ``["private"]`` itself would touch every member at once: the core refuses it
(:func:`check_private_ops`). The per-member hashes of a hash event are stored in the whole
event as ``"hashes": {member: hash}`` and never leave it: a member gets its own, nobody
another's (a hash of a small secret could be guessed by trying every value).

:func:`deliveries` says how one event reaches everyone: one publish of the public event to
everyone but the members with private changes in it (or with a hash of their own), and one
publish to each of those members alone. The cost is per change, not per member per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kasagi.core.canonical import state_hash
from kasagi.core.errors import describe
from kasagi.wire import OP_DEL, PRIVATE_KEY

__all__ = [
    "PRIVATE_KEY",
    "Audience",
    "Delivery",
    "check_private_ops",
    "deliveries",
    "event_for",
    "has_private",
    "is_private_path",
    "op_audience",
    "ops_for",
    "private_audiences",
    "public_event",
    "view_hashes",
    "view_of",
]

Event = dict[str, Any]
#: The key of a whole event that holds the hash of each member's view (never sent).
HASHES_KEY = "hashes"


def is_private_path(path: Sequence[Any]) -> bool:
    """Whether ``path`` lies in the ``private`` subtree (or is it)."""
    return bool(path) and path[0] == PRIVATE_KEY


def op_audience(op: Sequence[Any]) -> str | None:
    """The member an op is private to (``["private", member, ...]``); None for a public op."""
    path = op[1]
    if len(path) >= 2 and path[0] == PRIVATE_KEY and isinstance(path[1], str):
        return path[1]
    return None


def check_private_ops(ops: Iterable[Sequence[Any]]) -> str | None:
    """Why ``ops`` may not be applied (an op on ``private`` itself, or on ``private`` with a
    key that is not a member id), or None when they may."""
    for op in ops:
        path = op[1]
        if not is_private_path(path):
            continue
        if len(path) < 2:
            return f"{describe(list(path))}: change private.<member>, not private as a whole"
        if not isinstance(path[1], str):
            return f"private needs a member id as its key, got {describe(path[1])}"
    return None


def has_private(state: Mapping[str, Any]) -> bool:
    """Whether the state holds any member's private entry."""
    private = state.get(PRIVATE_KEY)
    return isinstance(private, dict) and bool(private)


def view_of(state: Mapping[str, Any], member: str | None) -> dict[str, Any]:
    """``member``'s view of ``state`` (None: the public view, nobody's private entry). Shares
    its values with ``state``: copy it before handing it out. A state without ``private`` is
    returned as it is (no copy)."""
    if PRIVATE_KEY not in state:
        return state  # type: ignore[return-value]
    view = {k: v for k, v in state.items() if k != PRIVATE_KEY}
    private = state[PRIVATE_KEY]
    if member is not None and isinstance(private, dict) and member in private:
        view[PRIVATE_KEY] = {member: private[member]}
    return view


def ops_for(ops: Sequence[Sequence[Any]], member: str | None) -> list[Any]:
    """The ops of an event that ``member`` receives (None: the public ones), rewritten where
    its view needs it (see the module docstring)."""
    out: list[Any] = []
    for op in ops:
        path = op[1]
        if not path or path[0] != PRIVATE_KEY:
            out.append(op)
            continue
        if member is None or len(path) < 2 or path[1] != member:
            continue
        if op[0] == OP_DEL and len(path) == 2:
            out.append([OP_DEL, [PRIVATE_KEY]])
        else:
            out.append(op)
    return out


def private_audiences(ops: Iterable[Sequence[Any]]) -> set[str]:
    """The members with private ops among ``ops``."""
    members: set[str] = set()
    for op in ops:
        member = op_audience(op)
        if member is not None:
            members.add(member)
    return members


def view_hashes(state: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The hash of the public view and of each private entry's member's view."""
    public = state_hash(view_of(state, None))
    private = state.get(PRIVATE_KEY)
    if not isinstance(private, dict):
        return public, {}
    return public, {member: state_hash(view_of(state, member)) for member in private}


def _special(event: Mapping[str, Any]) -> set[str]:
    """The members whose form of ``event`` differs from the public one."""
    members = private_audiences(event.get("ops", ()))
    hashes = event.get(HASHES_KEY)
    if isinstance(hashes, dict):
        members.update(hashes)
    return members


def event_for(event: Event, member: str | None) -> Event:
    """Event ``event`` as ``member`` receives it (None: the public form). An event with no
    private ops and no per-member hashes is returned as it is (no copy)."""
    ops = event.get("ops", ())
    hashes = event.get(HASHES_KEY)
    if hashes is None and not any(is_private_path(op[1]) for op in ops):
        return event
    out: Event = {k: v for k, v in event.items() if k != HASHES_KEY}
    out["ops"] = ops_for(ops, member)
    if isinstance(hashes, dict) and member is not None and member in hashes:
        out["hash"] = hashes[member]
    return out


def public_event(event: Event) -> Event:
    """The form of ``event`` that members without private changes in it receive."""
    return event_for(event, None)


@dataclass(frozen=True)
class Audience:
    """Who one publish of an event is for: ``only`` that member (``eligible_authid``), or
    everyone the room's topic reaches but ``exclude`` (``exclude_authid``)."""

    only: str | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """One publish of an event: its form and its audience (None: everyone, as always)."""

    event: Event
    audience: Audience | None = None


def deliveries(event: Event) -> list[Delivery]:
    """The publishes that bring ``event`` to every member in its right form: the event as it
    is when nobody has a form of their own; else the public form to everyone but them, and
    each of them its own form alone."""
    special = _special(event)
    if not special:
        return [Delivery(event)]
    members = sorted(special)
    out = [Delivery(public_event(event), Audience(exclude=tuple(members)))]
    out.extend(Delivery(event_for(event, member), Audience(only=member)) for member in members)
    return out
