"""Exactly once through the service: acts by cseq and client instance, across a reload, and the fast input path."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kasagi import wire
from kasagi.core import ValueLimits
from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.errors import OutcomeUnknown
from kasagi.service.settings import ServiceSettings
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import make_registry
from kasagi.wamp.edge import to_application_error
from kasagi.wamp.inputs import handle_input

TAB = 1_700_000_000_000_123


def put(cseq: int, value: Any, instance: int | None = None) -> ActCommand:
    """The act as a client sends it: ``[action, args, cseq, instance]``."""
    return ActCommand.from_wamp(["set", {"path": ["last"], "value": value}, cseq, instance], {})


class ExactlyOnceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = MemoryRoomStore(results_per_member=4)
        self.settings = ServiceSettings(tick=0, results_per_member=4)
        self.registry, self.clock, _, _ = make_registry(store=self.store, settings=self.settings)
        self.successResultOf(self.registry.open(OpenCommand("r1", "doc", {})))
        self.runner = self.registry.runner("r1")
        self.runner.join("alice", "s1", JoinCommand(None))
        self.clock.advance(0)

    def act(self, cmd: ActCommand, runner: Any = None) -> dict[str, Any]:
        d = (runner or self.runner).act("alice", cmd)
        self.clock.advance(0)
        return self.successResultOf(d)

    def test_a_retry_past_the_window_is_refused_as_outcome_unknown_even_after_a_reload(self):
        """Once a client instance has 4 newer results, a retry of its old cseq is refused with
        kasagi.error.outcome_unknown (final), before and after the room is reloaded, and the
        document keeps its latest value."""
        first = self.act(put(1, "one", TAB))
        for cseq in range(2, 6):
            self.act(put(cseq, cseq, TAB))
        self.assertEqual(self.act(put(1 + 1, "retry", TAB))["seq"], first["seq"] + 1)
        with self.assertRaises(OutcomeUnknown) as info:
            self.runner.act("alice", put(1, "retry", TAB))
        error = to_application_error(info.exception)
        self.assertEqual(
            (error.error, error.kwargs["field"], error.kwargs["retryable"]),
            (wire.ErrorURI.OUTCOME_UNKNOWN, "cseq", False),
        )
        second, clock2, _, _ = make_registry(store=self.store, settings=self.settings)
        self.successResultOf(second.open(OpenCommand("r1", "doc", {})))
        reloaded = second.runner("r1")
        reloaded.join("alice", "s2", JoinCommand(None))
        clock2.advance(0)
        self.assertRaises(OutcomeUnknown, reloaded.act, "alice", put(1, "retry", TAB))
        self.assertEqual(reloaded.room.committed["last"], 5)
        d = reloaded.act("alice", put(6, "six", TAB))
        clock2.advance(0)
        self.assertEqual(self.successResultOf(d)["cseq"], 6)

    def test_two_tabs_of_one_member_act_past_each_others_windows(self):
        """Two client instances of one member, one far ahead in cseqs, both keep acting."""
        for i in range(1, 10):
            self.act(put(10**12 + i, f"b{i}", TAB + 1))
            self.act(put(100 + i, f"a{i}", TAB))
        self.assertEqual(self.runner.room.committed["last"], "a9")
        self.assertEqual(sorted(self.runner.room.results[f"alice/{TAB}"]), [106, 107, 108, 109])

    def test_the_fast_input_path_takes_the_instance_and_answers_outcome_unknown(self):
        """An input published with ``[action, args, cseq, instance]`` is applied for that
        instance, and a retry past the window is answered to the publisher with outcome_unknown."""
        replies: list[dict[str, Any]] = []

        def publish(cseq: int) -> None:
            details = SimpleNamespace(
                publisher=42, publisher_authid="alice", topic=wire.input_topic("r1"), forward_for=None
            )
            handle_input(
                ("set", {"path": ["last"], "value": cseq}, cseq, TAB),
                {},
                details,
                runner_for=lambda _room: self.runner,
                limits=ValueLimits(),
                reply=lambda _room, _session, payload: replies.append(payload),
            )
            self.clock.advance(0)

        for cseq in range(1, 6):
            publish(cseq)
        self.assertEqual(sorted(self.runner.room.results[f"alice/{TAB}"]), [2, 3, 4, 5])
        publish(1)
        self.assertEqual([r.get("error") for r in replies], [wire.ErrorURI.OUTCOME_UNKNOWN])
        self.assertEqual((replies[0]["cseq"], replies[0]["details"]["field"]), (1, "cseq"))
        self.assertEqual(self.runner.room.committed["last"], 5)
