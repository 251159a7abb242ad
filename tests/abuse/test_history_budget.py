"""What one member can make the node keep, through a real node with the defaults of
``kasagi up``: history is bounded in bytes (``docs/protocol.md``, Limits), and a join from an
old position costs a snapshot, never the whole history."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from kasagi import wire
from kasagi.client import KasagiClient
from kasagi.store.factory import SQLITE_FILE
from kasagi.testing.node import NodeProcess
from tests.abuse.conftest import cpu_seconds

pytestmark = [pytest.mark.node, pytest.mark.abuse, pytest.mark.timeout(240)]
MIB = 1024 * 1024
#: The elements replaced: a list of 8 elements of 60 KB (four strings of 15,000 characters).
ELEMENTS = 8


def element(n: int) -> list[str]:
    """The ``n``-th version of a list element: 60 KB that differ from the last version."""
    return [chr(ord("a") + n % 26) * 15_000] * 4


@defer.inlineCallbacks
def replace_elements(handle: Any, count: int, seconds: float, window: int = 8):  # type: ignore[no-untyped-def]
    """Replace the room's list elements ``count`` times, ``window`` actions in flight (the
    client retries what the rate limit refuses), for at most ``seconds``; fires with how
    many were acknowledged."""
    for i in range(ELEMENTS):
        yield handle.act("set", {"path": ["list", i] if i else ["list"], "value": element(i) if i else [element(0)]})
    deadline = reactor.seconds() + seconds
    done = 0
    sent = 0
    while done < count and reactor.seconds() < deadline:
        batch = [
            handle.act("set", {"path": ["list", (sent + k) % ELEMENTS], "value": element(sent + k)})
            for k in range(min(window, count - sent))
        ]
        sent += len(batch)
        yield defer.gatherResults(batch, consumeErrors=True)
        done += len(batch)
    return done


@pytest_twisted.inlineCallbacks
def test_replacing_a_large_list_element_at_the_allowed_rate_keeps_the_node_within_the_history_budget(
    abuse_node: NodeProcess, record_property: Any
):
    """One member replacing 60 KB list elements as fast as the rate limit lets it (2,400 times,
    about 140 MB of changes, at most a minute) grows the node's resident memory by less than
    the history budget of a process (64 MiB): the room keeps its last 1 MiB of events."""
    client = yield KasagiClient.connect(abuse_node.url, "replacer", serializer="msgpack")
    try:
        handle = yield client.join("replaced", "doc")
        yield replace_elements(handle, 100, 30)
        before = abuse_node.rss()
        done = yield replace_elements(handle, 2_400, 60)
        growth = abuse_node.rss() - before
        record_property("growth_mib", round(growth / MIB, 1))
        record_property("replacements", done)
        assert done * 60_000 > 1.25 * wire.Limits.HISTORY_PROCESS_BYTES, f"only {done} actions in the time allowed"
        assert growth < wire.Limits.HISTORY_PROCESS_BYTES, f"the node grew by {growth / MIB:.0f} MiB"
    finally:
        yield client.close()


def store_bytes(node: NodeProcess) -> int:
    """Bytes of the node's SQLite store on disk: the file and its write-ahead log."""
    path = node.options.data_dir.resolve() / SQLITE_FILE
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


#: What the store may grow by while one room is written to at the allowed rate: the room's
#: stored history budget (4 MiB) plus its events since the last snapshot (at most the 4 MiB
#: snapshot threshold and one event), its snapshot, the write-ahead log and free pages.
STORE_GROWTH_BOUND = 32 * MIB


@pytest_twisted.inlineCallbacks
def test_replacing_a_large_list_element_at_the_allowed_rate_keeps_the_store_within_its_history_budget(
    abuse_node: NodeProcess, record_property: Any
):
    """One member replacing 60 KB list elements as fast as the rate limit lets it (2,400 times,
    about 140 MB of changes, at most a minute) grows the SQLite store (its file and its
    write-ahead log) by less than 32 MiB."""
    client = yield KasagiClient.connect(abuse_node.url, "storer", serializer="msgpack")
    try:
        handle = yield client.join("stored", "doc")
        yield replace_elements(handle, 100, 30)
        before = store_bytes(abuse_node)
        done = yield replace_elements(handle, 2_400, 60)
        growth = store_bytes(abuse_node) - before
        record_property("store_growth_mib", round(growth / MIB, 1))
        record_property("replacements", done)
        assert done * 60_000 > 100 * MIB, f"only {done} actions in the time allowed"
        assert growth < STORE_GROWTH_BOUND, f"the store grew by {growth / MIB:.0f} MiB"
    finally:
        yield client.close()


@pytest_twisted.inlineCallbacks
def test_joins_from_an_old_position_cost_a_snapshot_not_the_history(abuse_node: NodeProcess, record_property: Any):
    """Five joins from seq 1 of a room with about 40 MB of events since are each answered with
    a snapshot, together in under a second of the node's CPU and under 64 MiB of memory."""
    client = yield KasagiClient.connect(abuse_node.url, "historian", serializer="msgpack")
    askers = []
    try:
        handle = yield client.join("historic", "doc")
        yield replace_elements(handle, 700, 60)
        epoch = handle.epoch
        for i in range(5):
            asker = yield KasagiClient.connect(abuse_node.url, f"asker{i}", serializer="msgpack")
            askers.append(asker)
            yield asker.open("historic", "doc")
        cpu, memory = cpu_seconds(abuse_node), abuse_node.rss()
        answers = yield defer.DeferredList(
            [
                asker.call(wire.room_procedure("historic", "join"), {"epoch": epoch, "seq": 1}, timeout=30)
                for asker in askers
            ],
            consumeErrors=True,
        )
        spent, grown = cpu_seconds(abuse_node) - cpu, abuse_node.rss() - memory
        kinds = [sorted(reply) if ok else str(reply.value)[:120] for ok, reply in answers]
        figures = f"{spent:.2f} s of CPU, {grown / MIB:.0f} MiB"
        assert all(ok and "state" in reply and "events" not in reply for ok, reply in answers), f"{kinds}; {figures}"
        record_property("cpu_s", round(spent, 3))
        record_property("growth_mib", round(grown / MIB, 1))
        assert spent < 1.0, f"the joins cost {spent:.2f} s of CPU"
        assert grown < wire.Limits.HISTORY_PROCESS_BYTES, f"the joins grew the node by {grown / MIB:.0f} MiB"
    finally:
        for asker in askers:
            yield asker.close()
        yield client.close()
