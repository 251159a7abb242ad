"""On a real single node, clients' acts are called in the router's process past the dealer
(no INVOCATION per act), with the same answers, refusals and exactly-once results as through
it; with the lever off they go through the dealer again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError

from kasagi.client import KasagiClient
from kasagi.testing import free_port
from kasagi.testing.topology import http_get
from tests.conftest import start_node

pytestmark = pytest.mark.node

ACTS = 20


def _router_count(text: str, direction: str, kind: str) -> float:
    match = re.search(rf'^kasagi_router_messages_{direction}_total{{type="{kind}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest_twisted.inlineCallbacks
def _act_and_count(tmp_path: Path, local_calls: bool):  # type: ignore[no-untyped-def]
    """Join, act ``ACTS`` times (one refused, one repeated cseq), and return what the client got
    and the router's invocations sent for it."""
    metrics = free_port()
    node = start_node(tmp_path, service={"store": "memory"}, metrics_port=metrics, local_calls=local_calls)
    client = None
    try:
        client = yield KasagiClient.connect(node.url, "alice")
        room = yield client.join("local_calls_room")
        _, before = http_get(f"http://127.0.0.1:{metrics}/metrics")
        results = []
        for _ in range(ACTS):
            results.append((yield room.act("move", {"dx": 1, "dy": 0})))
        with pytest.raises(ApplicationError) as refused:
            yield room.act("move", {"dx": 11, "dy": 0})
        repeated = yield room.act("move", {"dx": 1, "dy": 0}, cseq=results[0]["cseq"])
        _, after = http_get(f"http://127.0.0.1:{metrics}/metrics")
        return {
            "results": results,
            "refused": refused.value,
            "repeated": repeated,
            "state": room.state,
            "invocations": _router_count(after, "sent", "invocation") - _router_count(before, "sent", "invocation"),
            "calls": _router_count(after, "received", "call") - _router_count(before, "received", "call"),
            "results_sent": _router_count(after, "sent", "result") - _router_count(before, "sent", "result"),
        }
    finally:
        if client is not None:
            yield client.close()
        node.stop()


@pytest_twisted.inlineCallbacks
def test_acts_are_answered_past_the_dealer_with_the_answers_the_dealer_gives(tmp_path: Path):
    local = yield _act_and_count(tmp_path / "local", local_calls=True)
    routed = yield _act_and_count(tmp_path / "routed", local_calls=False)
    # Past the dealer: no invocation for any act; through it: one per act.
    assert local["invocations"] == 0, local
    assert routed["invocations"] >= ACTS + 2, routed
    # The router still counts every call it received and every result it sent.
    for run in (local, routed):
        assert run["calls"] >= ACTS + 2 and run["results_sent"] >= ACTS + 1, run
    # The same answers either way: results in order, the same refusal, the same repeat.
    for run in (local, routed):
        seqs = [r["seq"] for r in run["results"]]
        assert seqs == sorted(seqs) and len(set(seqs)) == ACTS
        assert run["refused"].error == "kasagi.error.rejected"
        assert run["refused"].kwargs.get("field") == "args.dx"
        assert run["repeated"]["seq"] == run["results"][0]["seq"]
    assert local["refused"].args == routed["refused"].args
    assert local["refused"].kwargs == routed["refused"].kwargs
    assert local["state"]["players"]["alice"]["x"] == routed["state"]["players"]["alice"]["x"]
