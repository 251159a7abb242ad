"""Errors the client raises besides the server's ``ApplicationError``."""

from __future__ import annotations

__all__ = ["CallTimeout", "ConnectionLost"]


class CallTimeout(Exception):
    """A call got no answer within its deadline; it may or may not have happened."""


class ConnectionLost(Exception):
    """The client is not connected (and gave up waiting to reconnect)."""
