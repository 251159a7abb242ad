"""One simulated client of the workload, and the tally of a generator process.

A :class:`Bot` joins its room like a real client (open, subscribe, join), follows the room's
event stream by ``(epoch, seq)`` (buffering ahead-of-order events and repairing gaps with
``join(since)``), sends its moves open-loop at the point's rate, and checks what it sees:

- every player update it receives is a *delivery*; its latency is receipt time - ``t``;
- its own player's updates must match the position it computes from its own valid moves
  (older moves overwritten inside one event are *coalesced*, not lost);
- its invalid moves must be refused to it exactly once and never applied;
- after the drain, every valid move sent must have reached it (else *lost*).

A move refused with ``kasagi.error.rate_limited`` (admission control past the server's capacity,
valid or not: admission refuses before parsing) is a clear refusal, not a violation: it is counted
as *throttled*, forgotten by the checks above, and the bot then sends nothing to its room for the
refusal's ``retry_after`` seconds, as a client that honours it would; each move due meanwhile is
counted as *held* and skipped. A bot also keeps at most ``window`` moves unanswered, as the
SDKs do (a client option there): a move due while that many wait for their answer is held too.

Violations are counted per client in :attr:`Bot.violations` (the list in ``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from kasagi.bench._wamp import LeanWamp, WampError
from kasagi.bench._workload import make_move
from kasagi.roomtypes.arena import WORLD

__all__ = ["Bot", "SentMove", "Tally", "new_histogram"]

REJECTED = "kasagi.error.rejected"
RATE_LIMITED = "kasagi.error.rate_limited"
#: Seconds a bot holds after a ``rate_limited`` refusal without a usable ``retry_after``.
DEFAULT_RETRY_AFTER = 1.0
#: Seconds a bot keeps retrying ``kasagi.lobby.open`` while no room service has registered it.
OPEN_PATIENCE = 60.0
#: Latency histogram: microseconds from 1 us to 10 minutes, 3 significant digits.
HIST_MIN_US, HIST_MAX_US, HIST_DIGITS = 1, 600_000_000, 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_MIN_US, HIST_MAX_US, HIST_DIGITS)


@dataclass
class Tally:
    """What the bots of one generator process count during one step's measured window
    (``start_ms`` .. ``end_ms``, wall clock)."""

    start_ms: float = float("inf")
    end_ms: float = float("-inf")
    sent: int = 0
    sent_valid: int = 0
    accepted: int = 0
    #: Moves refused with ``kasagi.error.rate_limited`` (a clear refusal, not a violation).
    throttled: int = 0
    #: Moves not sent because they fell due while a ``rate_limited`` refusal held their bot.
    held: int = 0
    deliveries: int = 0
    #: Messages the clients received (events, results, replies): what the router sent them.
    messages_in: int = 0
    latency: HdrHistogram = field(default_factory=new_histogram)
    #: Sends that left later than scheduled by more than 100 ms (generator lag).
    late_sends: int = 0
    max_send_lag_ms: float = 0.0

    def in_window(self, ms: float) -> bool:
        return self.start_ms <= ms < self.end_ms


def _clamp(v: int) -> int:
    return 0 if v < 0 else WORLD if v > WORLD else v


def retry_after_s(details: Any) -> float:
    """The seconds to hold after a ``rate_limited`` refusal: its details' ``retry_after`` when it
    is a finite positive number, else :data:`DEFAULT_RETRY_AFTER`."""
    value = details.get("retry_after") if isinstance(details, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return DEFAULT_RETRY_AFTER
    return float(value)


@dataclass
class SentMove:
    """A move a bot sent: its ``t`` stamp (ms), its step, whether it is valid, its cseq."""

    t: float
    dx: int
    dy: int
    valid: bool
    cseq: int


class Bot:
    """A member of one room, driven by its generator process's reactor."""

    def __init__(
        self,
        reactor: Any,
        tally: Tally,
        *,
        room: str,
        authid: str,
        seed: int,
        input_path: str = "act",
        validating: bool = True,
        window: int = 0,
    ) -> None:
        self.reactor = reactor
        self.tally = tally
        self.room = room
        self.authid = authid
        self.rng = random.Random(seed)
        self.input_path = input_path
        self.validating = validating
        #: At most this many moves unanswered at once (0: no bound), as the SDKs keep them.
        self.window = window
        self._unanswered = 0  # act calls sent and not yet answered
        self.conn: LeanWamp | None = None
        self.topic = f"kasagi.room.{room}"
        self._act_uri = f"kasagi.room.{room}.act"
        self._input_uri = f"kasagi.input.{room}"
        # stream position
        self.epoch: int = 0
        self.seq = 0
        self.join_seq = 0
        self.synced = False
        self.repairing = False
        self._buffer: dict[int, tuple[dict[str, Any], float]] = {}
        # own player
        self.expected: tuple[Any, Any] | None = None
        self._sent: deque[SentMove] = deque()
        self._invalid: dict[int, int] = {}  # cseq -> refusals seen
        self._fast_pending: dict[int, bool] = {}  # cseq -> valid (fast path, waiting for its ack)
        self._cseq = int(time.time() * 1_000_000)
        self._last_t = 0.0
        self.moves = 0
        # sending
        self._rate = 0.0
        self._next_at = 0.0
        self._stop_at = 0.0
        self._timer: Any = None
        #: Wall clock ms until which a ``rate_limited`` refusal holds the bot's moves.
        self.hold_until_ms = 0.0
        self.violations: dict[str, int] = {}
        self.stats = {"gaps_repaired": 0, "snapshots": 0, "events": 0}

    # -- joining ---------------------------------------------------------------------------------
    def attach(self, conn: LeanWamp) -> None:
        self.conn = conn
        conn.on_event = self._on_event

    def join(self) -> Deferred[Any]:
        """open + subscribe + join; fires once the bot follows the room."""
        assert self.conn is not None
        conn = self.conn
        d = self._open(time.time() + OPEN_PATIENCE)
        d.addCallback(lambda _: conn.subscribe(self.topic))
        d.addCallback(lambda _: conn.call(f"kasagi.room.{self.room}.join", [None]))
        d.addCallback(self._load)
        return d

    def _open(self, deadline: float) -> Deferred[Any]:
        """``kasagi.lobby.open``, retried while nobody has registered it yet (a room service
        in its own process joins the router a few seconds after the router is up)."""
        assert self.conn is not None
        d = self.conn.call("kasagi.lobby.open", [self.room])

        def retry(f: Failure) -> Any:
            if not (isinstance(f.value, WampError) and f.value.error == "wamp.error.no_such_procedure"):
                return f
            if time.time() >= deadline:
                return f
            later: Deferred[Any] = Deferred()
            self.reactor.callLater(0.2, lambda: self._open(deadline).chainDeferred(later))
            return later

        return d.addErrback(retry)

    def _load(self, reply: dict[str, Any]) -> None:
        received = time.time() * 1000.0
        if "state" in reply:
            self.stats["snapshots"] += 1
            self.epoch, self.seq = reply["epoch"], reply["seq"]
            player = reply["state"].get("players", {}).get(self.authid)
            if player is not None:
                self._own(player)
        else:
            for event in reply.get("events", []):
                if event["seq"] == self.seq + 1:
                    self._apply(event, received)
            if self.seq != reply["seq"]:
                self._violation("unrepaired_gap")
                self.seq = reply["seq"]
        self.join_seq = self.seq
        self.synced = True
        self.repairing = False
        self._drain()

    # -- the event stream ------------------------------------------------------------------------
    def _on_event(
        self, sub: int, args: list[Any], kwargs: dict[str, Any], details: dict[str, Any], received: float
    ) -> None:
        if self.tally.start_ms <= received < self.tally.end_ms:
            self.tally.messages_in += 1
        if kwargs and "reply" in kwargs:
            self._on_reply(kwargs["reply"], received)
            return
        event = args[0]
        if not self.synced or self.repairing:
            self._buffer[event["seq"]] = (event, received)
            return
        if event["epoch"] != self.epoch:
            self._violation("epoch_change")
            self._repair(None)
            return
        seq = event["seq"]
        if seq <= self.seq:
            if seq == self.seq:
                # The room's head beacon repeats its last event while it is quiet.
                self.stats["repeats"] = self.stats.get("repeats", 0) + 1
            elif seq > self.join_seq:
                self._violation("duplicate_or_reordered")
            return
        if seq > self.seq + 1:
            self._buffer[seq] = (event, received)
            self._repair({"epoch": self.epoch, "seq": self.seq})
            return
        self._apply(event, received)
        if self._buffer:
            self._drain()

    def _drain(self) -> None:
        for seq in [s for s in self._buffer if s <= self.seq]:
            del self._buffer[seq]
        while (item := self._buffer.pop(self.seq + 1, None)) is not None:
            self._apply(*item)
        if self._buffer and not self.repairing:
            self._repair({"epoch": self.epoch, "seq": self.seq})

    def _repair(self, since: dict[str, int] | None) -> None:
        if self.repairing or self.conn is None:
            return
        self.repairing = True

        def done(reply: dict[str, Any]) -> None:
            self.stats["gaps_repaired"] += 1
            self._load(reply)

        def failed(f: Failure) -> None:
            self.repairing = False
            self._violation("unrepaired_gap")

        self.conn.call(f"kasagi.room.{self.room}.join", [since]).addCallbacks(done, failed)

    def _apply(self, event: dict[str, Any], received: float) -> None:
        self.seq = event["seq"]
        self.stats["events"] += 1
        tally = self.tally
        counted = tally.start_ms <= received < tally.end_ms
        me = self.authid
        for op in event["ops"]:
            path = op[1]
            if op[0] != "set" or len(path) != 2 or path[0] != "players":
                continue
            value = op[2]
            t = value.get("t", 0)
            if t and counted:
                tally.deliveries += 1
                lat = (received - t) * 1000.0
                tally.latency.record_value(lat if lat >= 1 else 1)
            if path[1] == me:
                self._own(value)
        acks = event.get("acks")
        if acks:
            mine = acks.get(me)
            if mine:
                for cseq in mine:
                    self._acked(cseq, received)

    def _own(self, value: dict[str, Any]) -> None:
        t = value.get("t", 0)
        x, y = value.get("x"), value.get("y")
        if not self.validating:
            # The raw baseline acknowledges nothing: a move is accepted when its effect is seen.
            now = time.time() * 1000.0
            while self._sent and self._sent[0].t <= t:
                s = self._sent.popleft()
                if self._fast_pending.pop(s.cseq, None) and self.tally.start_ms <= now < self.tally.end_ms:
                    self.tally.accepted += 1
            self.expected = (x, y)
            return
        if self.expected is None or not t:
            self.expected = (x, y)
            return
        ex, ey = self.expected
        matched = False
        sent = self._sent
        while sent and sent[0].t <= t:
            s = sent.popleft()
            if s.valid:
                ex, ey = _clamp(ex + s.dx), _clamp(ey + s.dy)
                matched = matched or s.t == t
            elif s.t == t:
                self._violation("invalid_applied")
        if not matched:
            self._violation("wrong_position")
        elif (x, y) != (ex, ey):
            self._violation("wrong_position")
        self.expected = (x, y)

    # -- replies (act results, fast-path acks and refusals) ----------------------------------------
    def _acked(self, cseq: int, received: float) -> None:
        valid = self._fast_pending.pop(cseq, None)
        if valid is None:
            return
        if not valid and self.validating:
            self._violation("invalid_accepted")
        elif self.tally.start_ms <= received < self.tally.end_ms:
            self.tally.accepted += 1

    def _on_reply(self, reply: dict[str, Any], received: float) -> None:
        """A fast-path reply (``received``: wall clock ms): an ack, or a refusal with its details."""
        cseq = reply.get("cseq")
        if "error" in reply:
            self._refused(cseq, reply["error"], reply.get("details"), received)
        elif isinstance(cseq, int):
            self._acked(cseq, received)

    def _refused(self, cseq: Any, error: str, details: Any, received: float) -> None:
        """A refusal of the move ``cseq`` (``details``: the error's keyword details): a
        ``rate_limited`` one throttles and holds the bot; any other is checked for what it
        says about the move (refused invalid moves, once, with ``rejected``)."""
        if error == RATE_LIMITED:
            self._throttled(cseq, retry_after_s(details), received)
            return
        if cseq in self._invalid:
            self._invalid[cseq] += 1
            self._fast_pending.pop(cseq, None)
            if error != REJECTED:
                self._violation("wrong_refusal")
            elif self._invalid[cseq] > 1:
                self._violation("refused_twice")
        else:
            self._fast_pending.pop(cseq, None)
            self._violation("valid_refused")

    def _throttled(self, cseq: Any, retry_after: float, received: float) -> None:
        """The move ``cseq`` was refused by admission control at ``received`` (wall clock ms):
        it will not be applied, so it is neither checked nor lost; hold for ``retry_after`` s."""
        if self.tally.start_ms <= received < self.tally.end_ms:
            self.tally.throttled += 1
        self._fast_pending.pop(cseq, None)
        self._invalid.pop(cseq, None)
        for s in self._sent:
            if s.cseq == cseq:
                self._sent.remove(s)
                break
        until = received + retry_after * 1000.0
        if until > self.hold_until_ms:
            self.hold_until_ms = until

    def _act_result(self, result: Any, valid: bool) -> None:
        self._unanswered -= 1
        if not valid and self.validating:
            self._violation("invalid_accepted")
            return
        now = time.time() * 1000.0
        if self.tally.start_ms <= now < self.tally.end_ms:
            self.tally.accepted += 1
            self.tally.messages_in += 1

    def _act_failed(self, failure: Failure, cseq: int) -> None:
        self._unanswered -= 1
        if isinstance(failure.value, WampError):
            self._refused(cseq, failure.value.error, failure.value.kwargs, time.time() * 1000.0)
        else:
            self._refused(cseq, "transport", None, time.time() * 1000.0)

    # -- sending ---------------------------------------------------------------------------------
    def start_moving(self, rate: float, start: float, stop: float) -> None:
        """Send at ``rate`` Hz from ``start`` (wall clock s, with a random phase) to ``stop``."""
        self._rate = rate
        self._stop_at = stop
        if rate <= 0:
            return
        period = 1.0 / rate
        self._next_at = start + self.rng.random() * period
        self._schedule()

    def _schedule(self) -> None:
        delay = self._next_at - time.time()
        self._timer = self.reactor.callLater(delay if delay > 0 else 0, self._tick)

    def _tick(self) -> None:
        self._timer = None
        now = time.time()
        if now >= self._stop_at:
            return
        lag = (now - self._next_at) * 1000.0
        if lag > 100.0:
            self.tally.late_sends += 1
            if lag > self.tally.max_send_lag_ms:
                self.tally.max_send_lag_ms = lag
        if self.expected is not None and self.conn is not None:
            self.move_due(now * 1000.0)
        self._next_at += 1.0 / self._rate
        if lag > 1000.0:
            self._next_at = now + 1.0 / self._rate  # fell behind by a second: don't burst
        self._schedule()

    def move_due(self, now_ms: float) -> SentMove | None:
        """A move falls due at ``now_ms`` (wall clock ms): send it, unless a ``rate_limited``
        refusal holds the bot or ``window`` moves are unanswered, either of which skips it
        (counted as held; the schedule carries on)."""
        waiting = len(self._fast_pending) if self.input_path == "publish" else self._unanswered
        if now_ms < self.hold_until_ms or 0 < self.window <= waiting:
            if self.tally.start_ms <= now_ms < self.tally.end_ms:
                self.tally.held += 1
            return None
        return self.send_move(now_ms)

    def send_move(self, now_ms: float) -> SentMove:
        """Send the next move now (``now_ms``: wall clock ms), by the bot's input path; returns
        what was sent, which the bot then expects to see applied (or refused, if invalid)."""
        move = make_move(self.rng, self.moves)
        self.moves += 1
        t = now_ms if now_ms > self._last_t else self._last_t + 0.001
        self._last_t = t
        self._cseq += 1
        cseq = self._cseq
        valid = move.valid
        if self.tally.start_ms <= now_ms < self.tally.end_ms:
            self.tally.sent += 1
            if valid:
                self.tally.sent_valid += 1
        sent = SentMove(t, move.dx, move.dy, valid, cseq)
        self._sent.append(sent)
        if not valid:
            self._invalid[cseq] = 0
        args = ["move", {"dx": move.dx, "dy": move.dy, "t": t}, cseq]
        assert self.conn is not None
        if self.input_path == "publish":
            self._fast_pending[cseq] = valid
            self.conn.publish(self._input_uri, args)
        else:
            self._unanswered += 1
            d = self.conn.call(self._act_uri, args)
            d.addCallbacks(self._act_result, self._act_failed, callbackArgs=(valid,), errbackArgs=(cseq,))
        return sent

    def stop_moving(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- the end of a step -----------------------------------------------------------------------
    def settle(self, sent_before_ms: float) -> None:
        """After the drain: count what never arrived (lost moves, unanswered invalid moves,
        unrepaired gaps); forget everything older than ``sent_before_ms``."""
        if self.repairing or self._buffer:
            self._violation("unrepaired_gap")
        if self.validating:
            lost = sum(1 for s in self._sent if s.valid and s.t < sent_before_ms)
            if lost:
                self._violation("lost_move", lost)
            unanswered = sum(1 for n in self._invalid.values() if n == 0)
            if unanswered:
                self._violation("invalid_not_refused", unanswered)
        self._sent.clear()
        self._invalid.clear()
        self._fast_pending.clear()

    def _violation(self, kind: str, n: int = 1) -> None:
        self.violations[kind] = self.violations.get(kind, 0) + n
