"""``kasagi bench --views``: the cost of per-member private state.

100 rooms x 4 members; a 10 Hz server loop changes every member's private state each tick. In
``private`` rooms each member's part lives in ``private.<member>`` (each event: one public
publish excluding the four members plus one publish per member); in ``public`` rooms the same
values are public (one publish per event). The server's CPU and the bytes each client reads per
delivered event are reported for both (one node per variant, a fresh one each).

Two shapes (``--views-shape``):

- ``counters`` (the default, the figures in BENCHMARKS.md): each member's part is one number.
- ``cards``: the card example's state (``examples/cards``): each member holds a hand of five
  cards in ``private.<member>.hand``, the table shows the face-up card and how many cards each
  player holds, and each tick every member's hand has one card replaced (a draw) and the
  table's top card changes.

Why a server loop and not bots playing the card game: in the game itself only the player
whose turn it is changes its hand, one action at a time, so at most one member has a private
change per event. The load the point asks for -- every member of every room with a private
change every tick -- is the worst case of that shape: each event then has one audience per
member, which is what the router pays for (one publish per audience, each filtered by
authid). The ``cards`` shape keeps the game's state and ops (hands of card strings, a public
table); the server-side rules of a real move (checking a card against the top, passing the
turn) run in the room service, once per action, and are the same with or without private
state, so they would only add the same cost to both variants.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kasagi.bench._server import ProcessMeter
from kasagi.bench._wamp import LeanWamp, connect
from kasagi.node import NodeOptions
from kasagi.rooms import Effect, RoomType, private_path, set_op
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess

__all__ = ["SHAPES", "PrivateCards", "PrivateHands", "PublicCards", "PublicHands", "run_views"]

ROOMS, MEMBERS, TICK_HZ = 100, 4, 10
#: Cards in each member's hand (the card example deals five at a table of four).
HAND = 5
_RANKS = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
_DECK = tuple(rank + suit for suit in "CDHS" for rank in _RANKS)


class PrivateHands(RoomType):
    """Each tick, every online member's value changes in its private state."""

    name = "bench-private"
    actions = frozenset()
    tick_hz = TICK_HZ

    def initial_state(self) -> dict[str, Any]:
        return {"tick": 0}

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> list[Effect]:
        n = state["tick"] + 1
        out: list[Effect] = [set_op(["tick"], n)]
        for member, presence in state.get("members", {}).items():
            if presence.get("online"):
                out.append(set_op(self.path(member), n))
        return out

    @staticmethod
    def path(member: str) -> list[Any]:
        return private_path(member, "n")


class PublicHands(PrivateHands):
    """The same changes, public: every member sees every member's value."""

    name = "bench-public"

    @staticmethod
    def path(member: str) -> list[Any]:
        return ["hands", member, "n"]


def _card(n: int) -> str:
    return _DECK[n % len(_DECK)]


class PrivateCards(RoomType):
    """The card example's shape: each tick every online member draws a card into its hidden
    hand (replacing one), and the table's face-up card changes."""

    name = "bench-cards-private"
    actions = frozenset()
    tick_hz = TICK_HZ

    def initial_state(self) -> dict[str, Any]:
        return {"tick": 0, "top": _card(0), "hands": {}}

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> list[Effect]:
        n = state["tick"] + 1
        out: list[Effect] = [set_op(["tick"], n), set_op(["top"], _card(n))]
        for i, (member, presence) in enumerate(sorted(state.get("members", {}).items())):
            if not presence.get("online"):
                continue
            if member not in state["hands"]:
                out += [
                    set_op(self.hand(member), [_card(i * HAND + k) for k in range(HAND)]),
                    set_op(["hands", member], HAND),
                ]
            else:
                out.append(set_op([*self.hand(member), n % HAND], _card(n * MEMBERS + i)))
        return out

    @staticmethod
    def hand(member: str) -> list[Any]:
        return private_path(member, "hand")


class PublicCards(PrivateCards):
    """The same table with every hand face up."""

    name = "bench-cards-public"

    @staticmethod
    def hand(member: str) -> list[Any]:
        return ["shown", member, "hand"]


#: shape -> (private variant, public variant).
SHAPES: dict[str, tuple[type[RoomType], type[RoomType]]] = {
    "counters": (PrivateHands, PublicHands),
    "cards": (PrivateCards, PublicCards),
}


def _measure(
    kind: str,
    warmup: float,
    measure: float,
    cpus: str | None,
    gen_cpus: set[int] | None,
    shape: str = "counters",
    rooms: int = ROOMS,
) -> dict[str, Any]:
    from twisted.internet import defer, reactor, task

    room_type = SHAPES[shape][0 if kind == "private" else 1]

    tmp = Path(tempfile.mkdtemp(prefix="kasagi-bench-views-"))
    options = NodeOptions(
        port=free_port(),
        host="127.0.0.1",
        data_dir=tmp,
        service={"store": "memory"},
        room_types=(f"kasagi.bench.views:{room_type.__name__}",),
        loglevel="warn",
    )
    node = NodeProcess(options, cpus=cpus, log_path=tmp / "node.log").start(timeout=120)
    type_name = room_type.name
    counts = {"events": 0}
    clients: list[LeanWamp] = []

    def on_event(*_: Any) -> None:
        counts["events"] += 1

    @defer.inlineCallbacks
    def join(room: str, member: str):  # type: ignore[no-untyped-def]
        proto = LeanWamp("127.0.0.1", options.port, member, "msgpack", on_event=on_event)
        clients.append(proto)
        connect(reactor, proto)
        yield proto.ready
        yield proto.call("kasagi.lobby.open", [room, type_name])
        yield proto.subscribe(f"kasagi.room.{room}")
        yield proto.call(f"kasagi.room.{room}.join", [None])

    @defer.inlineCallbacks
    def run():  # type: ignore[no-untyped-def]
        for r in range(rooms):
            yield defer.gatherResults([join(f"v{r}", f"m{r}_{i}") for i in range(MEMBERS)])
        yield task.deferLater(reactor, warmup, lambda: None)
        meter, generator = ProcessMeter(node.pids()), ProcessMeter([os.getpid()])
        gen0 = generator.cpu_seconds()
        cpu0, events0, bytes0, t0 = (
            meter.cpu_seconds(),
            counts["events"],
            sum(c.bytes_read for c in clients),
            time.time(),
        )
        yield task.deferLater(reactor, measure, lambda: None)
        cpu1, events1, bytes1, t1 = (
            meter.cpu_seconds(),
            counts["events"],
            sum(c.bytes_read for c in clients),
            time.time(),
        )
        gen1 = generator.cpu_seconds()
        window = t1 - t0
        deliveries = events1 - events0
        return {
            "variant": kind,
            "shape": shape,
            "rooms": rooms,
            "members": MEMBERS,
            "tick_hz": TICK_HZ,
            "window_s": round(window, 2),
            "deliveries_s": round(deliveries / window, 1),
            "server_cpu_pct": round(100.0 * (cpu1 - cpu0) / window, 1),
            "server_cpu_us_per_delivery": round(1e6 * (cpu1 - cpu0) / deliveries, 1) if deliveries else None,
            "bytes_per_delivery": round((bytes1 - bytes0) / deliveries, 1) if deliveries else None,
            "expected_deliveries_s": rooms * MEMBERS * TICK_HZ,
            "generator_cpu_pct": round(100.0 * (gen1 - gen0) / window, 1),
        }

    try:
        if gen_cpus:
            os.sched_setaffinity(0, gen_cpus)
        result: dict[str, Any] = {}

        def main(_reactor: Any) -> Any:
            d = run()
            d.addCallback(result.update)
            d.addBoth(close_all)
            return d

        def close_all(outcome: Any) -> Any:
            for client in clients:
                client.close()
            return outcome

        _run_once(main)
        return result
    finally:
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _run_once(main: Any) -> None:
    """Run ``main(reactor)`` on the global reactor until it fires (the reactor runs once per
    process: each variant runs in its own process, see :func:`run_views`)."""
    from twisted.internet import reactor

    outcome: list[Any] = []

    def start() -> None:
        d = main(reactor)
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    if outcome and hasattr(outcome[0], "raiseException"):
        outcome[0].raiseException()


def run_views(
    warmup: float = 5.0, measure: float = 20.0, pin: bool = True, shape: str = "counters", rooms: int = ROOMS
) -> list[dict[str, Any]]:
    """Both variants of ``shape``, each in a child process (server on core 0, generator on core 1)."""
    import subprocess
    import sys

    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}")
    if rooms < 1:
        raise ValueError(f"rooms must be at least 1, not {rooms}")
    results = []
    for kind in ("private", "public"):
        argv = [kind, str(warmup), str(measure), "1" if pin else "0", shape, str(rooms)]
        out = subprocess.run(  # noqa: S603 -- our own interpreter and module, fixed arguments
            [sys.executable, "-m", "kasagi.bench.views", *argv],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def _child(argv: list[str]) -> None:
    kind, warmup, measure, pin = argv[0], float(argv[1]), float(argv[2]), argv[3] == "1"
    shape, rooms = argv[4], int(argv[5])
    result = _measure(kind, warmup, measure, "0" if pin else None, {1} if pin else None, shape, rooms)
    print(json.dumps(result))


if __name__ == "__main__":
    import sys

    _child(sys.argv[1:])
