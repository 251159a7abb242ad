"""Per-member private state through a real router and room service: each member receives its own
private entry only, whatever it subscribes to or calls."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, SubscribeOptions
from twisted.internet import threads

from kasagi.client import KasagiClient
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from tests.security.nodes import SECRET, start, token
from tests.security.wamp_raw import Login, close, connect_ws
from tests.waiting import until

pytestmark = pytest.mark.node
SECRETS = "kasagi.testing.secrets:Secrets"
DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")


@pytest.fixture(scope="module")
def secrets_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A secure node serving the ``secrets`` test room type, a hash in every third event."""
    proc = start(
        tmp_path_factory.mktemp("secrets"),
        secret=SECRET,
        loglevel="info",
        service={"store": "memory", "tick": 0.005, "hash_every": 3},
        room_types=(SECRETS,),
        metrics_port=free_port(),
    )
    yield proc
    proc.stop()


def _secrets_of(handle: Any, member: str) -> set[int]:
    return {handle.state["private"][member]["secret"]} if member in handle.state.get("private", {}) else set()


class _Snoop:
    """Everything a raw session received, as text."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def event(self, *args: Any, **kwargs: Any) -> None:
        self.seen.append(json.dumps([args, kwargs], default=str))

    def text(self) -> str:
        return "\n".join(self.seen)


@pytest_twisted.inlineCallbacks
def test_a_snooping_member_never_receives_another_members_secret(secrets_node: NodeProcess):
    """alice and bob change their secrets (by act and by the fast input path) while eve, a member,
    and mallory, who is not, subscribe with every trick, forge publish options, join for snapshots
    and catch-ups and provoke refusals: neither ever sees a digit of alice's or bob's secrets, and
    each of alice and bob holds its own view, hash-checked, without a resync."""
    url, port = secrets_node.url, secrets_node.options.port
    alice = yield KasagiClient.connect(url, "alice", token("alice"))
    bob = yield KasagiClient.connect(url, "bob", token("bob"))
    eve = yield KasagiClient.connect(url, "eve", token("eve"))
    raw_eve = yield connect_ws(port, Login("eve", token("eve")))
    mallory = yield connect_ws(port, Login("mallory", token("mallory")))
    snoop, outside = _Snoop(), _Snoop()
    try:
        yield alice.open("vault", "secrets")
        ha = yield alice.join("vault", "secrets")
        hb = yield bob.join("vault", "secrets")
        he = yield eve.join("vault", "secrets")
        yield raw_eve.subscribe(snoop.event, "kasagi.room.vault")
        yield mallory.subscribe(outside.event, "kasagi.room.vault")
        for session, sink in ((raw_eve, snoop), (mallory, outside)):
            for topic, match in (("kasagi.room.", "prefix"), ("kasagi.room..", "wildcard"), ("kasagi.", "prefix")):
                try:
                    yield session.subscribe(sink.event, topic, options=SubscribeOptions(match=match))
                except ApplicationError:
                    pass  # refused, as the authorization tests require
            for options in (
                PublishOptions(acknowledge=True, eligible_authid=["bob"]),
                PublishOptions(acknowledge=True),
            ):
                try:
                    yield session.publish("kasagi.room.vault", {"epoch": 1, "seq": 99, "ops": []}, options=options)
                except ApplicationError:
                    pass  # clients may not publish on a room's topic
        seen: set[int] = set()
        for handle, member in ((ha, "alice"), (hb, "bob")):
            handle.on_change(lambda _e, h=handle, m=member: seen.update(_secrets_of(h, m)))
            seen.update(_secrets_of(handle, member))
        for _ in range(4):
            yield hb.act("roll", {})
        yield hb.send("roll", {})
        ack = yield ha.act("give", {"to": "bob"})
        for member in ("alice", "bob"):
            try:
                yield he.act("give", {"to": member + "x"})
            except ApplicationError as exc:
                snoop.seen.append(json.dumps([exc.error, exc.args, exc.kwargs], default=str))
        yield until(lambda: hb.seq >= ack["seq"] and ha.seq >= ack["seq"])
        seen.update(_secrets_of(ha, "alice") | _secrets_of(hb, "bob"))
        for since in (None, {"epoch": he.epoch, "seq": 0}, {"epoch": he.epoch, "seq": he.seq - 3}):
            reply = yield raw_eve.call("kasagi.room.vault.join", since)
            snoop.seen.append(json.dumps(reply, default=str))
        try:
            yield mallory.call("kasagi.room.vault.join", None)
        except ApplicationError as exc:
            outside.seen.append(json.dumps([exc.error, exc.args, exc.kwargs], default=str))
        yield hb.act("forget", {})
        last = yield ha.act("note", {"text": "done"})
        yield until(lambda: min(ha.seq, hb.seq, he.seq) >= last["seq"])
        mine = _secrets_of(he, "eve")
        assert snoop.seen and outside.seen
        for text in (snoop.text(), outside.text(), json.dumps(he.state)):
            assert not set(map(int, DIGITS.findall(text))) & seen
        assert len(seen) >= 6 and not seen & mine
        assert set(ha.state["private"]) == {"alice"} and "private" not in hb.state
        assert set(he.state["private"]) == {"eve"}
        for handle in (ha, hb, he):
            assert handle.replica.hash_checked > 0 and handle.stats["resyncs"] == 0
        metrics = yield threads.deferToThread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{secrets_node.options.metrics_port}/metrics").read()
        )
        log = secrets_node.log_path.read_text(errors="replace")
        for text in (metrics.decode(), log):
            assert not set(map(int, DIGITS.findall(text))) & (seen | mine)
    finally:
        yield close(raw_eve, mallory)
        for client in (alice, bob, eve):
            yield client.close()
