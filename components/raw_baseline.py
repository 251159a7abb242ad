"""The benchmark's raw baseline: the same procedures and topics as the room service, with
none of its work.

Each move is applied without validation (no speed limit, no clamping, no dedupe, no store,
no history, no batching) and published at once as a one-op event; ``join`` returns the
positions. ``kasagi bench --baseline raw`` runs the workload against it on the same router,
so Kasagi's cost over the bare router is a ratio measured side by side. Selected with
``NodeOptions(service_class="components.raw_baseline.RawBaseline")``; never for production.
"""

from __future__ import annotations

from typing import Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallDetails, PublishOptions, RegisterOptions, SubscribeOptions
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

from kasagi import wire
from kasagi.roomtypes.arena import START_HP, start_position
from kasagi.wamp import caller_member

from .room_service import RoomService

__all__ = ["RawBaseline"]

EPOCH = 1


class RawBaseline(RoomService):
    """Registers ``kasagi.lobby.open`` and, per room, ``join``/``act``/``leave``; republishes
    every move (from ``act`` or from the input topic) unvalidated."""

    log = Logger()

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        self._rooms: dict[str, dict[str, dict[str, Any]]] = {}
        self._seqs: dict[str, int] = {}
        self._publish_options = PublishOptions(acknowledge=False)
        shared = RegisterOptions(invoke="roundrobin", details_arg="details")
        yield self.register(self._open_raw, wire.LOBBY_OPEN, shared)
        # Every room of the baseline is public (the client authorizer asks before a subscription).
        yield self.register(self._access_raw, wire.ROOM_ACCESS, shared)
        fallback = RegisterOptions(match="wildcard", invoke="roundrobin", details_arg="details")
        for verb in wire.ROOM_VERBS:
            yield self.register(self._no_such_room, wire.room_wildcard(verb), fallback)
        yield self.subscribe(self._input, wire.INPUT_PREFIX, SubscribeOptions(match="prefix", details_arg="details"))
        self.log.warn("raw baseline ready: moves are NOT validated (benchmark only)")

    def onLeave(self, details: Any) -> None:
        self.disconnect()

    @inlineCallbacks
    def _open_raw(self, room: str, *args: Any, details: CallDetails, **kwargs: Any):  # type: ignore[no-untyped-def]
        if room not in self._rooms:
            self._rooms[room] = {}
            self._seqs[room] = 0
            options = RegisterOptions(details_arg="details")
            yield self.register(
                lambda *a, details, **kw: self._join_raw(room, details), wire.room_procedure(room, "join"), options
            )
            yield self.register(
                lambda *a, details, **kw: self._act_raw(room, details.caller_authid, *a, **kw),
                wire.room_procedure(room, "act"),
                options,
            )
            yield self.register(lambda *a, details, **kw: {}, wire.room_procedure(room, "leave"), options)
        return {"room": room, "type": "arena", "epoch": EPOCH, "seq": self._seqs[room]}

    def _no_such_room(self, *args: Any, details: CallDetails, **kwargs: Any) -> None:
        raise ApplicationError(wire.ErrorURI.NO_SUCH_ROOM, "the room is not open; call kasagi.lobby.open first")

    def _access_raw(self, room: str, details: CallDetails) -> dict[str, Any]:
        return {"room": room, "exists": True, wire.OPEN_MEMBERS: None}

    def _join_raw(self, room: str, details: CallDetails) -> dict[str, Any]:
        member = caller_member(details)
        players = self._rooms[room]
        reply = {
            "room": room,
            "epoch": EPOCH,
            "seq": self._seqs[room],
            "member": member,
            "state": {"players": dict(players)},
        }
        if member not in players:
            x, y = start_position(member)
            self._emit(room, member, {"x": x, "y": y, "hp": START_HP, "t": 0})
        return reply

    def _act_raw(self, room: str, member: str, action: str, args: dict[str, Any], cseq: int) -> dict[str, Any]:
        return {"seq": self._move(room, member, args), "cseq": cseq}

    def _input(self, action: str, args: dict[str, Any], cseq: int, details: Any = None) -> None:
        room = details.topic[len(wire.INPUT_PREFIX) :]
        if room in self._rooms:
            self._move(room, details.publisher_authid, args)

    def _move(self, room: str, member: str, args: dict[str, Any]) -> int:
        player = self._rooms[room].get(member) or {"x": 0, "y": 0, "hp": START_HP}
        return self._emit(
            room,
            member,
            {"x": player["x"] + args["dx"], "y": player["y"] + args["dy"], "hp": player["hp"], "t": args.get("t", 0)},
        )

    def _emit(self, room: str, member: str, player: dict[str, Any]) -> int:
        self._rooms[room][member] = player
        seq = self._seqs[room] = self._seqs[room] + 1
        event = {"epoch": EPOCH, "seq": seq, "ops": [["set", ["players", member], player]]}
        self.publish(wire.room_topic(room), event, options=self._publish_options)
        return seq
