"""The workload "room-sync v1" (``docs/benchmarks.md``): load points, phases, and the moves.

Pure data and arithmetic; the generator (:mod:`kasagi.bench._bot`) follows it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["POINTS", "RAMP_RATES", "SMOKE", "LoadPoint", "Move", "Phases", "make_move"]

#: Point D: the rates (Hz per client) of the ramp, in order.
RAMP_RATES = (0.25, 0.5, 1, 2, 3, 5, 7, 10, 14, 20, 28, 40, 56, 80, 113, 160)


@dataclass(frozen=True)
class Phases:
    """Seconds of each phase of a measured step."""

    warmup: float = 5.0
    measure: float = 20.0
    drain: float = 2.0


@dataclass(frozen=True)
class LoadPoint:
    """``rooms`` x ``clients`` per room, each sending at each of ``rates`` in turn (Hz)."""

    name: str
    rooms: int
    clients: int
    rates: tuple[float, ...]
    #: True for a ramp: steps run until one fails.
    ramp: bool = False
    #: Idle clients: joined, no moves (point E).
    idle: bool = False

    @property
    def total_clients(self) -> int:
        return self.rooms * self.clients

    def offered_moves(self, rate: float) -> float:
        return 0.0 if self.idle else self.total_clients * rate

    def expected_deliveries(self, rate: float) -> float:
        return self.offered_moves(rate) * self.clients


POINTS: dict[str, LoadPoint] = {
    "A": LoadPoint("A", 10, 10, (10,)),
    "B": LoadPoint("B", 1, 100, (5,)),
    "C": LoadPoint("C", 100, 4, (20,)),
    "D": LoadPoint("D", 10, 10, RAMP_RATES, ramp=True),
    "E": LoadPoint("E", 100, 50, (0,), idle=True),
}

#: The smoke point of ``kasagi bench --smoke``: a few seconds, every code path.
SMOKE = LoadPoint("S", 2, 3, (10,))
SMOKE_PHASES = Phases(warmup=1.0, measure=2.0, drain=1.0)

#: Every 100th move of a client is invalid.
INVALID_EVERY = 100


@dataclass(frozen=True)
class Move:
    n: int
    dx: int
    dy: int

    @property
    def valid(self) -> bool:
        return abs(self.dx) <= 10 and abs(self.dy) <= 10


def make_move(rng: random.Random, n: int) -> Move:
    """The ``n``-th move (0-based) of a client: uniform -10..10, but every 100th has ``dx`` in
    11..15 (over the speed limit)."""
    dy = rng.randint(-10, 10)
    if n % INVALID_EVERY == INVALID_EVERY - 1:
        return Move(n, rng.randint(11, 15), dy)
    return Move(n, rng.randint(-10, 10), dy)
