"""A recorded history of a crash run, and the check of invariants I1-I4 against it.

Every ``act`` is recorded with its start, its end and its outcome: ``ok`` (acknowledged with
a seq), ``error`` (a definite refusal, with its URI) or ``undetermined`` (timed out, or
failed retryably: it may or may not have happened). Each writer's action ``cseq`` sets a
path of its own to the value ``cseq``, so the stored events say exactly which actions took
effect and where. The check (pure; no I/O) then asserts, Jepsen-style:

- I1  every acknowledged action is in the store, in the event with the acknowledged seq;
- I2  every action took effect at most once (timed-out ones included), nothing took effect
      that nobody sent, and the room's history is seq 1..N without a hole, in one epoch;
- I3  each client applied events strictly in order, one seq after the other, except where
      it loaded a snapshot;
- I4  each client's final state, the stored room (snapshot + tail) and a replay of the whole
      history from the initial state are equal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kasagi.core.ops import apply_ops
from kasagi.core.values import copy_value

__all__ = ["Call", "History", "action_path", "check"]

#: Paths cycle through this many keys per writer (keeps the state small).
SLOTS = 64


def action_path(member: str, cseq: int) -> list[str]:
    return ["w", member, str(cseq % SLOTS)]


@dataclass
class Call:
    member: str
    cseq: int
    start: float
    end: float | None = None
    outcome: str = "pending"  # ok | error | undetermined
    seq: int | None = None
    error: str | None = None


@dataclass
class History:
    calls: list[Call] = field(default_factory=list)
    #: member -> what its replica applied: ("snap", epoch, seq) or ("ev", epoch, seq).
    applied: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)

    def start(self, member: str, cseq: int) -> Call:
        call = Call(member, cseq, time.monotonic())
        self.calls.append(call)
        return call

    def ok(self, call: Call, seq: int) -> None:
        call.end, call.outcome, call.seq = time.monotonic(), "ok", seq

    def failed(self, call: Call, error: str, definite: bool) -> None:
        call.end, call.error = time.monotonic(), error
        call.outcome = "error" if definite else "undetermined"

    def pending(self) -> list[Call]:
        return [c for c in self.calls if c.outcome == "pending"]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.calls:
            out[c.outcome] = out.get(c.outcome, 0) + 1
        return out


def check(
    history: History,
    events: list[dict[str, Any]],
    *,
    initial_state: dict[str, Any],
    stored_state: dict[str, Any],
    client_states: dict[str, dict[str, Any]],
) -> list[str]:
    """Every violation of I1-I4 found (empty: the run passed)."""
    bad: list[str] = []
    # I2: one epoch, seqs 1..N.
    seqs = [e["seq"] for e in events]
    if seqs != list(range(1, len(events) + 1)):
        bad.append(f"I2: history is not seq 1..N: starts {seqs[:3]}, {len(seqs)} events")
    if len({e["epoch"] for e in events}) > 1:
        bad.append(f"I2: history spans epochs {sorted({e['epoch'] for e in events})}")
    # Where each action took effect: (member, cseq) -> [seqs].
    effects: dict[tuple[str, int], list[int]] = {}
    for event in events:
        for op in event["ops"]:
            path = op[1]
            if op[0] == "set" and len(path) == 3 and path[0] == "w":
                effects.setdefault((path[1], op[2]), []).append(event["seq"])
    sent = {(c.member, c.cseq): c for c in history.calls}
    for key, where in effects.items():
        if len(where) > 1:
            bad.append(f"I2: action {key} took effect {len(where)} times (seqs {where})")
        call = sent.get(key)
        if call is None:
            bad.append(f"I2: action {key} took effect but was never sent")
        elif call.outcome == "error":
            bad.append(f"I2: action {key} was refused ({call.error}) yet took effect at {where}")
    # I1: acknowledged -> stored at that seq.
    for call in history.calls:
        if call.outcome != "ok":
            continue
        where = effects.get((call.member, call.cseq), [])
        if where != [call.seq]:
            bad.append(f"I1: action ({call.member}, {call.cseq}) acked with seq {call.seq} is stored at {where}")
    # I3: per client, in order.
    for member, log in history.applied.items():
        position: tuple[int, int] | None = None
        for kind, epoch, seq in log:
            if kind == "snap":
                position = (epoch, seq)
                continue
            if position is None or (epoch, seq) != (position[0], position[1] + 1):
                bad.append(f"I3: {member} applied ({epoch}, {seq}) after {position}")
            position = (epoch, seq)
    # I4: states equal.
    replayed = copy_value(initial_state)
    for event in events:
        apply_ops(replayed, event["ops"])
    if replayed != stored_state:
        bad.append("I4: replaying the history does not give the stored state")
    for member, state in client_states.items():
        if state != stored_state:
            bad.append(f"I4: {member}'s final state differs from the stored state")
    return bad
