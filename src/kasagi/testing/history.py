"""Histories of fault and crash tests, Jepsen style, and the invariants checked on them.

A test records every action it sends (start; then ack with its seq, a definite error, or
*undetermined* -- a timeout or a retryable error: it may or may not have happened, but at most
once), the faults it injects, and what each client applied. After the run it reads the room's
authoritative event history (from the store, or a ``join`` from seq 0 after recovery) and
:func:`check` tells whether the invariants of ``docs/resilience.md`` held:

- **I1** every acknowledged action is in the history, in the event with its acked seq;
- **I2** the history is seq 1..N without a hole, and each action took effect at most once
  (an action refused with a definite error took no effect at all);
- **I3** each client applied events contiguously and in order (a snapshot restarts its count);
- **I4** every client's final state equals the store's, which equals a replay of the history;
- **I5** every change in the history was asked for (by the member whose action it carries) or
  is the owner's own (presence);
- **I6** every call ended -- ack or definite error or given up -- within its deadline.

To find which action an event carries, actions must leave a mark in the ops. The convention
of :func:`keyed_effects` (used by the fault suite and the scale-out tests): a ``doc`` room where
the action of member ``m`` with cseq ``c`` is ``set ["log", "m:c"] = ...``; pass another
``effects`` function for another workload (the crash runs use one that keeps the state small).

Two entry points share these checks:

- :func:`check` for a history of one epoch that the store still holds from seq 1 (faults,
  crashes);
- :func:`check_failover` for a room that changed owners: each takeover starts a new epoch and
  the store keeps only the latest, so I1 is checked against the store's per-member results
  (``cseq -> seq``, the exactly-once record) and I2 against every event any client applied
  (the same ``(epoch, seq)`` must carry the same ops for everyone).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kasagi.core import apply_ops, copy_value, state_hash

if TYPE_CHECKING:
    from kasagi.store.interface import StoredRoom

__all__ = [
    "DEFINITE_ERRORS",
    "Call",
    "History",
    "Report",
    "check",
    "check_failover",
    "counts",
    "effect_key",
    "keyed_effects",
    "keyed_in_state",
    "stored_result",
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
    #: The event's ops (events only), for comparing what different clients applied.
    ops: Any = None


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

    def observe(self, client: str, room: str, kind: str, epoch: int | None, seq: int, ops: Any = None) -> None:
        self.applied[(client, room)].append(Applied(kind, epoch, seq, self.now(), ops))

    def track(self, client: str, handle: Any) -> None:
        """Record what a room handle (``.room``, ``.epoch``, ``.seq``, ``.on_change``) applies
        from now on (a handle already in sync counts as a snapshot at its position)."""
        if handle.epoch is not None:
            self.observe(client, handle.room, "snapshot", handle.epoch, handle.seq)

        def changed(event: Any) -> None:
            if event is None:
                self.observe(client, handle.room, "snapshot", handle.epoch, handle.seq)
            else:
                self.observe(client, handle.room, "event", event.get("epoch"), event.get("seq"), event.get("ops"))

        handle.on_change(changed)

    def connection(self, client: str, connected: bool) -> None:
        self.connections[client].append((self.now(), connected))

    # -- views -------------------------------------------------------------------------------------
    def by_outcome(self, outcome: str) -> list[Call]:
        return [c for c in self.calls if c.outcome == outcome]

    def first_applied_after_epoch(self, client: str, room: str, epoch: int) -> float | None:
        """When ``client`` first applied anything of ``room`` in an epoch other than ``epoch``
        (a takeover seen), or None."""
        for a in self.applied[(client, room)]:
            if a.epoch is not None and a.epoch != epoch:
                return a.at
        return None

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
    #: I2 across epochs: an ``(epoch, seq)`` that carried other ops for another client.
    inconsistent: list[str] = field(default_factory=list)
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
        if self.inconsistent:
            out.append(f"I2: clients applied different ops at one position: {self.inconsistent[:5]}")
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
    _duplicates(applied_at, report)

    # I1 and the fate of failed / undetermined calls.
    def where(c: Call) -> list[int]:
        return applied_at.get(c.key, [])

    _outcomes(calls, where, report)
    _unexplained(calls, events, effects, server_owned, report)
    _order(history, room, report)

    # I4: states.
    store_digest = _states(store_state, final_states, report)
    if initial_state is not None:
        replay = copy_value(dict(initial_state))
        try:
            for event in events:
                apply_ops(replay, event["ops"])
        except Exception:  # noqa: BLE001 -- any failure to replay is the finding
            report.replay_mismatch = True
        else:
            report.replay_mismatch = state_hash(replay) != store_digest

    _deadlines(calls, deadline, report)
    return report


def keyed_in_state(state: Mapping[str, Any], key: ActionKey, prefix: str = "log") -> bool:
    """Whether the keyed workload's action ``key`` left its mark in ``state``."""
    return effect_key(*key) in state.get(prefix, {})


def check_failover(
    history: History,
    *,
    room: str,
    stored: StoredRoom,
    store_state: Mapping[str, Any],
    final_states: Mapping[str, Mapping[str, Any]] | None = None,
    effects: Callable[[Event], list[ActionKey]] = keyed_effects,
    in_state: Callable[[Mapping[str, Any], ActionKey], bool] = keyed_in_state,
    server_owned: frozenset[str] = frozenset({"members", "players"}),
    deadline: float | None = None,
) -> Report:
    """Check I1-I6 for ``room`` after owners changed (several epochs).

    ``stored``: the room as the store holds it now (head, tail, per-member results);
    ``store_state``: its state at ``stored.seq``; ``final_states``: client label -> its state
    at the same position; ``in_state``: whether an action's effect is in a state.
    """
    report = Report(final_seq=stored.seq)
    calls = [c for c in history.calls if c.room == room]

    # Every event any client applied, once per position; a position with two different
    # contents means two owners wrote the same seq (I2).
    seen: dict[tuple[int | None, int], Event] = {}
    for (client, r), applied in history.applied.items():
        if r != room:
            continue
        for a in applied:
            if a.kind != "event":
                continue
            event: Event = {"epoch": a.epoch, "seq": a.seq, "ops": a.ops or []}
            first = seen.setdefault((a.epoch, a.seq), event)
            if first["ops"] != event["ops"]:
                report.inconsistent.append(f"{client} at epoch {a.epoch} seq {a.seq}")
    report.events = len(seen)
    tail = [e["seq"] for e in stored.tail]
    if tail != list(range(stored.snapshot_seq + 1, stored.seq + 1)):
        report.holes.append(f"stored tail not contiguous after {stored.snapshot_seq}: {tail[:5]}")

    # Seqs run on across epochs (a takeover continues from the stored head), so an action's
    # positions are its distinct seqs.
    applied_at: dict[ActionKey, list[int]] = defaultdict(list)
    for (_, seq), carried in sorted(seen.items(), key=lambda item: item[0][1]):
        for key in effects(carried):
            if seq not in applied_at[key]:
                applied_at[key].append(seq)
    _duplicates(applied_at, report)

    def where(c: Call) -> list[int]:
        if c.outcome == "ok":
            # The store's exactly-once record says where it was applied; its mark must be
            # in the state too.
            at = stored_result(stored.results, c.member, c.cseq)
            return [at] if at is not None and in_state(store_state, c.key) else []
        seqs = applied_at.get(c.key, [])
        return seqs or ([-1] if in_state(store_state, c.key) else [])

    _outcomes(calls, where, report)
    _unexplained(calls, seen.values(), effects, server_owned, report)
    _order(history, room, report)
    _states(store_state, final_states, report)
    _deadlines(calls, deadline, report)
    return report


def _duplicates(applied_at: Mapping[ActionKey, list[int]], report: Report) -> None:
    """I2: an action that took effect at more than one seq."""
    for key, seqs in applied_at.items():
        if len(seqs) > 1:
            report.duplicates.append((key, seqs))


def _outcomes(calls: list[Call], where: Callable[[Call], list[int]], report: Report) -> None:
    """I1 (an acked action is where its ack says) and I2 (a refused one is nowhere); tallies."""
    by_key: dict[ActionKey, list[Call]] = defaultdict(list)
    for c in calls:
        by_key[c.key].append(c)
    for c in calls:
        seqs = where(c)
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


def _unexplained(
    calls: list[Call],
    events: Iterable[Event],
    effects: Callable[[Event], list[ActionKey]],
    server_owned: frozenset[str],
    report: Report,
) -> None:
    """I5: every change is the owner's own (presence) or an action someone sent."""
    asked = {c.key for c in calls}
    for event in events:
        for op in event.get("ops", []):
            if _server_owned(op, server_owned):
                continue
            keys = effects({"ops": [op]})
            if not keys or not set(keys) <= asked:
                report.unexplained.append(f"seq {event['seq']}: op {op!r}")


def _order(history: History, room: str, report: Report) -> None:
    """I3: each client applied events contiguously and in order within an epoch."""
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


def _states(
    store_state: Mapping[str, Any], final_states: Mapping[str, Mapping[str, Any]] | None, report: Report
) -> str:
    """I4: every client ends with the store's state. Returns the store state's hash."""
    digest = state_hash(dict(store_state))
    for client, state in (final_states or {}).items():
        if state_hash(dict(state)) != digest:
            report.diverged.append(client)
    return digest


def _deadlines(calls: list[Call], deadline: float | None, report: Report) -> None:
    """I6: every call ended, within ``deadline`` if one is given."""
    for c in calls:
        if c.end is None:
            report.overdue.append(f"call {c.id} ({c.member}:{c.cseq}) never answered")
        elif deadline is not None and c.end - c.start > deadline:
            report.overdue.append(f"call {c.id} ({c.member}:{c.cseq}) took {c.end - c.start:.2f} s")


def counts(history: History) -> Counter[str]:
    """How many calls ended each way (for printing)."""
    return Counter(c.outcome for c in history.calls)


def stored_result(results: Mapping[str, Mapping[int, int]], member: str, cseq: int) -> int | None:
    """Where the store says ``member``'s action ``cseq`` was applied, whichever of the member's
    client instances sent it (results are kept per instance: ``member`` for the default one,
    ``member/<instance>`` for the others; the histories here never reuse a cseq across them)."""
    for key, kept in results.items():
        if (key == member or key.rpartition("/")[0] == member) and cseq in kept:
            return kept[cseq]
    return None
