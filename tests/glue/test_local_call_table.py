"""The room procedures keep a single node's table of local calls in step with what they
registered on the router: a room's ``act`` is in it while the room is registered on the link
of this process's router, and gone once the room is withdrawn or the link lost; a cluster
worker's links never fill it. An act called through the table is answered after its commit."""

from __future__ import annotations

from typing import Any

from autobahn.wamp import message
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kasagi import wire
from kasagi.core.commands import JoinCommand, OpenCommand
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.service.registry import RoomRegistry
from kasagi.service.settings import ServiceSettings
from kasagi.testing import MemoryRoomStore
from kasagi.wamp.local_calls import LocalCalls
from kasagi.wamp.procedures import RoomProcedures


class _Registration:
    def __init__(self) -> None:
        self.active = True

    def unregister(self) -> Any:
        self.active = False
        return succeed(None)


class _RouterSession:
    """What the procedures use of a session to a router: register, subscribe, publish."""

    def __init__(self) -> None:
        self.registered: dict[str, _Registration] = {}

    def register(self, fn: Any, uri: str, options: Any = None) -> Any:
        self.registered[uri] = _Registration()
        return succeed(self.registered[uri])

    def subscribe(self, fn: Any, topic: str, options: Any = None) -> Any:
        return succeed(object())

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        pass


class LocalCallTableTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.table = LocalCalls()
        settings = ServiceSettings(tick=0)
        self.procedures = RoomProcedures(clock=self.clock, settings=settings, local_calls=self.table)
        self.registry = RoomRegistry(
            clock=self.clock,
            store=MemoryRoomStore(),
            publish=self.procedures.publish,
            expose=self.procedures.expose,
            withdraw=self.procedures.withdraw,
            settings=settings,
            now_ms=lambda: int(self.clock.seconds() * 1000),
            types=BUILTIN_TYPES,
        )
        self.procedures.serve(self.registry)

    def _open(self, room: str) -> None:
        self.successResultOf(self.registry.open(OpenCommand(room, "arena", {})))
        self.clock.advance(0)

    def _act(self, request: int, session: int, member: str) -> Any:
        """Call r1's act through the table as ``member`` and return the answer once committed."""
        call = message.Call(request, wire.room_procedure("r1", "act"), args=["move", {"dx": 1, "dy": 0}, 1])
        answer = self.table.call(call, session, member, wire.CLIENT_ROLE)
        assert answer is not None
        self.clock.advance(1)
        return self.successResultOf(answer)

    def test_a_rooms_act_is_in_the_table_while_it_is_registered_on_this_processs_router(self) -> None:
        session = _RouterSession()
        self.successResultOf(self.procedures.attach("", session))
        self._open("r1")
        act = wire.room_procedure("r1", "act")
        self.assertIn(act, session.registered)
        self.assertIn(act, self.table)
        self.assertNotIn(wire.room_procedure("r1", "join"), self.table)
        self.successResultOf(self.procedures.withdraw("r1"))
        self.assertNotIn(act, self.table)

    def test_losing_the_router_empties_the_table(self) -> None:
        self.successResultOf(self.procedures.attach("", _RouterSession()))
        self._open("r1")
        self._open("r2")
        self.assertEqual(len(self.table), 2)
        self.procedures.detach("")
        self.assertEqual(len(self.table), 0)

    def test_the_links_of_a_cluster_worker_never_fill_it(self) -> None:
        self.successResultOf(self.procedures.attach("rs://router-a:8081", _RouterSession()))
        self._open("r1")
        self.assertEqual(len(self.table), 0)

    def test_an_act_called_through_the_table_is_answered_once_committed(self) -> None:
        self.successResultOf(self.procedures.attach("", _RouterSession()))
        self._open("r1")
        self.registry.runner("r1").join("alice", "7001", JoinCommand(None))
        self.clock.advance(0)
        before = self.registry.runner("r1").room.committed["players"]["alice"]["x"]
        reply = self._act(5, 7001, "alice")
        self.assertIsInstance(reply, message.Result)
        self.assertEqual(reply.request, 5)
        self.assertEqual(reply.args[0]["cseq"], 1)
        self.assertEqual(self.registry.runner("r1").room.committed["players"]["alice"]["x"], before + 1)
        # A member that has not joined is refused by the room, as through the dealer.
        refused = self._act(6, 7002, "mallory")
        self.assertIsInstance(refused, message.Error)
        self.assertEqual(refused.error, "kasagi.error.not_member")
