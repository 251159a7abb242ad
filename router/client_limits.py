"""Per-client limits inside the router worker: :class:`ClientLimits`, a component hosted there
(``.crossbar/config.json``; its ``extra`` sets ``max_client_buffer`` and
``max_sessions_per_member``).

- **Slow consumers** (:mod:`router.backpressure`): a client holding more than
  ``max_client_buffer`` bytes unsent is closed (WebSocket close code 4008, a reason naming
  the limit).
- **Sessions per member** (:class:`kasagi.auth.SessionQuota`): the router counts the sessions
  of each client authid as they attach and detach; a session beyond
  ``max_sessions_per_member`` is closed as soon as it joined, with the reason
  ``kasagi.error.full`` and a message naming ``sessions_per_member``. The authenticator can't
  count (it is not told when sessions end), nor can the room service (it sees only sessions
  that join rooms): the router is where every session is known.

Both figures are served with the router's metrics (the default Prometheus registry).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, Metric
from twisted.logger import Logger

from kasagi import wire
from kasagi.auth import SessionQuota, session_refusal

from .backpressure import OutgoingBufferGuard

__all__ = ["ClientLimits", "LimitsCollector", "install_session_quota"]

CLIENT_ROLE = "client"


def install_session_quota(router: Any, quota: SessionQuota, later: Any) -> None:
    """Count the client sessions of ``router`` by authid; close those over ``quota``
    (``later(f)`` runs ``f`` after the session's WELCOME went out)."""
    attach, detach = router.attach, router._detach

    def counted_attach(session: Any) -> Any:
        result = attach(session)
        authid, role = getattr(session, "_authid", None), getattr(session, "_authrole", None)
        if role == CLIENT_ROLE and isinstance(authid, str) and not quota.joined(authid, session._session_id):
            reason, message = session_refusal(quota.limit, authid)
            later(lambda: session.leave(reason=reason, message=message))
        return result

    def counted_detach(session: Any) -> Any:
        quota.left(session._session_id)
        return detach(session)

    router.attach = counted_attach
    router._detach = counted_detach


class ClientLimits(ApplicationSession):
    log = Logger()

    def onJoin(self, details: Any) -> None:
        from twisted.internet import reactor

        extra = self.config.extra or {}
        router = getattr(self._transport, "_router", None)  # in-process transport of a router component
        if router is None:
            self.log.warn("client limits: not inside a router; nothing enforced")
            return
        self.guard = OutgoingBufferGuard(int(extra.get("max_client_buffer", wire.Limits.MAX_CLIENT_BUFFER)))
        self.guard.install(router)
        self.quota = SessionQuota(int(extra.get("max_sessions_per_member", wire.Limits.MAX_SESSIONS_PER_MEMBER)))
        install_session_quota(router, self.quota, lambda f: reactor.callLater(0, f))
        try:
            REGISTRY.register(LimitsCollector(self.guard, self.quota))
        except ValueError:
            pass  # already registered in this process (a second realm): served once
        self.log.info(
            "client limits: {buffer} bytes unsent per client, {sessions} sessions per member",
            buffer=self.guard.limit,
            sessions=self.quota.limit,
        )


class LimitsCollector:
    """Prometheus: the buffer guard's figures and the sessions closed over the quota."""

    def __init__(self, guard: OutgoingBufferGuard, quota: SessionQuota) -> None:
        self._guard, self._quota = guard, quota

    def collect(self) -> Iterator[Metric]:
        yield from self._guard.collect()
        yield CounterMetricFamily(
            "kasagi_router_sessions_over_quota", "Sessions closed: their member held too many.", self._quota.refused
        )
