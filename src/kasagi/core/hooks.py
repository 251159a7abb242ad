"""What the core reports when a room type's hook fails: a frozen value for the service to
log and count, and the refusal a caller gets.

A hook that raises anything but a domain error (``InvalidArgument``, ``Rejected``, ...), returns
something that is not an effect, writes a server-owned subtree, or returns ops that do not
apply, has *failed*: nothing of it is applied and the room goes on. What happens to the call
depends on the hook (see :class:`~kasagi.core.room.Room`): ``apply``/``check``/``on_join`` of a
join refuse the call with :class:`~kasagi.core.errors.Internal`; ``on_leave`` removes the
member without its effects; ``on_tick`` skips the tick; ``on_timer`` consumes the timer.
"""

from __future__ import annotations

import traceback as _traceback
from dataclasses import dataclass

from kasagi.core.errors import Internal

__all__ = ["HookError", "HookFailure"]


@dataclass(frozen=True)
class HookFailure:
    """One failed hook call: where, and the traceback text (for the log, never the wire)."""

    room: str
    room_type: str
    hook: str
    member: str | None
    error: str
    traceback: str

    @classmethod
    def of(cls, room: str, room_type: str, hook: str, member: str | None, exc: BaseException) -> HookFailure:
        text = "".join(_traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(room, room_type, hook, member, f"{type(exc).__name__}: {exc}"[:500], text)

    def refusal(self) -> Internal:
        """The error the caller gets: it names the room type and the hook, nothing more."""
        error = Internal(
            f"room type {self.room_type} failed in {self.hook}",
            field="hook",
            expected="a hook that returns effects",
            got=f"{self.room_type}.{self.hook}",
            room_type=self.room_type,
            hook=self.hook,
        )
        error.failure = self
        return error


class HookError(Exception):
    """Raised inside the core when a hook failed; carries the :class:`HookFailure`."""

    def __init__(self, failure: HookFailure) -> None:
        super().__init__(failure.error)
        self.failure = failure
