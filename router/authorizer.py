"""The dynamic authorizer of the ``client`` role (rules in :mod:`kasagi.auth.authorization`).

Subscriptions to a room topic are decided per member: the authorizer asks the room service
who may read the room (``kasagi.backend.room_access``) and refuses when the answer does not
list the member. When there is no answer (the room service is restarting, moving the room,
or its store is down) the subscription is not made either (fail closed), but the authorizer
fails instead of refusing: Crossbar then answers ``wamp.error.authorization_failed`` (which
clients retry) rather than ``wamp.error.not_authorized`` (which they must not).

A session holds at most ``max_subscriptions_per_session`` subscriptions (``extra``; 0: no
limit): the authorizer counts those the router's broker holds for the session and those it is
deciding for it now, and refuses one more with ``kasagi.error.full`` naming
``subscriptions_per_session`` (:func:`kasagi.auth.subscription_refusal`).
"""

from __future__ import annotations

from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

from kasagi import wire
from kasagi.auth import DENY, CacheBudget, RoomCheck, admits, authorize_client, subscription_refusal
from kasagi.deadline import within

__all__ = ["ClientAuthorizer"]

#: Seconds to wait for the room service's answer before refusing a subscription.
ACCESS_TIMEOUT = 5.0


class ClientAuthorizer(ApplicationSession):
    log = Logger()

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        from twisted.internet import reactor

        extra = self.config.extra or {}
        self.use(reactor, CacheBudget(int(extra.get("call_cache_limit", 10_000))))
        limit = extra.get("max_subscriptions_per_session", wire.Limits.MAX_SUBSCRIPTIONS_PER_SESSION)
        self.limit_subscriptions(int(limit), getattr(self._transport, "_router", None))
        yield self.register(self.authorize, wire.AUTHORIZE)
        self.log.info("client authorizer ready")

    def use(self, clock: Any, budget: CacheBudget) -> None:
        """Decide with ``clock`` (the room service's answer deadline) and ``budget`` (the
        cacheable call permissions); :meth:`onJoin` gives the reactor and the configured budget."""
        self._clock = clock
        self._budget = budget

    def limit_subscriptions(self, limit: int, router: Any) -> None:
        """At most ``limit`` subscriptions per session, counted in ``router``'s broker (None:
        not inside a router, nothing to count)."""
        self._subscription_limit = limit if router is not None else 0
        self._router = router
        #: session id -> subscribe decisions in progress for it.
        self._deciding: dict[int, int] = {}

    def _subscriptions_of(self, session_id: Any) -> int:
        session = self._router._session_id_to_session.get(session_id)
        return len(self._router._broker._session_to_subscriptions.get(session, ())) if session is not None else 0

    def _over_quota(self, session: dict[str, Any], action: str) -> str | None:
        if action != "subscribe" or not getattr(self, "_subscription_limit", 0):
            return None
        sid = int(session.get("session") or 0)
        return subscription_refusal(self._subscriptions_of(sid), self._deciding.get(sid, 0), self._subscription_limit)

    @inlineCallbacks
    def authorize(self, session: dict[str, Any], uri: str, action: str, options: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
        refusal = self._over_quota(session, action)
        if refusal is not None:
            self.log.info("subscription of {authid} refused: {why}", authid=session.get("authid"), why=refusal)
            raise ApplicationError(wire.ErrorURI.FULL, refusal, field="subscriptions_per_session")
        if action != "subscribe" or not getattr(self, "_subscription_limit", 0):
            decision = yield self._authorize(session, uri, action, options)
            return decision
        sid = int(session.get("session") or 0)
        self._deciding[sid] = self._deciding.get(sid, 0) + 1
        try:
            decision = yield self._authorize(session, uri, action, options)
        finally:
            left = self._deciding.pop(sid) - 1
            if left:
                self._deciding[sid] = left
        return decision

    @inlineCallbacks
    def _authorize(self, session: dict[str, Any], uri: str, action: str, options: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
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
