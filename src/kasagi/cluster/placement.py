"""Where a room without a live owner goes: the less loaded of two live workers picked at
random ("power of two choices").

Least loaded, not hashing: rooms differ by orders of magnitude (an idle document vs a
100-player arena), so spreading room *counts* evenly (what hashing does) can still put the
busy rooms together; a load figure (rooms + live sessions, reported in every heartbeat)
tracks what actually costs CPU. Two random choices instead of the global minimum because
every worker places rooms from a table up to one heartbeat old: with the global minimum, a
burst of opens would all land on the same worker; two choices spread them while still
avoiding the busiest (Mitzenmacher, "The power of two choices in randomized load
balancing"). Placement happens only when a room is created or its owner is gone, never per
call, so it costs nothing in steady state.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from kasagi.cluster.leases import WorkerInfo

__all__ = ["choose_worker"]


def choose_worker(
    workers: Mapping[str, WorkerInfo],
    me: str,
    rng: random.Random,
    extra: Mapping[str, float] | None = None,
    *,
    include_me: bool = True,
) -> str:
    """The worker that should take a new room (``me`` wins ties; ``me`` too when nobody else
    is alive). ``extra`` adds load placed since the table was read (rooms this worker sent
    there). ``include_me=False`` chooses among the others (a worker handing its rooms over);
    with no other live worker it returns ``me``."""
    extra = extra or {}
    alive = sorted(w for w, info in workers.items() if info.alive and (include_me or w != me))
    if include_me and me not in alive:
        alive.append(me)
    if not alive:
        return me
    candidates = alive if len(alive) <= 2 else rng.sample(alive, 2)

    def weight(w: str) -> tuple[float, int, str]:
        info = workers.get(w)
        base = info.weight if info is not None else 0.0
        return (base + extra.get(w, 0.0), 0 if w == me else 1, w)

    return min(candidates, key=weight)
