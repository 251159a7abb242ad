"""What the benchmark's simulated clients count as violations, and its profile summary."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from kasagi.bench import Bot, Tally, summarize_stacks


class _Conn:
    """Stands in for the lean WAMP connection: records calls, answers join with a snapshot."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.on_event: Any = None
        self.bytes_read = 0
        self.join_reply: dict[str, Any] | None = None

    def call(self, procedure: str, args: Any = None, kwargs: Any = None) -> Deferred[Any]:
        self.calls.append((procedure, args))
        if procedure.endswith(".join") and self.join_reply is not None:
            return succeed(self.join_reply)
        if procedure == "kasagi.lobby.open":
            return succeed({})
        return Deferred()

    def subscribe(self, topic: str) -> Deferred[int]:
        return succeed(1)

    def publish(self, topic: str, args: Any = None, kwargs: Any = None) -> None:
        self.calls.append((topic, args))


def _bot() -> tuple[Bot, _Conn, Tally]:
    tally = Tally(start_ms=0, end_ms=float("inf"))
    bot = Bot(Clock(), tally, room="r", authid="me", seed=1)
    conn = _Conn()
    conn.join_reply = {
        "room": "r",
        "epoch": 1,
        "seq": 3,
        "member": "me",
        "state": {"players": {"me": {"x": 5, "y": 5, "hp": 100, "t": 0}}},
    }
    bot.attach(conn)  # type: ignore[arg-type]
    bot.join()
    return bot, conn, tally


def _event(seq: int, *players: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"epoch": 1, "seq": seq, "ops": [["set", ["players", who], value] for who, value in players]}


def test_in_order_events_count_deliveries_and_no_violation() -> None:
    """Each player update of an in-order event is one delivery; nothing is a violation."""
    bot, conn, tally = _bot()
    conn.on_event(1, [_event(4, ("a", {"x": 1, "y": 1, "t": 10.0}), ("b", {"x": 2, "y": 2, "t": 11.0}))], {}, {}, 20.0)
    assert tally.deliveries == 2
    assert bot.violations == {}


def test_an_old_seq_is_a_violation_a_repeated_head_is_not_and_a_gap_is_repaired() -> None:
    """A seq older than the last counts as a violation; the last one again is the room's head
    beacon; a skipped seq makes the client call join(since)."""
    bot, conn, _ = _bot()
    conn.on_event(1, [_event(4)], {}, {}, 1.0)
    conn.on_event(1, [_event(5)], {}, {}, 1.0)
    conn.on_event(1, [_event(5)], {}, {}, 1.0)
    assert bot.violations == {}
    conn.on_event(1, [_event(4)], {}, {}, 1.0)
    assert bot.violations == {"duplicate_or_reordered": 1}
    conn.join_reply = {"room": "r", "epoch": 1, "seq": 7, "member": "me", "events": [_event(6), _event(7)]}
    conn.on_event(1, [_event(8)], {}, {}, 1.0)
    assert conn.calls[-1] == ("kasagi.room.r.join", [{"epoch": 1, "seq": 5}])
    assert bot.seq == 8 and bot.stats["gaps_repaired"] == 1


def test_own_position_must_follow_own_valid_moves() -> None:
    """The client's own player must sit where its accepted moves put it; else wrong_position."""
    bot, conn, _ = _bot()
    sent = bot.send_move(100.0)
    right = {"x": min(1000, max(0, 5 + sent.dx)), "y": min(1000, max(0, 5 + sent.dy)), "hp": 100, "t": sent.t}
    conn.on_event(1, [_event(4, ("me", right))], {}, {}, 120.0)
    assert bot.violations == {}
    sent = bot.send_move(200.0)
    conn.on_event(1, [_event(5, ("me", {"x": -1, "y": -1, "hp": 100, "t": sent.t}))], {}, {}, 220.0)
    assert bot.violations == {"wrong_position": 1}


def test_unseen_moves_are_lost_after_the_drain() -> None:
    """A valid move whose effect never reached its sender counts as lost when the step settles."""
    bot, _, _ = _bot()
    bot.send_move(100.0)
    bot.settle(sent_before_ms=1000.0)
    assert bot.violations.get("lost_move") == 1


def test_profile_summary_attributes_samples() -> None:
    """py-spy samples are attributed to debug-log formatting first, then by the leaf frame's package."""
    lines = [
        "run (twisted/internet/base.py:1);processPublish (crossbar/router/broker.py:300);"
        "hltype (autobahn/util.py:988) 3",
        "run (twisted/internet/base.py:1);act (/opt/app/src/kasagi/core/room.py:10) 1",
    ]
    summary = summarize_stacks(lines)
    assert summary.samples == 4
    assert dict(summary.categories) == {
        "debug log arguments (hl*, pformat, click)": 75.0,
        "Kasagi room service (core, runner, component)": 25.0,
    }
