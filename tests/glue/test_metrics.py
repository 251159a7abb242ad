"""The metrics and health endpoints: counters the service keeps appear in Prometheus form,
and readiness answers 200 or 503 with the reason."""

from __future__ import annotations

from prometheus_client.exposition import generate_latest
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from kasagi.cluster.routers import domain_error
from kasagi.core.admission import AdmissionLimits
from kasagi.core.commands import ActCommand, JoinCommand, OpenCommand
from kasagi.core.errors import InvalidArgument, Unavailable
from kasagi.metrics import RoomsCollector, RouterCollector, ServiceMetrics, metrics_site, new_registry
from kasagi.service.admission import Admission
from kasagi.service.registry import RoomRegistry
from kasagi.service.settings import ServiceSettings
from kasagi.store.memory import MemoryRoomStore
from kasagi.testing import RecordingPublisher


class MetricsTests(SynchronousTestCase):
    def test_room_counters_and_batches_are_exported(self):
        """After a member joins and acts, the scrape shows the room, the member online, the
        accepted action, the snapshot sent and one batch of one action."""
        prom = new_registry()
        observer = ServiceMetrics(prom)
        clock = Clock()
        registry = RoomRegistry(
            clock=clock,
            store=MemoryRoomStore(),
            publish=RecordingPublisher(),
            expose=lambda room: None,
            settings=ServiceSettings(tick=0),
            now_ms=lambda: int(clock.seconds() * 1000),
            observer=observer,
        )
        self.successResultOf(registry.open(OpenCommand("r1", "arena", {})))
        runner = registry.runner("r1")
        runner.join("alice", "s1", JoinCommand(None))
        clock.advance(0)
        ack = runner.act("alice", ActCommand("move", {"dx": 1, "dy": 0}, 1))
        clock.advance(0)
        self.successResultOf(ack)
        prom.register(RoomsCollector(registry))
        observer.refused("kasagi.error.rejected")
        text = generate_latest(prom).decode()
        for line in (
            "kasagi_rooms 1.0",
            "kasagi_members_online 1.0",
            "kasagi_actions_accepted_total 1.0",
            'kasagi_calls_refused_total{reason="rejected"} 1.0',
            'kasagi_joins_total{kind="snapshot"} 1.0',
        ):
            self.assertIn(line, text)
        self.assertIn('kasagi_batch_actions_bucket{le="1.0"}', text)
        self.assertIn("process_cpu_seconds_total", text)

    def test_the_overload_state_is_exported(self):
        """With admission control, the scrape shows the lag, the waiting bound and the refusals by reason."""
        prom = new_registry()
        clock = Clock()
        admission = Admission(clock, AdmissionLimits(overload_lag=0.04))
        registry = RoomRegistry(
            clock=clock,
            store=MemoryRoomStore(),
            publish=RecordingPublisher(),
            expose=lambda room: None,
            settings=ServiceSettings(tick=0),
            now_ms=lambda: int(clock.seconds() * 1000),
            admission=admission,
        )
        for _ in range(10):
            admission.control.sample(0.5)  # a backlog
        self.assertIsNotNone(admission.refuse_backlogged())
        prom.register(RoomsCollector(registry))
        text = generate_latest(prom).decode()
        for line in (
            "kasagi_overload_standing_lag_seconds 0.5",
            "kasagi_overload_max_waiting 50.0",
            "kasagi_commit_tick_seconds 0.05",
            'kasagi_overload_refused_total{reason="backlog"} 1.0',
            'kasagi_overload_refused_total{reason="delay"} 0.0',
        ):
            self.assertIn(line, text)

    def test_router_figures_are_read_from_the_router_stats(self):
        """Sessions by role (client and admin only) and messages by type come from the router's own counters."""
        prom = new_registry()
        by_role = {"client": 3, "backend": 1, "authenticator": 3, "monitor": 1}
        figures = {
            "sessions": 8,
            "sessions_by_role": by_role,
            "messages": {"sent": {"EVENT": 10}, "received": {"CALL": 4}},
        }
        prom.register(RouterCollector(lambda: figures))
        text = generate_latest(prom).decode()
        self.assertIn('kasagi_router_sessions{role="client"} 3.0', text)
        self.assertIn('kasagi_router_sessions{role="admin"} 0.0', text)
        self.assertNotIn('role="backend"', text)
        self.assertNotIn('role="authenticator"', text)
        self.assertIn('kasagi_router_messages_sent_total{type="event"} 10.0', text)
        self.assertIn('kasagi_router_messages_received_total{type="call"} 4.0', text)

    def test_readiness_answers_503_with_the_reason_until_ready(self):
        """/health/ready is 503 naming what is missing, then 200; /health/live is always 200."""
        state = {"ready": (False, "joined 1 of 2 routers")}
        site = metrics_site(new_registry(), lambda: state["ready"])
        resource = site.resource.children[b"health"]
        request = DummyRequest([b"ready"])
        resource.render(request)
        self.assertEqual(
            (request.responseCode, b"".join(request.written)), (503, b"not ready: joined 1 of 2 routers\n")
        )
        state["ready"] = (True, "")
        request = DummyRequest([b"ready"])
        resource.render(request)
        self.assertEqual((request.responseCode, b"".join(request.written)), (200, b"ready\n"))
        self.assertEqual(resource.render(DummyRequest([b"live"])), b"live\n")

    def test_a_forwarded_error_keeps_its_meaning(self):
        """An owner's domain error forwarded through the lobby stays that error; anything else is unavailable."""
        from autobahn.wamp.exception import ApplicationError

        err = domain_error(
            ApplicationError("kasagi.error.invalid_argument", "wrong type", field="type", expected="doc", got="arena")
        )
        self.assertIsInstance(err, InvalidArgument)
        self.assertEqual(err.details()["expected"], "doc")
        self.assertIsInstance(domain_error(ApplicationError("wamp.error.no_such_procedure", "gone")), Unavailable)
