"""The JS SDK in Node (npm `autobahn`) against a real node, watched by the Python client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, threads

from kasagi.client import KasagiClient
from kasagi.core.canonical import state_hash
from kasagi.testing.node import NodeProcess
from tests.integration.test_node_end_to_end import SERIALIZERS
from tests.js_script import run_js
from tests.waiting import until

pytestmark = pytest.mark.node
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "live_client.mjs"


def _run_js(url: str, serializer: str, room: str) -> dict[str, Any]:
    return run_js(SCRIPT, url, serializer, room)


@pytest_twisted.inlineCallbacks
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_js_sdk_converges_with_the_python_client(tmp_path: Path, serializer: str):
    """Two JS members move (one through a dropped connection); the JS copies equal each other and
    the Python client's copy at the same seq, refusals carry the error URI, and hashes check out."""
    from tests.conftest import start_node

    proc: NodeProcess = start_node(tmp_path, service={"store": "memory", "tick": 0.01, "hash_every": 3})
    py = None
    try:
        py = yield KasagiClient.connect(proc.url, "py_watcher", serializer=serializer)
        room = yield py.join("js_live")
        hashes: dict[int, str] = {}
        room.on_change(lambda _event: hashes.__setitem__(room.seq, state_hash(room.state)))
        result = yield threads.deferToThread(_run_js, proc.url, serializer, "js_live")
        yield until(lambda: room.seq >= result["seq"], timeout=15)
        assert result["selfAfterJoin"] == {"player": True, "online": True, "other": True}, "join shows the joiner"
        assert result["same"], "both JS members hold the same state"
        assert result["inOrder"], "the JS room reported events strictly in seq order"
        assert result["hash"] == hashes[result["seq"]], "the JS state hash equals the Python one at that seq"
        assert result["hashChecked"] >= 3, "the JS SDK verified the server's state hashes"
        assert result["refused"]["error"] == "kasagi.error.rejected"
        assert result["refused"]["details"]["field"] == "args.dx"
        assert result["reconnects"] >= 1
        cseqs = [ack["cseq"] for ack in result["acks"]]
        assert len(set(cseqs)) == len(cseqs) == 11
        assert set(result["state"]["players"]) >= {"js_alice", "js_bob", "py_watcher"}
    finally:
        if py is not None:
            yield py.close()
        yield defer.succeed(None)
        proc.stop()
