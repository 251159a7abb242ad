"""What the fault tests share: a recorded workload, the final check, and the figures each row
reports (waiting on conditions is :func:`tests.waiting.until`)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from kasagi.client import ClientOptions, KasagiClient, RoomHandle
from kasagi.roomtypes import make_room_type
from kasagi.testing.history import History, Report, check, effect_key
from tests.waiting import until

#: Deadlines of the clients in the fault suite (seconds): generous upper bounds.
CALL_TIMEOUT = 5.0
ACT_DEADLINE = 30.0


def pause(seconds: float) -> defer.Deferred:
    """Let the scenario run for a while (a fault's duration or a workload's length, never a
    wait for a result)."""
    return deferLater(reactor, seconds, lambda: None)


def client_options(**overrides: Any) -> ClientOptions:
    base: dict[str, Any] = {
        "call_timeout": CALL_TIMEOUT,
        "act_deadline": ACT_DEADLINE,
        "connect_timeout": 15.0,
        "ping_interval": 2.0,
        "ping_timeout": 2.0,
        "dial_timeout": 3.0,
    }
    base.update(overrides)
    return ClientOptions(**base)


def classify(failure: Failure) -> str:
    if failure.check(ApplicationError):
        return str(failure.value.error)
    return type(failure.value).__name__


class Writer:
    """One member acting steadily in a ``doc`` room, one action at a time, every action
    recorded in the history (keyed: ``set ["log", "member:cseq"]``)."""

    def __init__(
        self, history: History, label: str, client: KasagiClient, handle: RoomHandle, rate: float = 20.0
    ) -> None:
        self.history = history
        self.label = label
        self.client = client
        self.handle = handle
        self.period = 1.0 / rate
        self.running = False
        self.inflight: defer.Deferred | None = None
        self.done: defer.Deferred = defer.Deferred()

    def start(self) -> Writer:
        self.running = True
        self._next()
        return self

    def _next(self) -> None:
        if not self.running:
            if not self.done.called:
                self.done.callback(None)
            return
        started = reactor.seconds()
        cseq = self.handle.next_cseq()
        call = self.history.invoke(self.label, self.handle.room, self.client.authid, cseq)
        d = self.handle.act("set", {"path": ["log", effect_key(self.client.authid, cseq)], "value": cseq}, cseq=cseq)
        d.addCallbacks(lambda r: self.history.ok(call, r["seq"]), lambda f: self.history.fail(call, classify(f)))
        d.addBoth(lambda _: reactor.callLater(max(0.0, self.period - (reactor.seconds() - started)), self._next))
        self.inflight = d

    def stop(self) -> defer.Deferred:
        """Stop after the action in flight; fires when it has an answer."""
        self.running = False
        return self.done


@dataclass
class Figures:
    """The measured figures of one row, printed and appended to ``$KASAGI_FIGURES``."""

    row: str
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, **values: Any) -> None:
        self.values.update(values)

    def emit(self) -> None:
        line = {"row": self.row, **{k: round(v, 3) if isinstance(v, float) else v for k, v in self.values.items()}}
        print(f"\nFIGURES {json.dumps(line)}")
        path = os.environ.get("KASAGI_FIGURES")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **line}) + "\n")


@defer.inlineCallbacks
def settle_and_check(
    history: History,
    url: str,
    room: str,
    handles: dict[str, RoomHandle],
    *,
    room_type: str = "doc",
    timeout: float = 30.0,
    deadline: float | None = ACT_DEADLINE + CALL_TIMEOUT,
):
    """After the run: wait until every client has caught up with the room, read the room's
    whole history and state from its owner, and check the invariants. Returns the Report."""
    checker = yield KasagiClient.connect(url, "checker", options=client_options())
    try:
        view = yield checker.join(room, room_type)
        everyone = {**handles, "checker": view}
        # Read the room, then wait for every client to reach what was read; if the room moved
        # on meanwhile (a presence change, a reconnection), read it again.
        for _ in range(20):
            snap = yield checker.call(f"kasagi.room.{room}.join", None)
            full = yield checker.call(f"kasagi.room.{room}.join", {"epoch": snap["epoch"], "seq": 0})
            if full["seq"] != snap["seq"]:
                continue
            assert "events" in full, "the room's history from seq 1 is no longer held (raise history_events)"
            final, epoch = full["seq"], full["epoch"]
            try:
                yield until(
                    lambda final=final, epoch=epoch: all(
                        h.epoch == epoch and h.seq >= final and h.in_sync for h in everyone.values()
                    ),
                    timeout,
                    what=f"every client at seq {final}",
                )
            except AssertionError as exc:
                where = {label: (h.epoch, h.seq, h.in_sync, h.stats) for label, h in everyone.items()}
                raise AssertionError(f"{exc}: room at ({epoch}, {final}); clients {where}") from None
            if all(h.seq == final for h in everyone.values()):
                break
        else:
            raise AssertionError("the room kept changing while it was read")
        initial = make_room_type(room_type, {}).initial_state()
        initial.setdefault("members", {})
        report: Report = check(
            history,
            room=room,
            events=full["events"],
            store_state=snap["state"],
            initial_state=initial,
            final_states={label: h.state for label, h in everyone.items()},
            deadline=deadline,
        )
        return report
    finally:
        yield checker.close()
