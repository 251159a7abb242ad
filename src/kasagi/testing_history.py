"""Histories of fault and crash tests, Jepsen style, and the invariants checked on them.

A test records every action it sends (start; then ack with its seq, a definite error, or
*undetermined* -- a timeout or a retryable error: it may or may not have happened, but at most
once), the faults it injects, and what each client applied. After the run it reads the room's
authoritative event history (from the store, or a ``join`` from seq 0 after recovery) and
:func:`check` tells whether the invariants of ``RELIABILITY.md`` held:

- **I1** every acknowledged action is in the history, in the event with its acked seq;
- **I2** the history is seq 1..N without a hole, and each action took effect at most once
  (an action refused with a definite error took no effect at all);
- **I3** each client applied events contiguously and in order (a snapshot restarts its count);
- **I4** every client's final state equals the store's, which equals a replay of the history;
- **I5** every change in the history was asked for (by the member whose action it carries) or
  is the owner's own (presence);
- **I6** every call ended -- ack or definite error or given up -- within its deadline.

To find which action an event carries, actions must leave a mark in the ops. The convention
of :func:`keyed_effects` (used by the fault suite): a ``doc`` room where the action of member
``m`` with cseq ``c`` is ``set ["log", "m:c"] = ...``; pass another ``effects`` function for
another workload.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kasagi.core.canonical import state_hash
from kasagi.core.ops import apply_ops
from kasagi.core.values import copy_value

__all__ = [
    "DEFINITE_ERRORS",
    "Call",
    "History",
    "Report",
    "check",
    "counts",
    "effect_key",
    "keyed_effects",
]

Event = Mapping[str, Any]
ActionKey = tuple[str, int]

#: Errors after which the action certainly did not happen (the server refused it before
#: applying anything). Every other failure is undetermined.
DEFINITE_ERRORS = frozenset(
    {
        "kasagi.error.invalid_argument",
        "kasagi.error.rejected",
        "kasagi.error.not_member",
        "kasagi.error.not_authorized",
        "kasagi.error.rate_limited",
        "wamp.error.not_authorized",
        "wamp.error.invalid_argument",
    }
)


def effect_key(member: str, cseq: int) -> str:
    """The map key the keyed workload sets for one action."""
    return f"{member}:{cseq}"


def keyed_effects(event: Event, prefix: str = "log") -> list[ActionKey]:
    """The actions an event carries, under the keyed convention: each ``set [prefix, "m:c"]``."""
    found: list[ActionKey] = []
    for op in event.get("ops", []):
        path = op[1] if len(op) > 1 else None
        if op[0] == "set" and isinstance(path, list) and len(path) == 2 and path[0] == prefix:
            member, _, cseq = str(path[1]).rpartition(":")
            if member and cseq.isdigit():
                found.append((member, int(cseq)))
    return found


@dataclass
class Call:
    """One logical action (all its retries with the same cseq are one call)."""

    id: int
    client: str
    room: str
    member: str
    cseq: int
    start: float
    end: float | None = None
    #: ``pending`` (no answer yet), ``ok``, ``fail`` (definite) or ``info`` (undetermined).
    outcome: str = "pending"
    seq: int | None = None
    error: str | None = None

    @property
    def key(self) -> ActionKey:
        return (self.member, self.cseq)


@dataclass
class Fault:
    """A fault window: injected at ``start``, healed at ``end`` (None: still on, or instant)."""

    name: str
    start: float
    end: float | None = None


@dataclass
class Applied:
    """What one client applied to one room: ``("event", seq)`` or ``("snapshot", seq)``,
    with the epoch and the time it happened."""

    kind: str
    epoch: int | None
    seq: int
    at: float


class History:
    """The record of one test run."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.applied: dict[tuple[str, str], list[Applied]] = defaultdict(list)
        self.connections: dict[str, list[tuple[float, bool]]] = defaultdict(list)

    # -- calls ---------------------------------------------------------------------------------
    def invoke(self, client: str, room: str, member: str, cseq: int) -> Call:
        call = Call(len(self.calls), client, room, member, cseq, self.now())
        self.calls.append(call)
        return call

    def ok(self, call: Call, seq: int) -> None:
        call.end, call.outcome, call.seq = self.now(), "ok", seq

    def fail(self, call: Call, error: str) -> None:
        """A failure: definite if ``error`` is in :data:`DEFINITE_ERRORS`, else undetermined."""
        call.end, call.error = self.now(), error
        call.outcome = "fail" if error in DEFINITE_ERRORS else "info"

    def info(self, call: Call, why: str) -> None:
        call.end, call.outcome, call.error = self.now(), "info", why

    # -- faults and observations ------------------------------------------------------------------
    def fault(self, name: str) -> Fault:
        f = Fault(name, self.now())
        self.faults.append(f)
        return f

    def heal(self, fault: Fault) -> None:
        fault.end = self.now()

    def observe(self, client: str, room: str, kind: str, epoch: int | None, seq: int) -> None:
        self.applied[(client, room)].append(Applied(kind, epoch, seq, self.now()))

    def track(self, client: str, handle: Any) -> None:
        """Record what a room handle (``.room``, ``.epoch``, ``.seq``, ``.on_change``) applies
        from now on (a handle already in sync counts as a snapshot at its position)."""
        if handle.epoch is not None:
            self.observe(client, handle.room, "snapshot", handle.epoch, handle.seq)

        def changed(event: Any) -> None:
            if event is None:
                self.observe(client, handle.room, "snapshot", handle.epoch, handle.seq)
            else:
                self.observe(client, handle.room, "event", event.get("epoch"), event.get("seq"))

        handle.on_change(changed)

    def connection(self, client: str, connected: bool) -> None:
        self.connections[client].append((self.now(), connected))

    # -- views -------------------------------------------------------------------------------------
    def by_outcome(self, outcome: str) -> list[Call]:
        return [c for c in self.calls if c.outcome == outcome]

    def first_ack_after(self, t: float, client: str | None = None) -> float | None:
        """When the first call started at or after ``t`` was acknowledged (None if never)."""
        ends = [
            c.end
            for c in self.calls
            if c.outcome == "ok" and c.end is not None and c.start >= t and client in (None, c.client)
        ]
        return min(ends) if ends else None

    def ack_latencies(self) -> list[float]:
        return sorted(c.end - c.start for c in self.calls if c.outcome == "ok" and c.end is not None)


@dataclass
class Report:
    """What :func:`check` found. ``violations`` is empty when every invariant held."""

    acked: int = 0
    failed: int = 0
    undetermined: int = 0
    pending: int = 0
    #: I1: acked actions missing from the history, or found at another seq.
    acked_lost: list[ActionKey] = field(default_factory=list)
    wrong_seq: list[tuple[ActionKey, int, list[int]]] = field(default_factory=list)
    #: I2: actions applied more than once; definite failures applied; holes in seq.
    duplicates: list[tuple[ActionKey, list[int]]] = field(default_factory=list)
    failed_applied: list[ActionKey] = field(default_factory=list)
    holes: list[str] = field(default_factory=list)
    #: Undetermined calls that turned out to have been applied (allowed: at most once).
    undetermined_applied: int = 0
    #: I3: per client, the first out-of-order application seen.
    disorder: list[str] = field(default_factory=list)
    #: I4: clients whose final state differs from the store's; replay mismatch.
    diverged: list[str] = field(default_factory=list)
    replay_mismatch: bool = False
    #: I5: changes nobody asked for.
    unexplained: list[str] = field(default_factory=list)
    #: I6: calls that never ended, or ended past their deadline.
    overdue: list[str] = field(default_factory=list)
    events: int = 0
    final_seq: int = 0

    @property
    def violations(self) -> list[str]:
        out = []
        if self.acked_lost:
            out.append(f"I1: {len(self.acked_lost)} acked actions lost: {self.acked_lost[:5]}")
        if self.wrong_seq:
            out.append(f"I1: {len(self.wrong_seq)} acked with another seq: {self.wrong_seq[:5]}")
        if self.holes:
            out.append(f"I2: history not contiguous: {self.holes[:5]}")
        if self.duplicates:
            out.append(f"I2: {len(self.duplicates)} actions applied more than once: {self.duplicates[:5]}")
        if self.failed_applied:
            out.append(f"I2: {len(self.failed_applied)} refused actions applied: {self.failed_applied[:5]}")
        if self.disorder:
            out.append(f"I3: {self.disorder[:5]}")
        if self.diverged:
            out.append(f"I4: final states differ from the store: {self.diverged}")
        if self.replay_mismatch:
            out.append("I4: replaying the history does not give the stored state")
        if self.unexplained:
            out.append(f"I5: changes nobody asked for: {self.unexplained[:5]}")
        if self.overdue:
            out.append(f"I6: {len(self.overdue)} calls without an answer in time: {self.overdue[:5]}")
        return out

    def assert_ok(self) -> None:
        problems = self.violations
        if problems:
            raise AssertionError("invariants violated:\n  " + "\n  ".join(problems))

    def summary(self) -> dict[str, Any]:
        return {
            "acked": self.acked,
            "failed": self.failed,
            "undetermined": self.undetermined,
            "undetermined_applied": self.undetermined_applied,
            "acked_lost": len(self.acked_lost) + len(self.wrong_seq),
            "duplicates_applied": len(self.duplicates),
            "events": self.events,
            "final_seq": self.final_seq,
        }


def _server_owned(op: list[Any], owned: frozenset[str]) -> bool:
    path = op[1] if len(op) > 1 else None
    return isinstance(path, list) and bool(path) and path[0] in owned


def check(
    history: History,
    *,
    room: str,
    events: Iterable[Event],
    store_state: Mapping[str, Any],
    initial_state: Mapping[str, Any] | None = None,
    final_states: Mapping[str, Mapping[str, Any]] | None = None,
    effects: Callable[[Event], list[ActionKey]] = keyed_effects,
    server_owned: frozenset[str] = frozenset({"members", "players"}),
    deadline: float | None = None,
) -> Report:
    """Check I1-I6 for ``room``.

    ``events``: the room's history of one epoch from seq 1, as the store holds it;
    ``store_state``: the state at its last seq; ``initial_state``: the state at seq 0 (to
    replay; skipped if None); ``final_states``: client label -> its state at the same seq;
    ``deadline``: the longest a call may take before it must have an answer (I6).
    """
    report = Report()
    calls = [c for c in history.calls if c.room == room]
    events = list(events)
    report.events = len(events)
    report.final_seq = events[-1]["seq"] if events else 0

    # I2: contiguous 1..N, one epoch.
    epochs = {e.get("epoch") for e in events}
    if len(epochs) > 1:
        report.holes.append(f"several epochs in one history: {sorted(epochs, key=str)}")
    for i, event in enumerate(events, start=1):
        if event.get("seq") != i:
            report.holes.append(f"event #{i} has seq {event.get('seq')}")
            break

    # Where each action took effect.
    applied_at: dict[ActionKey, list[int]] = defaultdict(list)
    for event in events:
        for key in effects(event):
            applied_at[key].append(int(event["seq"]))
    for key, seqs in applied_at.items():
        if len(seqs) > 1:
            report.duplicates.append((key, seqs))

    # I1 and the fate of failed / undetermined calls.
    by_key: dict[ActionKey, list[Call]] = defaultdict(list)
    for c in calls:
        by_key[c.key].append(c)
    for c in calls:
        seqs = applied_at.get(c.key, [])
        if c.outcome == "ok":
            report.acked += 1
            if not seqs:
                report.acked_lost.append(c.key)
            elif c.seq not in seqs:
                report.wrong_seq.append((c.key, c.seq or -1, seqs))
        elif c.outcome == "fail":
            report.failed += 1
            if seqs and all(o.outcome == "fail" for o in by_key[c.key]):
                report.failed_applied.append(c.key)
        elif c.outcome == "info":
            report.undetermined += 1
            report.undetermined_applied += 1 if seqs else 0
        else:
            report.pending += 1

    # I5: every change is presence or an action someone sent.
    asked = set(by_key)
    for event in events:
        for op in event.get("ops", []):
            if _server_owned(op, server_owned):
                continue
            keys = effects({"ops": [op]})
            if not keys or not set(keys) <= asked:
                report.unexplained.append(f"seq {event['seq']}: op {op!r}")

    # I3: contiguous application per client.
    for (client, r), applied in history.applied.items():
        if r != room:
            continue
        epoch: int | None = None
        last: int | None = None
        for a in applied:
            if a.kind == "snapshot":
                if last is not None and a.epoch == epoch and a.seq < last:
                    report.disorder.append(f"{client}: snapshot at {a.seq} after applying {last}")
                    break
                epoch, last = a.epoch, a.seq
            else:
                if last is None or a.epoch != epoch or a.seq != last + 1:
                    where = f"seq {a.seq} (epoch {a.epoch}) after {last} (epoch {epoch})"
                    report.disorder.append(f"{client}: applied {where}")
                    break
                last = a.seq

    # I4: states.
    store_digest = state_hash(dict(store_state))
    for client, state in (final_states or {}).items():
        if state_hash(dict(state)) != store_digest:
            report.diverged.append(client)
    if initial_state is not None:
        replay = copy_value(dict(initial_state))
        try:
            for event in events:
                apply_ops(replay, event["ops"])
        except Exception:  # noqa: BLE001 -- any failure to replay is the finding
            report.replay_mismatch = True
        else:
            report.replay_mismatch = state_hash(replay) != store_digest

    # I6: answers within the deadline.
    for c in calls:
        if c.end is None:
            report.overdue.append(f"call {c.id} ({c.member}:{c.cseq}) never answered")
        elif deadline is not None and c.end - c.start > deadline:
            report.overdue.append(f"call {c.id} ({c.member}:{c.cseq}) took {c.end - c.start:.2f} s")
    return report


def counts(history: History) -> Counter[str]:
    """How many calls ended each way (for printing)."""
    return Counter(c.outcome for c in history.calls)
