"""How the benchmark's simulated clients treat admission control's refusals (``rate_limited``
with ``retry_after``): clear refusals they count and honour, never violations."""

from __future__ import annotations

import time
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from kasagi.bench import Bot, Tally
from kasagi.bench._bot import new_histogram, retry_after_s
from kasagi.bench._report import summary_markdown
from kasagi.bench._results import RunResult, merge_step, summarize
from kasagi.bench._wamp import WampError
from kasagi.bench._workload import LoadPoint

RATE_LIMITED = "kasagi.error.rate_limited"


class _Conn:
    """Stands in for the lean WAMP connection: records calls and publishes, keeps each act's
    Deferred to answer it later, and answers join with a snapshot."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.acts: list[Deferred[Any]] = []
        self.on_event: Any = None
        self.bytes_read = 0
        self.join_reply: dict[str, Any] = {
            "room": "r",
            "epoch": 1,
            "seq": 3,
            "member": "me",
            "state": {"players": {"me": {"x": 5, "y": 5, "hp": 100, "t": 0}}},
        }

    def call(self, procedure: str, args: Any = None, kwargs: Any = None) -> Deferred[Any]:
        self.calls.append((procedure, args))
        if procedure.endswith(".join"):
            return succeed(self.join_reply)
        if procedure == "kasagi.lobby.open":
            return succeed({})
        d: Deferred[Any] = Deferred()
        self.acts.append(d)
        return d

    def subscribe(self, topic: str) -> Deferred[int]:
        return succeed(1)

    def publish(self, topic: str, args: Any = None, kwargs: Any = None) -> None:
        self.calls.append((topic, args))


def _bot(input_path: str = "act", window: int = 0) -> tuple[Bot, _Conn, Tally]:
    tally = Tally(start_ms=0, end_ms=float("inf"))
    bot = Bot(Clock(), tally, room="r", authid="me", seed=1, input_path=input_path, window=window)
    conn = _Conn()
    bot.attach(conn)  # type: ignore[arg-type]
    bot.join()
    return bot, conn, tally


def _rate_limited(**details: Any) -> Failure:
    return Failure(WampError(RATE_LIMITED, ["too many actions; retry later"], {"retryable": True, **details}))


def _moves_sent(conn: _Conn) -> int:
    return sum(1 for procedure, _ in conn.calls if procedure in ("kasagi.room.r.act", "kasagi.input.r"))


def test_a_rate_limited_valid_move_is_throttled_and_not_checked() -> None:
    """A valid move refused with rate_limited is counted as throttled, is no violation, and is
    not expected to be applied: a later event without it is no wrong_position, nor is it lost."""
    bot, conn, tally = _bot()
    refused = bot.send_move(100.0)
    assert refused.valid
    conn.acts[-1].errback(_rate_limited(retry_after=2.0))
    assert tally.throttled == 1
    assert bot.violations == {}
    later = bot.send_move(200.0)
    position = {"x": min(1000, max(0, 5 + later.dx)), "y": min(1000, max(0, 5 + later.dy)), "hp": 100, "t": later.t}
    conn.on_event(1, [{"epoch": 1, "seq": 4, "ops": [["set", ["players", "me"], position]]}], {}, {}, 220.0)
    bot.settle(sent_before_ms=1000.0)
    assert bot.violations == {}


def test_a_rate_limited_invalid_move_is_no_wrong_refusal_nor_unanswered() -> None:
    """Admission refuses before parsing: an invalid move refused with rate_limited is throttled,
    not a wrong_refusal, and not an invalid move left unanswered."""
    bot, conn, tally = _bot()
    bot.moves = 99  # every 100th move is invalid
    refused = bot.send_move(100.0)
    assert not refused.valid
    conn.acts[-1].errback(_rate_limited(retry_after=1.5))
    bot.settle(sent_before_ms=1000.0)
    assert tally.throttled == 1
    assert bot.violations == {}


def test_moves_due_during_the_hold_are_held_and_not_sent() -> None:
    """After a rate_limited refusal the bot sends nothing for retry_after seconds: each move due
    meanwhile is counted as held and skipped; the first one due after the hold is sent."""
    bot, conn, tally = _bot()
    bot.send_move(time.time() * 1000.0)
    before = time.time() * 1000.0
    conn.acts[-1].errback(_rate_limited(retry_after=2.0))
    assert before + 2000.0 <= bot.hold_until_ms <= time.time() * 1000.0 + 2000.0
    sent = _moves_sent(conn)
    assert bot.move_due(before + 10.0) is None
    assert bot.move_due(before + 1000.0) is None
    assert tally.held == 2
    assert _moves_sent(conn) == sent
    assert bot.move_due(bot.hold_until_ms + 1.0) is not None
    assert _moves_sent(conn) == sent + 1
    assert tally.held == 2


def test_moves_due_while_the_window_is_full_are_held_until_an_answer_comes() -> None:
    """With a window of 2, a third move due while two are unanswered is held, not sent; an
    answer (a refusal included) frees its place for the next move due."""
    bot, conn, tally = _bot(window=2)
    assert bot.move_due(100.0) is not None
    assert bot.move_due(150.0) is not None
    assert bot.move_due(200.0) is None
    assert (_moves_sent(conn), tally.held) == (2, 1)
    conn.acts[0].callback({"seq": 4, "cseq": 0})
    assert bot.move_due(250.0) is not None
    conn.acts[1].errback(Failure(WampError("kasagi.error.rejected", ["no"], {})))
    assert bot.move_due(300.0) is not None
    assert (_moves_sent(conn), tally.held) == (4, 1)


def test_a_fast_path_refusal_holds_from_its_receipt_for_its_retry_after() -> None:
    """On the fast input path the refusal is a reply event; its details' retry_after holds the
    bot from the time it was received."""
    bot, conn, tally = _bot("publish")
    move = bot.send_move(100.0)
    reply = {"cseq": move.cseq, "error": RATE_LIMITED, "message": "busy", "details": {"retry_after": 1.25}}
    conn.on_event(1, [], {"reply": reply}, {}, 150.0)
    assert tally.throttled == 1
    assert bot.hold_until_ms == 150.0 + 1250.0
    assert bot.move_due(1399.0) is None and tally.held == 1
    bot.settle(sent_before_ms=1000.0)
    assert bot.violations == {}


def test_a_missing_or_unusable_retry_after_holds_one_second() -> None:
    """Without a finite positive retry_after the bot holds for 1 s."""
    assert retry_after_s({"retry_after": 2.5}) == 2.5
    assert retry_after_s({"retry_after": 3}) == 3.0
    for details in ({}, None, {"retry_after": "2"}, {"retry_after": -1}, {"retry_after": float("nan")}):
        assert retry_after_s(details) == 1.0
    bot, conn, _ = _bot("publish")
    move = bot.send_move(100.0)
    conn.on_event(1, [], {"reply": {"cseq": move.cseq, "error": RATE_LIMITED, "message": "busy"}}, {}, 500.0)
    assert bot.hold_until_ms == 1500.0


def test_other_refusals_stay_violations() -> None:
    """A valid move refused with anything but rate_limited is still valid_refused."""
    bot, conn, tally = _bot()
    bot.send_move(100.0)
    conn.acts[-1].errback(Failure(WampError("kasagi.error.unavailable", ["down"], {"retryable": True})))
    assert bot.violations == {"valid_refused": 1}
    assert tally.throttled == 0 and bot.hold_until_ms == 0.0


def _part(**counts: int) -> dict[str, Any]:
    part: dict[str, Any] = {
        "sent": 100,
        "sent_valid": 99,
        "accepted": 60,
        "deliveries": 240,
        "messages_in": 300,
        "bytes": 1000,
        "latency": new_histogram().encode().decode("ascii"),
        "violations": {},
        "violating_clients": 0,
        "late_sends": 0,
        "max_send_lag_ms": 0.0,
        "gaps_repaired": 0,
        "moving": 4,
    }
    return part | counts


def test_throttled_and_held_reach_the_step_result_and_the_report() -> None:
    """The generators' throttled and held counts become moves/s of the step and columns of the
    report, 0 when nothing was refused (and for a generator that does not report them)."""
    point = LoadPoint("C", 1, 4, (20,))
    step = merge_step(point, 20, 10.0, [_part(throttled=30, held=50), _part(throttled=10, held=0)], None, None, 1.0)
    assert step.throttled_moves_s == 4.0 and step.held_moves_s == 5.0
    quiet = merge_step(point, 20, 10.0, [_part()], None, None, 1.0)
    assert quiet.throttled_moves_s == 0.0 and quiet.held_moves_s == 0.0

    run = RunResult("kasagi", "C", 1, 4, 4, 1.0, steps=[quiet])
    rows = summarize([run])
    assert rows[0]["throttled_s"] == 0.0 and rows[0]["held_s"] == 0.0
    header, _, line = summary_markdown(rows).splitlines()
    names = [c.strip() for c in header.strip("|").split("|")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[names.index("refused moves/s (retry_after)")] == "0"
    assert cells[names.index("held moves/s")] == "0"


def test_the_bench_clients_window_is_the_sdks_default() -> None:
    """``kasagi bench`` measures clients as shipped: its default window of unanswered moves is
    the Python SDK's ``max_unanswered`` and the JS SDK's ``maxUnanswered``."""
    import re
    from pathlib import Path

    from kasagi.bench._runner import DEFAULT_WINDOW
    from kasagi.client import ClientOptions

    js = (Path(__file__).parents[2] / "web" / "sdk" / "client.js").read_text()
    found = re.search(r"^\s*maxUnanswered: (\d+),", js, re.M)
    assert found is not None
    assert DEFAULT_WINDOW == ClientOptions().max_unanswered == int(found.group(1))


def test_a_window_that_is_not_a_whole_number_of_moves_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """``kasagi bench --window`` takes 0 (no bound) or more; anything else stops the command
    with a message naming the option, before anything runs."""
    from kasagi.bench.cli import main

    for bad in ("-1", "two", "1.5"):
        with pytest.raises(SystemExit) as stop:
            main(["--window", bad])
        assert stop.value.code == 2
        assert "--window" in capsys.readouterr().err
