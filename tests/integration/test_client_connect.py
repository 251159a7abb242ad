"""KasagiClient.connect over real TCP on the real reactor: a port where nothing listens."""

from __future__ import annotations

import re

import pytest
import pytest_twisted

from kasagi.client import ClientOptions, ConnectionLost, KasagiClient
from kasagi.testing import free_port


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
