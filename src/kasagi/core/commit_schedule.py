"""When a room's next commit is due: about one commit per tick, and busy rooms on one grid.

A room commits what it has applied about once per ``tick`` (``ServiceSettings.tick``): a
room that has not committed for a tick commits at once, a busy one a tick after its last
commit.
Every commit is one append to the store, and the store writes the appends that reach it
together in one transaction (one fsync, a fixed handful of statements). Rooms that each
keep their own phase rarely reach it together: at 10 busy rooms the SQLite store wrote
about 1.4 appends per transaction. So a busy room commits at the last point of one grid
shared by the process, ``k x`` its base tick, at or before ``last + tick``: never later than
it would without the grid. From their second commit on, busy rooms then commit on the same
points, in the same pass of the reactor, and the store writes them in one transaction.
A late timer does not push a room off the grid (its next point is still the one a tick on),
and a tick the process stretches under load counts in whole base ticks (35 ms on a 20 ms
grid is 20 ms, 45 ms is 40). A quiet room still commits at once; the commit after it, if
the room has become busy, comes at the next point of the grid, less than a tick later.

Pure arithmetic on seconds (no clock here): :func:`commit_delay`.
"""

from __future__ import annotations

import math

__all__ = ["commit_delay"]


def commit_delay(now: float, last: float, tick: float, *, backoff: float = 0.0, grid: float = 0.0) -> float:
    """Seconds from ``now`` until a room that last committed at ``last`` commits next.

    ``tick``: the least time between two commits now (the process may stretch it under
    load); ``backoff``: seconds the store asked to wait after failed writes (never shortened,
    never put on the grid); ``grid``: the spacing of the process's commit grid (its base
    tick), 0 for none. A tick of 0 commits at once.
    """
    due = max(0.0, last + tick - now)
    if backoff > 0 or due <= 0 or grid <= 0:
        return max(due, backoff)
    at = math.floor((last + tick) / grid + _SLACK) * grid
    # Never later than without the grid, to the last bit of the float.
    return min(at - now, due) if at >= now else due


#: Grid steps of rounding error tolerated (``k x grid / grid`` is not always ``k``).
_SLACK = 1e-6
