"""The health endpoints answer text/plain by default and JSON when asked, 200 or 503."""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from kasagi.health import Check, HealthResource


def _get(resource: HealthResource, path: bytes, accept: str | None = None, fmt: str | None = None) -> DummyRequest:
    request = DummyRequest([path])
    if accept is not None:
        request.requestHeaders.setRawHeaders(b"accept", [accept.encode()])
    if fmt is not None:
        request.args = {b"format": [fmt.encode()]}
    body = resource.render(request)
    if isinstance(body, bytes):
        request.write(body)
    return request


def _content_type(request: DummyRequest) -> str:
    return request.responseHeaders.getRawHeaders(b"content-type")[0].decode()


NOT_READY = [Check("routers", False, "joined 1 of 2 routers"), Check("store", True, "answering")]


class HealthTests(SynchronousTestCase):
    def test_text_by_default(self) -> None:
        """Without an Accept header, ready and live answer text/plain lines."""
        resource = HealthResource(lambda: [Check("store", True, "answering")])
        ready = _get(resource, b"ready")
        self.assertEqual((ready.responseCode or 200, b"".join(ready.written)), (200, b"ready\n"))
        self.assertEqual(_content_type(ready), "text/plain; charset=utf-8")
        live = _get(resource, b"live")
        self.assertEqual((b"".join(live.written), _content_type(live)), (b"live\n", "text/plain; charset=utf-8"))

    def test_not_ready_is_503_naming_the_failed_checks(self) -> None:
        """A failing check makes /health/ready 503 with its detail, in text."""
        request = _get(HealthResource(lambda: NOT_READY), b"ready", accept="text/plain")
        self.assertEqual(
            (request.responseCode, b"".join(request.written)), (503, b"not ready: joined 1 of 2 routers\n")
        )

    def test_json_when_the_accept_header_asks(self) -> None:
        """Accept: application/json gets a JSON object with the status and every check, 503 when one fails."""
        request = _get(HealthResource(lambda: NOT_READY), b"ready", accept="text/html, application/json")
        self.assertEqual(request.responseCode, 503)
        self.assertEqual(_content_type(request), "application/json")
        self.assertEqual(
            json.loads(b"".join(request.written)),
            {
                "status": "not_ready",
                "checks": {
                    "routers": {"ok": False, "detail": "joined 1 of 2 routers"},
                    "store": {"ok": True, "detail": "answering"},
                },
            },
        )

    def test_json_when_the_query_asks(self) -> None:
        """?format=json gets JSON (200 when ready, and for live), even if Accept prefers text."""
        resource = HealthResource(lambda: (True, ""))
        ready = _get(resource, b"ready", accept="text/plain", fmt="json")
        self.assertEqual((ready.responseCode or 200, _content_type(ready)), (200, "application/json"))
        self.assertEqual(
            json.loads(b"".join(ready.written)), {"status": "ready", "checks": {"ready": {"ok": True, "detail": ""}}}
        )
        live = _get(resource, b"live", fmt="json")
        self.assertEqual(json.loads(b"".join(live.written)), {"status": "live", "checks": {}})

    def test_text_preferred_by_quality_stays_text(self) -> None:
        """An Accept header rating text/plain above application/json gets text."""
        request = _get(HealthResource(lambda: (True, "")), b"ready", accept="application/json;q=0.5, text/plain")
        self.assertEqual(_content_type(request), "text/plain; charset=utf-8")

    def test_an_unknown_format_is_400_and_an_unknown_path_404(self) -> None:
        """?format=xml is refused with 400; /health/other is 404."""
        resource = HealthResource(lambda: (True, ""))
        self.assertEqual(_get(resource, b"ready", fmt="xml").responseCode, 400)
        self.assertEqual(_get(resource, b"other").responseCode, 404)

    def test_a_readiness_that_fails_is_503_with_its_error(self) -> None:
        """A readiness Deferred that fails answers 503 with the error's message."""
        pending: Deferred[list[Check]] = Deferred()
        request = _get(HealthResource(lambda: pending), b"ready", fmt="json")
        self.assertEqual(request.written, [])
        pending.errback(RuntimeError("store check timed out"))
        self.assertEqual(request.responseCode, 503)
        self.assertEqual(
            json.loads(b"".join(request.written))["checks"]["ready"], {"ok": False, "detail": "store check timed out"}
        )


class ReadinessChecksTests(SynchronousTestCase):
    def test_a_worker_reports_routers_lease_and_store(self) -> None:
        """A worker joined to 1 of 2 routers with its lease renewed and its store answering
        is not ready, and says which of its three checks failed."""
        from types import SimpleNamespace

        from twisted.internet.defer import succeed
        from twisted.internet.task import Clock

        from kasagi.cluster.process import Worker

        store = SimpleNamespace(load=lambda room: succeed(None))
        worker = Worker(
            cluster=SimpleNamespace(lease_ok=True, stats={}),
            routers=SimpleNamespace(sessions=["r1"]),
            components=[object(), object()],
            parts=SimpleNamespace(beacon=None, store=store, clock=Clock()),
            leases=None,
        )
        self.assertEqual(
            self.successResultOf(worker.ready()),
            [
                Check("routers", False, "joined 1 of 2 routers"),
                Check("lease", True, "renewed"),
                Check("store", True, "answering"),
            ],
        )

    def test_the_router_figures_count_sessions_by_role(self) -> None:
        """The router's figures carry its sessions per authrole next to its own stats."""
        from types import SimpleNamespace

        from router.metrics import router_figures

        router = SimpleNamespace(
            stats=lambda: {"sessions": 4, "messages": {}},
            _authrole_to_sessions={"client": {"a", "b"}, "backend": {"c"}, "admin": set()},
        )
        figures = router_figures(router)
        self.assertEqual(figures["sessions_by_role"], {"client": 2, "backend": 1, "admin": 0})
        self.assertEqual(figures["messages"], {})
