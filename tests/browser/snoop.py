"""A member that tries to learn other members' hidden state over raw WAMP, and reports all it got.

Run as ``python -m tests.browser.snoop PORT ROOM AUTHID``: it logs in as AUTHID, subscribes
to the room's topic (and tries prefix and wildcard subscriptions over every room), joins the
room (a snapshot), prints one line ``ready`` and then records every event published to it.
When a line arrives on stdin it joins again from seq 0 (a catch-up from history) and with no
position (a snapshot), prints everything it received as one JSON line and exits. Every refusal
it met is in the report too.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import SubscribeOptions
from twisted.internet import defer, reactor, threads

from kasagi import wire
from tests.security.wamp_raw import Login, close, connect_ws


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


@defer.inlineCallbacks
def snoop(port: int, room: str, authid: str):  # type: ignore[no-untyped-def]
    report: dict[str, Any] = {"events": [], "replies": [], "refused": [], "subscribed": []}
    session = yield connect_ws(port, Login(authid, "dev"))

    def record(*args: Any, **kwargs: Any) -> None:
        report["events"].append(_jsonable({"args": list(args), "kwargs": kwargs}))

    attempts = [
        (wire.room_topic(room), None),
        (wire.ROOM_PREFIX, "prefix"),
        ("kasagi.", "prefix"),
        (wire.ROOM_PREFIX, "wildcard"),
    ]
    for topic, match in attempts:
        try:
            yield session.subscribe(record, topic, options=SubscribeOptions(match=match) if match else None)
            report["subscribed"].append([topic, match])
        except ApplicationError as exc:
            report["refused"].append([topic, match, exc.error])

    join = wire.room_procedure(room, "join")
    first = yield session.call(join, None)
    report["replies"].append(_jsonable(first))
    print("ready", flush=True)
    yield threads.deferToThread(sys.stdin.readline)
    for since in ({"epoch": first["epoch"], "seq": 0}, None):
        try:
            reply = yield session.call(join, since)
            report["replies"].append(_jsonable(reply))
        except ApplicationError as exc:
            report["refused"].append([join, since, exc.error])
    print(json.dumps(report), flush=True)
    yield close(session)


def main() -> None:
    port, room, authid = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    failed: list[str] = []

    def done(result: Any) -> None:
        if isinstance(result, Exception) or hasattr(result, "getTraceback"):
            failed.append(result.getTraceback() if hasattr(result, "getTraceback") else repr(result))
        reactor.stop()  # type: ignore[attr-defined]

    reactor.callWhenRunning(lambda: snoop(port, room, authid).addBoth(done))  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    if failed:
        print(failed[0], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
