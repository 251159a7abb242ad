"""A client-supplied doc schema can't stall the room service: through a real node, the most
expensive schema allowed, checked against large documents, leaves another room's act latency
within a generous bound."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor

from kasagi.client import KasagiClient
from kasagi.testing.node import NodeProcess
from tests.security.nodes import start

pytestmark = pytest.mark.node

ELEMENT = {"type": "object", "properties": {"x": {"type": "integer"}}}
#: 63 subschemas over the document, each looking at every element: the most one value may get.
WORST = {"anyOf": [{"type": "object", "properties": {"items": {"type": "array", "items": ELEMENT}}}] * 63}
ATTACKS = 10
#: Another room's p99 act latency must stay under this while the attack runs (seconds).
P99_BOUND = 0.5


@pytest.fixture(scope="module")
def dev_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = start(Path(tmp_path_factory.mktemp("schema-abuse")), secret=None, service={"store": "memory", "tick": 0.005})
    yield proc
    proc.stop()


@pytest_twisted.inlineCallbacks
def test_the_worst_schema_over_a_large_document_leaves_other_rooms_fast(dev_node: NodeProcess):
    """While one member sends acts that make the worst allowed schema check 3000-element lists
    (each refused), another member's acts in another room keep a p99 under 0.5 s."""
    attacker = yield KasagiClient.connect(dev_node.url, "mallory")
    probe = yield KasagiClient.connect(dev_node.url, "paula")
    try:
        yield attacker.open("abused", "doc", {"schema": WORST})
        target = yield attacker.join("abused", "doc")
        other = yield probe.join("calm")
        bad = [{"x": str(i)} for i in range(3000)]  # every branch checks every element, then fails
        attack = [target.act("set", {"path": ["items"], "value": bad}) for _ in range(ATTACKS)]
        done = defer.DeferredList(attack, consumeErrors=True)
        latencies: list[float] = []
        deadline = reactor.seconds() + 120
        while (not done.called or len(latencies) < 20) and reactor.seconds() < deadline:
            started = reactor.seconds()
            yield other.act("move", {"dx": 1, "dy": 0})
            latencies.append(reactor.seconds() - started)
        results = yield done
        assert all(not ok and isinstance(r.value, ApplicationError) for ok, r in results)
        assert all(r.value.error == "kasagi.error.rejected" for _, r in results)
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        assert p99 < P99_BOUND, f"p99 {p99:.3f} s over {len(latencies)} acts"
    finally:
        yield attacker.close()
        yield probe.close()
