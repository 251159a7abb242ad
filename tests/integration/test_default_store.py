"""`kasagi up`'s default store: rooms live in the data directory and survive a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import threads

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.conftest import start_node
from tests.waiting import until

pytestmark = pytest.mark.node


@pytest_twisted.inlineCallbacks
def test_a_room_survives_a_node_restart_on_the_default_store(tmp_path: Path):
    """With no --store given, a node keeps rooms in <data-dir>/rooms.sqlite3: after the node is
    stopped and started again, the room comes back with its state, epoch and seq going on."""
    node = yield threads.deferToThread(start_node, tmp_path)
    client = None
    try:
        client = yield KasagiClient.connect(node.url, "alice")
        room = yield client.join("kept", "doc")
        ack = yield room.act("set", {"path": ["note"], "value": "still here"})
        epoch = room.epoch
        yield client.close()
        client = None
        assert (node.options.data_dir / "rooms.sqlite3").is_file()
        yield threads.deferToThread(node.stop)
        node = yield threads.deferToThread(NodeProcess(node.options).start, 120.0)
        client = yield KasagiClient.connect(node.url, "bob")
        again = yield client.join("kept", "doc")
        yield until(lambda: "bob" in again.state.get("members", {}), 10)
        assert again.epoch == epoch
        assert again.state["note"] == "still here"
        assert again.seq > ack["seq"]
    finally:
        if client is not None:
            yield client.close()
        node.kill()
