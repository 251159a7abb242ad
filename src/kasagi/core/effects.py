"""Effects: what a room type's hooks return, and how the core turns them into ops.

An effect is either an op (``set_op``/``del_op`` from :mod:`kasagi.core.ops`) or a timer
effect, a frozen value:

- :class:`SetTimer` (``set_timer(name, at_ms, data)`` or ``set_timer(name, after_ms=...)``):
  schedule the durable timer ``name``; a name set again replaces the old timer.
- :class:`CancelTimer` (``cancel_timer(name)``): cancel it; a no-op when it is not set.

Timers are room state: :func:`timer_ops` turns timer effects into ordinary ops on the
server-owned subtree ``state["timers"]`` (``{name: {"at": ms, "data": value}}``), so they are
written by the same event as the effects that set them, hence durable with the room.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kasagi.core.ops import Op, del_op, set_op
from kasagi.core.values import check_value
from kasagi.wire import TIMERS_KEY

__all__ = [
    "MAX_TIMER_NAME",
    "CancelTimer",
    "Effect",
    "SetTimer",
    "cancel_timer",
    "due_timers",
    "next_timer_at",
    "set_timer",
    "timer_ops",
]

#: Longest timer name (characters).
MAX_TIMER_NAME = 64


@dataclass(frozen=True)
class SetTimer:
    """Schedule timer ``name`` at ``at_ms``, or ``after_ms`` after the effect is applied."""

    name: str
    at_ms: int | None
    after_ms: int | None
    data: Any

    def due_at(self, now_ms: int) -> int:
        """When the timer fires, for an effect applied at ``now_ms``."""
        if self.at_ms is not None:
            return self.at_ms
        assert self.after_ms is not None
        return now_ms + self.after_ms


@dataclass(frozen=True)
class CancelTimer:
    """Cancel timer ``name`` (nothing happens when it is not set)."""

    name: str


#: What hooks return: ops and timer effects.
Effect = Op | SetTimer | CancelTimer


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_TIMER_NAME:
        raise ValueError(f"a timer name is a string of 1 to {MAX_TIMER_NAME} characters, not {name!r}")
    return name


def _check_ms(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be an integer >= 0 (milliseconds), not {value!r}")
    return value


def set_timer(name: str, at_ms: int | None = None, data: Any = None, *, after_ms: int | None = None) -> SetTimer:
    """The effect that schedules durable timer ``name``: exactly one of ``at_ms`` (room time,
    ms) and ``after_ms`` (relative to the time the effect is applied). ``data`` (a JSON value)
    comes back to ``on_timer``. A bad argument is a bug in the room type: ``ValueError``."""
    _check_name(name)
    if (at_ms is None) == (after_ms is None):
        raise ValueError("set_timer needs exactly one of at_ms and after_ms")
    if at_ms is not None:
        _check_ms(at_ms, "at_ms")
    if after_ms is not None:
        _check_ms(after_ms, "after_ms")
    check_value(data, f"timers.{name}.data")
    return SetTimer(name, at_ms, after_ms, data)


def cancel_timer(name: str) -> CancelTimer:
    """The effect that cancels timer ``name`` (a no-op when it is not set)."""
    return CancelTimer(_check_name(name))


def timer_ops(effects: Sequence[Any], state: Mapping[str, Any], now_ms: int) -> tuple[list[Op], list[Op]]:
    """Split ``effects`` into (the hook's own ops, every op in order with timers as ops).

    The first list is what the room type wrote itself (checked against the server-owned
    subtrees by the caller); the second is what the core applies. ``state`` tells which
    timers exist, so cancelling an absent one adds no op.
    """
    own: list[Op] = []
    ops: list[Op] = []
    present = set(state.get(TIMERS_KEY, {}))
    for effect in effects:
        if isinstance(effect, SetTimer):
            ops.append(set_op([TIMERS_KEY, effect.name], {"at": effect.due_at(now_ms), "data": effect.data}))
            present.add(effect.name)
        elif isinstance(effect, CancelTimer):
            if effect.name in present:
                ops.append(del_op([TIMERS_KEY, effect.name]))
                present.discard(effect.name)
        elif isinstance(effect, list):
            own.append(effect)
            ops.append(effect)
        else:
            raise TypeError(f"a hook returned {type(effect).__name__}, not an effect (set_op, del_op, set_timer, ...)")
    return own, ops


def due_timers(state: Mapping[str, Any], now_ms: int) -> list[tuple[int, str]]:
    """The timers due at ``now_ms`` as ``(at, name)``, in firing order."""
    timers = state.get(TIMERS_KEY, {})
    return sorted((t["at"], name) for name, t in timers.items() if t["at"] <= now_ms)


def next_timer_at(state: Mapping[str, Any]) -> int | None:
    """When the earliest timer is due; None when there is none."""
    timers = state.get(TIMERS_KEY, {})
    return min((t["at"] for t in timers.values()), default=None)
