"""A history of a room workload across failovers, and the invariants checked on it.

Every action of the workload is ``set ["log", "<member>:<cseq>"] = n`` in a ``doc`` room, so
the state itself says which actions took effect. A failover restarts the stored history in a
new epoch (the events of the old epoch are dropped), so the events a test can read back are
only those the clients saw; the store's per-member results (``cseq -> seq``, the exactly-once
record) are what I1 is checked against:

- **I1** every acknowledged action is in the store's results with its acked seq, and its key
  is in the final state;
- **I2** no action took effect at two seqs (over every event any client applied), no refused
  action took effect, every seq of an epoch carries the same ops for every client, and the
  stored tail is contiguous;
- **I3** every client applied events contiguously and in order within an epoch (a snapshot
  restarts its count);
- **I4** every client's final state equals the store's.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor, task

from kasagi.core.canonical import state_hash
from kasagi.store.interface import StoredRoom

DEFINITE_ERRORS = frozenset(
    {"kasagi.error.invalid_argument", "kasagi.error.rejected", "kasagi.error.not_member", "kasagi.error.not_authorized"}
)


@dataclass
class Call:
    member: str
    cseq: int
    start: float
    end: float | None = None
    outcome: str = "pending"  # ok | fail (definite) | info (undetermined)
    seq: int | None = None
    error: str | None = None


@dataclass
class Seen:
    """One thing a client applied: an event (with its ops) or a snapshot, at a time."""

    kind: str
    epoch: int | None
    seq: int
    at: float
    ops: Any = None


@dataclass
class History:
    calls: list[Call] = field(default_factory=list)
    seen: dict[str, list[Seen]] = field(default_factory=lambda: defaultdict(list))

    def track(self, label: str, handle: Any) -> None:
        """Record what ``handle`` applies from now on."""
        self.seen[label].append(Seen("snapshot", handle.epoch, handle.seq, time.monotonic()))

        def changed(event: Any) -> None:
            now = time.monotonic()
            if event is None:
                self.seen[label].append(Seen("snapshot", handle.epoch, handle.seq, now))
            else:
                self.seen[label].append(Seen("event", event.get("epoch"), event.get("seq"), now, event.get("ops")))

        handle.on_change(changed)

    def first_seen_epoch_after(self, label: str, epoch: int) -> float | None:
        """When ``label`` first applied anything of an epoch other than ``epoch``."""
        for s in self.seen[label]:
            if s.epoch is not None and s.epoch != epoch:
                return s.at
        return None

    def acked(self) -> list[Call]:
        return [c for c in self.calls if c.outcome == "ok"]


def key(member: str, cseq: int) -> str:
    return f"{member}:{cseq}"


@defer.inlineCallbacks
def drive(history: History, handle: Any, member: str, *, actions: int, stop: list[bool], pace: float = 0.05):  # type: ignore[no-untyped-def]
    """Send up to ``actions`` keyed actions one after another, recording each outcome."""
    for n in range(actions):
        if stop[0]:
            return
        cseq = handle.next_cseq()
        call = Call(member, cseq, time.monotonic())
        history.calls.append(call)
        try:
            ack = yield handle.act("set", {"path": ["log", key(member, cseq)], "value": n}, cseq=cseq)
        except ApplicationError as exc:
            call.end, call.error = time.monotonic(), exc.error
            call.outcome = "fail" if exc.error in DEFINITE_ERRORS else "info"
        except Exception as exc:  # noqa: BLE001 -- a timeout or a lost connection: undetermined
            call.end, call.error, call.outcome = time.monotonic(), repr(exc), "info"
        else:
            call.end, call.seq, call.outcome = time.monotonic(), ack["seq"], "ok"
        yield task.deferLater(reactor, pace, lambda: None)  # the workload's rate, not a wait


def check(
    history: History, stored: StoredRoom, store_state: Mapping[str, Any], final: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The invariants violated (empty when all hold)."""
    problems: list[str] = []
    log = store_state.get("log", {})
    # I1
    for c in history.acked():
        stored_seq = stored.results.get(c.member, {}).get(c.cseq)
        if stored_seq != c.seq:
            problems.append(f"I1: {key(c.member, c.cseq)} acked with seq {c.seq}, store says {stored_seq}")
        if key(c.member, c.cseq) not in log:
            problems.append(f"I1: {key(c.member, c.cseq)} acked but not in the final state")
    # I2
    applied_at: dict[str, set[int]] = defaultdict(set)
    ops_at: dict[tuple[int | None, int], str] = {}
    for label, seen in history.seen.items():
        for s in seen:
            if s.kind != "event":
                continue
            digest = repr(s.ops)
            previous = ops_at.setdefault((s.epoch, s.seq), digest)
            if previous != digest:
                problems.append(f"I2: {label} saw other ops at epoch {s.epoch} seq {s.seq}")
            for op in s.ops or []:
                if op[0] == "set" and len(op[1]) == 2 and op[1][0] == "log":
                    applied_at[op[1][1]].add(s.seq)
    for k, seqs in applied_at.items():
        if len(seqs) > 1:
            problems.append(f"I2: {k} took effect at seqs {sorted(seqs)}")
    for c in history.calls:
        if c.outcome == "fail" and key(c.member, c.cseq) in log:
            problems.append(f"I2: {key(c.member, c.cseq)} was refused ({c.error}) but took effect")
    tail = [e["seq"] for e in stored.tail]
    if tail != list(range(stored.snapshot_seq + 1, stored.seq + 1)):
        problems.append(f"I2: stored tail not contiguous: {tail[:5]}...")
    # I3
    for label, seen in history.seen.items():
        epoch, last = None, None
        for s in seen:
            if s.kind == "snapshot":
                epoch, last = s.epoch, s.seq
            elif s.epoch != epoch or last is None or s.seq != last + 1:
                problems.append(f"I3: {label} applied epoch {s.epoch} seq {s.seq} after epoch {epoch} seq {last}")
                break
            else:
                last = s.seq
    # I4
    digest = state_hash(dict(store_state))
    for label, state in final.items():
        if state_hash(dict(state)) != digest:
            problems.append(f"I4: {label}'s final state differs from the store's")
    return problems
