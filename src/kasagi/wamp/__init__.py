"""Kasagi's WAMP edge: the room procedures (once for every deployment), the error edge and
caller identity. The sessions that connect them live in ``components/`` (a single node) and
``kasagi.cluster.process`` (a cluster worker)."""

from kasagi.wamp.edge import caller_member, caller_session, screen_invocation, to_application_error, wamp_errors

__all__ = ["caller_member", "caller_session", "screen_invocation", "to_application_error", "wamp_errors"]
