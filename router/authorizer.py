"""The dynamic authorizer of the ``client`` role (rules in :mod:`kasagi.auth.authorization`).

Subscriptions to a room topic are decided per member: the authorizer asks the room service
who may read the room (``kasagi.backend.room_access``) and refuses when the answer does not
list the member. When there is no answer (the room service is restarting, moving the room,
or its store is down) the subscription is not made either (fail closed), but the authorizer
fails instead of refusing: Crossbar then answers ``wamp.error.authorization_failed`` (which
clients retry) rather than ``wamp.error.not_authorized`` (which they must not).
"""

from __future__ import annotations

from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

from kasagi import wire
from kasagi.auth import DENY, CacheBudget, RoomCheck, admits, authorize_client
from kasagi.deadline import within

__all__ = ["ClientAuthorizer"]

#: Seconds to wait for the room service's answer before refusing a subscription.
ACCESS_TIMEOUT = 5.0


class ClientAuthorizer(ApplicationSession):
    log = Logger()

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        from twisted.internet import reactor

        self.use(reactor, CacheBudget(int((self.config.extra or {}).get("call_cache_limit", 10_000))))
        yield self.register(self.authorize, wire.AUTHORIZE)
        self.log.info("client authorizer ready")

    def use(self, clock: Any, budget: CacheBudget) -> None:
        """Decide with ``clock`` (the room service's answer deadline) and ``budget`` (the
        cacheable call permissions); :meth:`onJoin` gives the reactor and the configured budget."""
        self._clock = clock
        self._budget = budget

    @inlineCallbacks
    def authorize(self, session: dict[str, Any], uri: str, action: str, options: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
        decision = authorize_client(uri, action, options)
        if not isinstance(decision, RoomCheck):
            return self._budget.apply(uri, decision)
        authid = session.get("authid")
        try:
            access = yield within(
                self.call(wire.ROOM_ACCESS, decision.room), ACCESS_TIMEOUT, self._clock, "room access"
            )
        except Exception as exc:  # noqa: BLE001 -- no answer: no subscription (fail closed), retryable
            why = str(exc)[:200]
            self.log.warn(
                "subscription of {authid} to room {room} not decided: no access answer ({why})",
                authid=authid,
                room=decision.room,
                why=why,
            )
            raise ApplicationError(
                wire.ErrorURI.UNAVAILABLE, f"room {decision.room}: no access answer from the room service ({why})"
            ) from None
        if admits(access, authid):
            return {"allow": True, "cache": False}
        self.log.info("subscription of {authid} to private room {room} refused", authid=authid, room=decision.room)
        return DENY
