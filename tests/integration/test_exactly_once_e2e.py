"""Exactly once per client instance through a real node: two Python clients of one member."""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer

from kasagi import wire
from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.waiting import until

pytestmark = pytest.mark.node


@pytest_twisted.inlineCallbacks
def test_two_clients_of_one_member_act_at_once_and_an_old_retry_is_refused(node: NodeProcess):
    """Two clients of alice act 70 times each at once, every action applied once; then a retry
    of the first client's first cseq (69 newer since) is refused with outcome_unknown and
    changes nothing, while a retry of its latest still gets the first result."""
    room_id = "eo_two_tabs"
    a = yield KasagiClient.connect(node.url, "alice")
    b = yield KasagiClient.connect(node.url, "alice")
    try:
        ra = yield a.join(room_id, "doc")
        rb = yield b.join(room_id, "doc")
        rb._cseq = ra._cseq  # the two tabs' cseq ranges overlap entirely
        sent = [(ra, "a", ra.next_cseq(), i) for i in range(70)] + [(rb, "b", rb.next_cseq(), i) for i in range(70)]
        acks = yield defer.gatherResults(
            [r.act("set", {"path": [f"{tab}{i}"], "value": cseq}, cseq=cseq) for r, tab, cseq, i in sent]
        )
        last = max(ack["seq"] for ack in acks)
        yield until(lambda: ra.seq >= last)
        assert all(ra.state[f"{tab}{i}"] == cseq for _, tab, cseq, i in sent), "each tab's actions applied"
        assert ra.instance != rb.instance
        first_a, latest_a = sent[0][2], sent[69][2]
        with pytest.raises(ApplicationError) as info:
            yield ra.act("set", {"path": ["a0"], "value": "twice"}, cseq=first_a)
        assert info.value.error == wire.ErrorURI.OUTCOME_UNKNOWN
        assert (info.value.kwargs["field"], info.value.kwargs["retryable"]) == ("cseq", False)
        again = yield ra.act("set", {"path": ["a69"], "value": "twice"}, cseq=latest_a)
        assert again["seq"] == acks[69]["seq"]
        done = yield rb.act("set", {"path": ["end"], "value": True})
        yield until(lambda: ra.seq >= done["seq"])
        assert ra.state["a0"] == first_a and ra.state["a69"] == latest_a
    finally:
        yield a.close()
        yield b.close()
