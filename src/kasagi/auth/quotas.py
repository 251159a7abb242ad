"""Per-member and per-session quotas the router enforces (pure bookkeeping, no Twisted).

- :class:`SessionQuota`: how many client sessions each member (authid) holds on this router.
  A session beyond ``limit`` is closed right after it joined, with the reason
  ``kasagi.error.full`` and a message naming ``sessions_per_member``.
- :func:`subscription_refusal`: the refusal of a subscription that would take a session past
  ``subscriptions_per_session`` (the client authorizer counts the session's subscriptions
  and those it is deciding now).
"""

from __future__ import annotations

from kasagi import wire

__all__ = ["SessionQuota", "session_refusal", "subscription_refusal"]


class SessionQuota:
    """Counts the live sessions of each member; ``limit`` 0 means no limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._member_of: dict[int, str] = {}
        self._sessions: dict[str, set[int]] = {}
        #: Sessions closed for being over the quota.
        self.refused = 0

    def joined(self, authid: str, session_id: int) -> bool:
        """Count a session that joined; False when it takes ``authid`` past the limit (the
        caller closes it, and :meth:`left` is called for it as for any other)."""
        self._member_of[session_id] = authid
        sessions = self._sessions.setdefault(authid, set())
        sessions.add(session_id)
        within = not self.limit or len(sessions) <= self.limit
        if not within:
            self.refused += 1
        return within

    def left(self, session_id: int) -> None:
        authid = self._member_of.pop(session_id, None)
        if authid is None:
            return
        sessions = self._sessions.get(authid)
        if sessions is not None:
            sessions.discard(session_id)
            if not sessions:
                del self._sessions[authid]

    def count(self, authid: str) -> int:
        return len(self._sessions.get(authid, ()))


def session_refusal(limit: int, authid: str) -> tuple[str, str]:
    """The close reason (a URI) and message of a session over :class:`SessionQuota`."""
    return (
        wire.ErrorURI.FULL,
        f"sessions_per_member: {authid} already holds {limit} sessions on this router (the most one member may)",
    )


def subscription_refusal(subscribed: int, deciding: int, limit: int) -> str | None:
    """Why a subscription is refused (the error message, naming the quota), or None when a
    session with ``subscribed`` subscriptions and ``deciding`` others being decided may take
    one more; ``limit`` 0 means no limit."""
    if not limit or subscribed + deciding < limit:
        return None
    return (
        f"subscriptions_per_session: this session holds {subscribed} subscriptions"
        f"{f' (and asked for {deciding} more)' if deciding else ''}; at most {limit} per session"
    )
