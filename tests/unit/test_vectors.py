"""The shared test vectors (tests/vectors/): committed files match the Python core, and the
Python replica reproduces them (the JS SDK is checked against the same files by tests/js/)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kasagi.core.canonical import canonical_bytes, state_hash
from kasagi.core.ops import OpError, apply_ops
from kasagi.core.replica import RoomReplica, Verdict
from kasagi.testing.vectors import VECTORS_DIR, build_all, replay_replica


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS_DIR / name).read_text(encoding="utf-8"))["cases"]
    return cases


def test_committed_vectors_are_what_the_core_produces() -> None:
    """Every committed vector file equals what `python -m kasagi.testing.vectors` writes today."""
    for name, text in build_all().items():
        assert (Path(VECTORS_DIR) / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python -m kasagi.testing.vectors"
        )


@pytest.mark.parametrize("case", _cases("canonical.json"), ids=lambda c: c["name"])
def test_canonical_vectors(case: dict[str, Any]) -> None:
    """A value read back from the vector file encodes to the same canonical text and hash."""
    assert canonical_bytes(case["value"]).decode("utf-8") == case["canonical"]
    assert state_hash(case["value"]) == case["hash"]


@pytest.mark.parametrize("case", _cases("ops.json"), ids=lambda c: c["name"])
def test_ops_vectors(case: dict[str, Any]) -> None:
    """Ops read back from the vector file give the recorded result, or change nothing."""
    state = copy.deepcopy(case["state"])
    if case["result"] is None:
        with pytest.raises(OpError):
            apply_ops(state, case["ops"])
        assert state == case["state"]
    else:
        apply_ops(state, case["ops"])
        assert state == case["result"]
    assert state_hash(state) == case["hash"]


@pytest.mark.parametrize("case", _cases("replica.json"), ids=lambda c: c["name"])
def test_replica_vectors(case: dict[str, Any]) -> None:
    """The Python replica gives the recorded verdict at every step and ends in the recorded state."""
    replica, outcomes = replay_replica(case["steps"])
    assert outcomes == [s["verdict"] if "offer" in s else s["error"] for s in case["steps"]]
    final = case["final"]
    assert (replica.epoch, replica.seq, replica.needs_snapshot, replica.hash_checked) == (
        final["epoch"],
        final["seq"],
        final["needs_snapshot"],
        final["hash_checked"],
    )
    assert replica.state == final["state"]
    assert state_hash(replica.state) == final["hash"]
    pos = replica.position
    assert (None if pos is None else {"epoch": pos.epoch, "seq": pos.seq}) == final["position"]


@pytest.mark.parametrize("case", _cases("room.json"), ids=lambda c: c["name"])
def test_room_vectors(case: dict[str, Any]) -> None:
    """The room core's snapshot plus its events rebuild its final state and hash."""
    replica = RoomReplica(case["snapshot"]["room"])
    replica.load(case["snapshot"])
    assert [replica.offer(e) for e in case["events"]] == [Verdict.APPLIED] * len(case["events"])
    assert replica.state == case["state"]
    assert state_hash(replica.state) == case["hash"]
    assert replica.hash_checked >= 1
