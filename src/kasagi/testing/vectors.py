"""Shared test vectors: what every Kasagi client must reconstruct, produced by the Python core.

    python -m kasagi.testing.vectors            # write tests/vectors/*.json
    python -m kasagi.testing.vectors --check    # exit 1 if the committed files differ

Five files, each ``{"description", "cases": [...]}``:

- ``canonical.json`` -- ``{"name", "value", "canonical", "hash"}``: RFC 8785 text and state hash
  of a value (key order by UTF-16 code units, numbers as ECMAScript prints them).
- ``ops.json`` -- ``{"name", "state", "ops", "result", "hash"}``: applying ``ops`` (all or
  nothing) to ``state``; ``result`` is ``null`` when they do not apply (the state stays).
- ``replica.json`` -- ``{"name", "steps", "final"}``: a replica fed join replies
  (``{"load": reply, "error": bool}``) and events (``{"offer": event, "verdict": v}``);
  ``final`` is its ``epoch``, ``seq``, ``state``, ``hash``, ``needs_snapshot`` and
  ``position``. The verdicts are written down here from ``docs/protocol.md`` (Events), and
  generation fails if the Python replica disagrees.
- ``room.json`` -- ``{"name", "snapshot", "events", "state", "hash"}``: real events of the
  Python room core (presence, coalesced arena moves, doc edits with unicode keys).
- ``policy.json`` -- ``{"name", "uri", "details", "recovery"}``: what a client does after an
  error (:data:`kasagi.wire.ERROR_POLICY`): one case per URI of the table, plus the details
  that change the answer (``retryable: false``) and an unknown URI. ``table`` holds the table
  itself, which the JS SDK's ``policy.js`` must equal.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kasagi.core.canonical import canonical_bytes, state_hash
from kasagi.core.ops import OpError, apply_ops
from kasagi.core.replica import RoomReplica
from kasagi.core.replies import JoinPending
from kasagi.core.room import Room, RoomConfig
from kasagi.core.values import copy_value
from kasagi.core.views import event_for
from kasagi.rooms import PRIVATE_KEY, Effect, RoomType, del_op, private_path, set_op
from kasagi.roomtypes import make_room_type
from kasagi.wire import ERROR_POLICY, ErrorURI, Recovery, recovery, retryable

GIVE_UP = Recovery.GIVE_UP

__all__ = ["build_all", "main", "replay_replica", "write_all"]

VECTORS_DIR = Path(__file__).resolve().parents[3] / "tests" / "vectors"
Json = Any

# -- canonical encoding ------------------------------------------------------------------------

CANONICAL_VALUES: list[tuple[str, Json]] = [
    ("empty map", {}),
    ("keys sorted, nested", {"b": {"z": 1, "a": [3, 2, 1]}, "a": None, "c": True, "B": False}),
    ("integer-valued floats print as integers", {"one_float": 1.0, "one_int": 1, "hundred": 100.0, "neg": -3.0}),
    ("negative zero prints as 0", {"z": -0.0}),
    ("1e21 switches to exponent form", {"big": 1e21, "below": 1e20}),
    ("0.1 and friends print shortest round-trip", {"a": 0.1, "b": 0.2 + 0.1, "c": 1.5, "d": -2.75}),
    ("small numbers", {"e6": 0.000001, "e7": 1e-7, "tiny": 5e-324}),
    (
        "large numbers",
        {
            "max_float": 1.7976931348623157e308,
            "max_int": 9007199254740991,
            "min_int": -9007199254740991,
            "f": 1.2345678901234568e20,
        },
    ),
    ("BMP keys sort by code unit", {"é": 1, "e": 2, "z": 3, "Z": 4, "ﬁ": 5, "\u00e9t\u00e9": 6}),
    (
        "astral key sorts before U+E000..U+FFFF (UTF-16 surrogates)",
        {"\U0001f600": "grin", "\ufb01": "ligature", "\ue000": "private", "\uffee": "halfwidth", "a": "ascii"},
    ),
    ("astral keys among themselves", {"\U0001f600": 1, "\U0001f4a9": 2, "\U00010000": 3, "\ud7ff": 4}),
    (
        "strings escape only what JSON must",
        {
            "s": 'quote " backslash \\ newline \n tab \t ctrl \u0001 \u001f del \u007f '
            "slash / lt < u2028 \u2028 emoji \U0001f600"
        },
    ),
    ("lists keep order", {"l": [{"b": 1, "a": 2}, [], [[]], "x", 0, -1, 2.5]}),
    (
        "keys that are JavaScript object internals",
        {"__proto__": {"x": 1}, "constructor": 2, "toString": 3, "hasOwnProperty": 4},
    ),
]


def _canonical_cases() -> list[dict[str, Json]]:
    return [
        {"name": name, "value": value, "canonical": canonical_bytes(value).decode("utf-8"), "hash": state_hash(value)}
        for name, value in CANONICAL_VALUES
    ]


# -- ops -----------------------------------------------------------------------------------------

OPS_CASES: list[tuple[str, Json, list[Json]]] = [
    ("set creates missing maps on the way", {}, [["set", ["a", "b", "c"], 1]]),
    ("set replaces a map key", {"a": {"b": 1}}, [["set", ["a", "b"], {"deep": [1, 2]}]]),
    ("set a list index replaces it", {"l": [1, 2, 3]}, [["set", ["l", 1], "two"]]),
    ("set at len appends", {"l": [1, 2]}, [["set", ["l", 2], 3], ["set", ["l", 3], 4]]),
    (
        "set into a nested list item",
        {"l": [{"x": 1}, {"x": 2}]},
        [["set", ["l", 1, "x"], 20], ["set", ["l", 0, "y"], 10]],
    ),
    ("set past len does not apply", {"l": [1, 2]}, [["set", ["l", 3], 9]]),
    ("del a map key", {"a": {"b": 1, "c": 2}}, [["del", ["a", "b"]]]),
    (
        "del a list item shifts the rest down",
        {"l": ["a", "b", "c", "d"]},
        [["del", ["l", 1]], ["del", ["l", 1]], ["set", ["l", 1], "D"]],
    ),
    ("del the last list item", {"l": [1, 2, 3]}, [["del", ["l", 2]]]),
    ("del a missing key does not apply", {"a": {}}, [["del", ["a", "b"]]]),
    ("del an index out of range does not apply", {"l": [1]}, [["del", ["l", 1]]]),
    ("del a whole subtree", {"a": {"b": {"c": [1, 2]}}, "k": 1}, [["del", ["a"]]]),
    (
        "all or nothing: a failing op undoes the earlier ones",
        {"a": {"x": 1}, "l": [1, 2]},
        [["set", ["a", "x"], 2], ["del", ["l", 0]], ["set", ["n", "m"], 3], ["del", ["missing"]]],
    ),
    (
        "all or nothing restores deleted list items in place",
        {"l": [1, 2, 3]},
        [["del", ["l", 0]], ["set", ["l", 2], 9], ["del", ["l", 5]]],
    ),
    ("an index on a map does not apply", {"a": {"0": 1}}, [["set", ["a", 0], 2]]),
    ("a key on a list does not apply", {"l": [1]}, [["set", ["l", "0"], 2]]),
    ("a path through a scalar does not apply", {"a": 1}, [["set", ["a", "b"], 2]]),
    ("unknown op kind does not apply", {"a": 1}, [["inc", ["a"], 1]]),
    ("empty path does not apply", {"a": 1}, [["set", [], 1]]),
    (
        "unicode keys, astral and BMP",
        {},
        [
            ["set", ["\U0001f600", "\ufb01"], 1],
            ["set", ["\ufb01", "\U0001f600"], 2.5],
            ["set", ["\ue000"], [1.0, -0.0]],
        ],
    ),
    (
        "floats and integers keep their value",
        {"n": 1},
        [
            ["set", ["f"], 1.0],
            ["set", ["g"], 0.1],
            ["set", ["h"], 1e21],
            ["set", ["z"], -0.0],
            ["set", ["i"], -9007199254740991],
        ],
    ),
    (
        "keys that are JavaScript object internals are plain keys",
        {},
        [
            ["set", ["__proto__", "x"], 1],
            ["set", ["constructor"], {"prototype": 2}],
            ["set", ["hasOwnProperty", "toString"], 3],
            ["del", ["constructor", "prototype"]],
        ],
    ),
    (
        "the value is copied, not shared",
        {},
        [["set", ["a"], {"v": [1]}], ["set", ["b"], {"v": [1]}], ["set", ["a", "v", 0], 2]],
    ),
]


def _ops_cases() -> list[dict[str, Json]]:
    cases = []
    for name, state, ops in OPS_CASES:
        work = copy_value(state)
        try:
            apply_ops(work, ops)
            result: Json = work
        except OpError:
            if work != state:
                raise AssertionError(f"ops case {name!r}: a failed apply changed the state") from None
            result = None
        cases.append(
            {
                "name": name,
                "state": state,
                "ops": ops,
                "result": result,
                "hash": state_hash(result if result is not None else state),
            }
        )
    return cases


# -- replica -------------------------------------------------------------------------------------

E = 1_700_000_000_000  # an epoch: wall-clock milliseconds, like the server's
BASE: dict[str, Json] = {
    "members": {"alice": {"online": True, "since": 1000}},
    "players": {"alice": {"x": 10, "y": 20, "hp": 100, "t": 0}},
}
MOVES: list[list[Json]] = [
    [["set", ["players", "alice", "x"], 11]],
    [["set", ["players", "alice", "y"], 21.5]],
    [
        ["set", ["players", "bob"], {"x": 1, "y": 2, "hp": 100, "t": 0}],
        ["set", ["members", "bob"], {"online": True, "since": 2000}],
    ],
    [["set", ["players", "alice", "x"], 12], ["set", ["players", "bob", "x"], 2.0]],
    [["del", ["players", "bob"]], ["set", ["members", "bob"], {"online": False, "since": 3000, "until": 33000}]],
    [["set", ["log"], []], ["set", ["log", 0], "a"], ["set", ["log", 1], "b"]],
    [["del", ["log", 0]], ["set", ["log", 1], "c"]],
]


def _events(
    state: Json, epoch: int, first_seq: int, ops_list: Sequence[list[Json]], hash_at: Sequence[int] = ()
) -> list[Json]:
    """Events first_seq.. carrying ``ops_list`` from ``state``, with correct hashes at ``hash_at``."""
    work = copy_value(state)
    events = []
    for i, ops in enumerate(ops_list):
        seq = first_seq + i
        apply_ops(work, ops)
        event: dict[str, Json] = {"epoch": epoch, "seq": seq, "ops": ops}
        if seq in hash_at:
            event["hash"] = state_hash(work)
        events.append(event)
    return events


def _snap(state: Json, epoch: int = E, seq: int = 5) -> Json:
    return {"room": "r1", "epoch": epoch, "seq": seq, "member": "alice", "state": state}


def _catch_up(events: list[Json], epoch: int = E, seq: int | None = None) -> Json:
    last = seq if seq is not None else events[-1]["seq"]
    return {"room": "r1", "epoch": epoch, "seq": last, "member": "alice", "events": events}


def _offer(event: Json, verdict: str) -> Json:
    return {"offer": event, "verdict": verdict}


def _load(reply: Json, error: bool = False) -> Json:
    return {"load": reply, "error": error}


def _replica_steps() -> list[tuple[str, list[Json]]]:
    ev = _events(BASE, E, 6, MOVES)  # seq 6..12
    hashed = _events(BASE, E, 6, MOVES[:3], hash_at=(6, 8))
    e2 = E + 5000
    new_epoch_state = {"members": {}, "players": {}, "fresh": True}
    e2_events = _events(new_epoch_state, e2, 1, [[["set", ["fresh"], False]]])
    bad_hash = {**hashed[0], "hash": "0000000000000000"}
    return [
        ("in order: snapshot then events", [_load(_snap(BASE)), *(_offer(e, "applied") for e in ev)]),
        (
            "duplicates and old events are dropped",
            [
                _load(_snap(BASE)),
                _offer(ev[0], "applied"),
                _offer(ev[0], "dropped"),
                _offer({**ev[0], "seq": 5}, "dropped"),
                _offer(ev[1], "applied"),
            ],
        ),
        (
            "ahead of order: buffered, then drained when the gap fills",
            [
                _load(_snap(BASE)),
                _offer(ev[1], "resync"),
                _offer(ev[2], "resync"),
                _offer(ev[0], "applied"),
                _offer(ev[3], "applied"),
            ],
        ),
        (
            "a gap is repaired by a catch-up join",
            [_load(_snap(BASE)), _offer(ev[3], "resync"), _load(_catch_up(ev[0:4])), _offer(ev[4], "applied")],
        ),
        (
            "events before the first join reply wait for it",
            [_offer(ev[0], "buffered"), _offer(ev[1], "buffered"), _load(_snap(BASE)), _offer(ev[2], "applied")],
        ),
        (
            "a snapshot newer than buffered events discards them",
            [
                _offer({**ev[0], "seq": 4}, "buffered"),
                _offer({**ev[0], "seq": 5}, "buffered"),
                _load(_snap(BASE)),
                _offer(ev[0], "applied"),
            ],
        ),
        (
            "live events that overtake a catch-up reply are kept",
            [
                _load(_snap(BASE)),
                _offer(ev[0], "applied"),
                _offer(ev[1], "applied"),
                _load(_catch_up(ev[0:1])),
                _offer(ev[2], "applied"),
            ],
        ),
        (
            "an empty catch-up at the same seq",
            [_load(_snap(BASE)), _load(_catch_up([], seq=5)), _offer(ev[0], "applied")],
        ),
        (
            "a new epoch asks for a join; its snapshot then applies buffered events",
            [
                _load(_snap(BASE)),
                _offer(ev[0], "applied"),
                _offer(e2_events[0], "resync"),
                _offer(ev[1], "applied"),
                _load(_snap(new_epoch_state, e2, 0)),
            ],
        ),
        (
            "events of an older epoch are dropped",
            [_load(_snap(BASE)), _offer({**ev[0], "epoch": E - 1}, "dropped"), _offer(ev[0], "applied")],
        ),
        (
            "a catch-up reply for another epoch is refused",
            [_load(_snap(BASE)), _load(_catch_up(ev[0:2], epoch=E + 1), error=True)],
        ),
        (
            "a catch-up reply that stops short is refused",
            [_load(_snap(BASE)), _load(_catch_up(ev[0:1], seq=8), error=True)],
        ),
        (
            "a catch-up reply with a gap or a malformed event is refused",
            [
                _load(_snap(BASE)),
                _load(_catch_up([ev[0], ev[2]]), error=True),
                _load(_catch_up([ev[0], {"epoch": E, "seq": 7}], seq=7), error=True),
                _load(_catch_up([ev[0], {**ev[1], "epoch": E + 1}], seq=7), error=True),
            ],
        ),
        (
            "a catch-up reply with an op that does not apply asks for a snapshot",
            [_load(_snap(BASE)), _load(_catch_up([ev[0], {"epoch": E, "seq": 7, "ops": [["del", ["nothing"]]]}]))],
        ),
        (
            "a reply without a position or without a body is refused",
            [
                _load({"room": "r1", "state": {}}, error=True),
                _load({"room": "r1", "epoch": E, "seq": 1}, error=True),
                _load({"room": "r1", "epoch": E, "seq": 1, "state": []}, error=True),
            ],
        ),
        ("matching hashes are checked and accepted", [_load(_snap(BASE)), *(_offer(e, "applied") for e in hashed)]),
        ("a hash mismatch asks for a snapshot", [_load(_snap(BASE)), _offer(bad_hash, "resync")]),
        (
            "a hash mismatch is repaired by a snapshot",
            [_load(_snap(BASE)), _offer(bad_hash, "resync"), _load(_snap(BASE, seq=7)), _offer(ev[2], "applied")],
        ),
        (
            "malformed events ask for a snapshot",
            [
                _load(_snap(BASE)),
                _offer("not an event", "resync"),
                _offer({"epoch": E, "seq": 6}, "resync"),
                _offer({"epoch": E, "seq": "6", "ops": []}, "resync"),
                _offer({**ev[0], "hash": None}, "resync"),
                _offer(ev[0], "applied"),
            ],
        ),
        (
            "an op that does not apply asks for a snapshot and changes nothing",
            [
                _load(_snap(BASE)),
                _offer(
                    {"epoch": E, "seq": 6, "ops": [["set", ["players", "alice", "x"], 99], ["del", ["nothing"]]]},
                    "resync",
                ),
            ],
        ),
        ("list appends and shifting deletes", [_load(_snap(BASE)), *(_offer(e, "applied") for e in ev)]),
    ]


def replay_replica(steps: Sequence[Json], replica: RoomReplica | None = None) -> tuple[RoomReplica, list[Json]]:
    """Run ``steps`` on a replica; return it and what each step gave (verdict or error flag)."""
    replica = replica or RoomReplica("r1")
    outcomes: list[Json] = []
    for step in steps:
        if "offer" in step:
            outcomes.append(replica.offer(step["offer"]).value)
        else:
            try:
                replica.load(step["load"])
                outcomes.append(False)
            except ValueError:
                outcomes.append(True)
    return replica, outcomes


def _final(replica: RoomReplica) -> Json:
    pos = replica.position
    return {
        "epoch": replica.epoch,
        "seq": replica.seq,
        "state": replica.state,
        "hash": state_hash(replica.state),
        "needs_snapshot": replica.needs_snapshot,
        "position": None if pos is None else {"epoch": pos.epoch, "seq": pos.seq},
        "hash_checked": replica.hash_checked,
    }


def _replica_cases() -> list[dict[str, Json]]:
    cases = []
    for name, steps in _replica_steps():
        replica, outcomes = replay_replica(json.loads(json.dumps(steps)))
        expected = [s["verdict"] if "offer" in s else s["error"] for s in steps]
        if outcomes != expected:
            raise AssertionError(
                f"replica case {name!r}: the Python replica gives {outcomes}, the protocol says {expected}"
            )
        cases.append({"name": name, "steps": steps, "final": _final(replica)})
    return cases


# -- real room events ------------------------------------------------------------------------------


def _commit(room: Room, now_ms: int) -> Json:
    batch = room.begin_commit()
    if batch is None:
        raise AssertionError("nothing to commit")
    room.commit_succeeded(batch, now_ms)
    return batch.event


def _joined(room: Room, member: str, session_id: str, now_ms: int) -> Json:
    """A join and the commit of the event that carries it: the join's reply (a snapshot)."""
    pending = room.join(member, session_id, None, now_ms)
    if isinstance(pending, JoinPending):
        _commit(room, now_ms)
        reply = room.answer_join(pending)
        if reply is None:
            raise AssertionError("the join's event is committed")
        return reply.to_wire()
    return pending.to_wire()


def _arena_case() -> dict[str, Json]:
    room = Room("arena1", make_room_type("arena", {}), epoch=E, config=RoomConfig(hash_every=2))
    _joined(room, "alice", "s1", 1000)
    snapshot = _joined(room, "bob", "s2", 1500)  # bob is in it: presence and player
    events = []
    for i in range(3):  # three moves of one tick coalesce into one set of alice's player
        room.act("alice", 100 + i, "move", {"dx": 10, "dy": -2.5, "t": 1600.5 + i})
    room.act("bob", 7, "move", {"dx": -1, "dy": 0})
    events.append(_commit(room, 1600))
    room.leave("alice", "s1", 1700)
    events.append(_commit(room, 1700))
    room.expire(1700 + room.config.grace_ms)
    events.append(_commit(room, 40000))
    return {
        "name": "arena: presence, coalesced moves, a member leaving and expiring",
        "snapshot": snapshot,
        "events": events,
        "state": room.committed,
        "hash": state_hash(room.committed),
    }


def _doc_case() -> dict[str, Json]:
    room = Room("doc1", make_room_type("doc", {}), epoch=E, config=RoomConfig(hash_every=3))
    snapshot = _joined(room, "\u00e9mile", "s1", 1000)
    events = []
    room.act("\u00e9mile", 1, "set", {"path": ["title"], "value": "Caf\u00e9 \U0001f600"})
    room.act("\u00e9mile", 2, "set", {"path": ["tags"], "value": ["a", "b", "c"]})
    room.act("\u00e9mile", 3, "set", {"path": ["tags", 3], "value": "d"})
    events.append(_commit(room, 1100))
    room.act("\u00e9mile", 4, "del", {"path": ["tags", 0]})
    room.act("\u00e9mile", 5, "set", {"path": ["grid", "\U0001f600"], "value": 1.0})
    room.act("\u00e9mile", 6, "set", {"path": ["grid", "\ufb01"], "value": 1e21})
    room.act("\u00e9mile", 7, "set", {"path": ["grid", "z"], "value": 0.1})
    events.append(_commit(room, 1200))
    room.act("\u00e9mile", 8, "set", {"path": ["title"], "value": "draft"})
    room.act("\u00e9mile", 9, "set", {"path": ["title"], "value": "final"})  # coalesces with the one before
    room.act("\u00e9mile", 10, "del", {"path": ["grid", "z"]})
    events.append(_commit(room, 1300))
    return {
        "name": "doc: nested edits, list appends and deletes, unicode keys, numbers",
        "snapshot": snapshot,
        "events": events,
        "state": room.committed,
        "hash": state_hash(room.committed),
    }


class _Dealer(RoomType):
    """Deterministic private state for the view cases: each member holds a hand only it sees."""

    name = "dealer"
    actions = frozenset({"draw", "deal", "play", "fold"})

    def initial_state(self) -> dict[str, Json]:
        return {"table": [], "next": 10}

    def on_join(self, state: Mapping[str, Json], member: str) -> list[Effect]:
        return [set_op(private_path(member, "hand"), [state["next"]]), set_op(["next"], state["next"] + 1)]

    def apply(self, state: Mapping[str, Json], member: str, action: str, args: Mapping[str, Json]) -> list[Effect]:
        card = state["next"]
        if action == "draw":
            hand = state[PRIVATE_KEY][member]["hand"]
            return [set_op(private_path(member, "hand", len(hand)), card), set_op(["next"], card + 1)]
        if action == "deal":
            return [set_op(private_path(args["to"], "hand"), [card]), set_op(["next"], card + 1)]
        if action == "play":
            hand = state[PRIVATE_KEY][member]["hand"]
            return [del_op(private_path(member, "hand", 0)), set_op(["table", len(state["table"])], hand[0])]
        return [del_op([PRIVATE_KEY, member]), set_op(["folded", member], True)]


def _view_cases() -> list[dict[str, Json]]:
    """One room with private state, as each of its members receives it: the snapshot is the
    member's view, the events its form of them (public ops + its own private ops, the hash of
    its view), the final state its view."""
    room = Room("cards1", _Dealer(), epoch=E, config=RoomConfig(hash_every=2))
    members = ("alice", "bob", "carol")
    for i, member in enumerate(members):
        _joined(room, member, f"s-{member}", 1000 + i)
    start = {m: room.catch_up(m, None).to_wire() for m in members}
    whole: list[Json] = []
    room.act("alice", 1, "draw", {})
    room.act("bob", 1, "deal", {"to": "carol"})
    whole.append(_commit(room, 1100))
    room.act("alice", 2, "play", {})
    whole.append(_commit(room, 1200))
    room.act("carol", 1, "fold", {})
    room.act("bob", 2, "draw", {})
    whole.append(_commit(room, 1300))
    room.act("bob", 3, "play", {})
    whole.append(_commit(room, 1400))
    cases = []
    for member in members:
        view = room.view(member)
        cases.append(
            {
                "name": f"views: {member}'s view of a room with private hands (public + own private ops, own hash)",
                "snapshot": start[member],
                "events": [event_for(e, member) for e in whole],
                "state": view,
                "hash": state_hash(view),
            }
        )
    return cases


# -- error policy ------------------------------------------------------------------------------


def _policy_cases() -> list[dict[str, Json]]:
    """One case per URI of the table as it arrives (the server's errors with their
    ``retryable`` detail), then details that could change the answer, whose answers are
    written down here from ``docs/protocol.md`` (Errors): generation fails if
    :func:`kasagi.wire.recovery` disagrees."""
    cases: list[tuple[str, str, Json, Recovery]] = [
        (uri, uri, {"retryable": retryable(uri)} if uri.startswith("kasagi.error.") else {}, action)
        for uri, action in ERROR_POLICY.items()
    ]
    cases += [
        ("unavailable marked final (a damaged room) is final", ErrorURI.UNAVAILABLE, {"retryable": False}, GIVE_UP),
        ("unavailable without details is retried", ErrorURI.UNAVAILABLE, {}, Recovery.RETRY),
        ("a rate limit marked final is final", ErrorURI.RATE_LIMITED, {"retryable": False, "retry_after": 1}, GIVE_UP),
        ("a router timeout without details is retried", "wamp.error.timeout", {}, Recovery.RETRY),
        ("not_member without details still re-joins", ErrorURI.NOT_MEMBER, {}, Recovery.REJOIN),
        ("no_such_room marked retryable still re-opens", ErrorURI.NO_SUCH_ROOM, {"retryable": True}, Recovery.REOPEN),
        ("a refusal marked retryable stays final", ErrorURI.REJECTED, {"retryable": True}, GIVE_UP),
        ("an unknown kasagi error is final", "kasagi.error.unknown_to_this_client", {}, GIVE_UP),
        ("an unknown router error is final", "wamp.error.invalid_argument", {}, GIVE_UP),
    ]
    out = []
    for name, uri, details, expected in cases:
        got = recovery(uri, details)
        if got is not expected:
            raise AssertionError(f"policy {name!r}: kasagi.wire.recovery says {got.value}, expected {expected.value}")
        out.append({"name": name, "uri": uri, "details": details, "recovery": got.value})
    return out


# -- files ---------------------------------------------------------------------------------------

FILES: dict[str, tuple[str, Callable[[], list[dict[str, Json]]]]] = {
    "canonical.json": ("RFC 8785 encoding and state hash (sha256, first 16 hex digits) of values", _canonical_cases),
    "ops.json": ("set/del path ops applied all or nothing; result null = the ops do not apply", _ops_cases),
    "replica.json": ("a replica fed join replies and events: verdicts and final position/state", _replica_cases),
    "room.json": (
        "events of the Python room core, replayed from the snapshot (views: as one member receives them)",
        lambda: [_arena_case(), _doc_case(), *_view_cases()],
    ),
    "policy.json": ("what a client does after an error: retry, reopen, rejoin or give_up", _policy_cases),
}


def _dump(doc: Json) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def build_all() -> dict[str, str]:
    """The text of every vector file, by file name."""
    docs: dict[str, dict[str, Json]] = {
        name: {"description": desc, "cases": make()} for name, (desc, make) in FILES.items()
    }
    docs["policy.json"]["table"] = {uri: action.value for uri, action in ERROR_POLICY.items()}
    return {name: _dump(doc) for name, doc in docs.items()}


def write_all(directory: Path = VECTORS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in build_all().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kasagi.testing.vectors", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    parser.add_argument("--dir", type=Path, default=VECTORS_DIR)
    args = parser.parse_args(argv)
    if args.check:
        stale = [
            n
            for n, text in build_all().items()
            if not (args.dir / n).exists() or (args.dir / n).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            sys.stderr.write(f"{args.dir / name} is stale: run python -m kasagi.testing.vectors\n")
        return 1 if stale else 0
    for path in write_all(args.dir):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
