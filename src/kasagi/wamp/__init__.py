"""Helpers for Kasagi's WAMP sessions (the sessions themselves live in ``components/`` and
``router/``): the error edge and caller identity."""

from kasagi.wamp.edge import caller_member, caller_session, screen_invocation, wamp_errors

__all__ = ["caller_member", "caller_session", "screen_invocation", "wamp_errors"]
