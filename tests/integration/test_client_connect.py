"""KasagiClient.connect over real TCP on the real reactor: a port where nothing listens."""

from __future__ import annotations

import re

import pytest
import pytest_twisted

from kasagi.client import ClientOptions, ConnectionLost, KasagiClient, ServerError
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess


@pytest_twisted.inlineCallbacks
def test_connect_to_a_port_where_nothing_listens_fails_at_once():
    """connect() to a local port with no listener fails with ConnectionLost naming the URL
    within 2 s, long before its connect deadline (30 s here)."""
    from twisted.internet import reactor

    url = f"ws://127.0.0.1:{free_port()}/ws"
    started = reactor.seconds()
    with pytest.raises(ConnectionLost, match=re.escape(f"nothing listens at {url}")):
        yield KasagiClient.connect(url, "alice", options=ClientOptions(connect_timeout=30.0))
    assert reactor.seconds() - started < 2.0


@pytest.mark.node
@pytest_twisted.inlineCallbacks
def test_a_refused_action_reads_as_its_uri_message_and_details(node: NodeProcess):
    """A move over the speed limit fails with a ServerError whose str() is the README's line."""
    client = yield KasagiClient.connect(node.url, "alice")
    try:
        room = yield client.join("refusal_str")
        with pytest.raises(ServerError) as info:
            yield room.act("move", {"dx": 50, "dy": 0})
        assert str(info.value) == (
            "kasagi.error.rejected: move is faster than the speed limit"
            " (field=args.dx, expected=|dx| <= 10, got=int 50)"
        )
        assert (info.value.error, info.value.details["field"], info.value.retryable) == (
            "kasagi.error.rejected",
            "args.dx",
            False,
        )
    finally:
        yield client.close()
