"""Deadlines and reconnection settings of a client."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClientOptions"]


@dataclass(frozen=True)
class ClientOptions:
    """Deadlines and reconnection of a client (seconds)."""

    serializer: str = "cbor"
    #: Every single call is answered or failed within this.
    call_timeout: float = 5.0
    #: ``act`` keeps retrying (same cseq) across reconnects for this long in all.
    act_deadline: float = 20.0
    #: Acts a room keeps sent and unanswered at once; later ones wait on the client, in
    #: order, within their deadline (which bounds what a client queues at a busy server).
    max_unanswered: int = 4
    #: Wait this long for a connection before failing a call with ConnectionLost.
    connect_timeout: float = 10.0
    #: Give up one TCP connection attempt after this long (a silent network can hold a SYN
    #: for minutes); the next attempt follows the backoff.
    dial_timeout: float = 5.0
    #: Local address to connect from (a multi-homed host; tests use it to partition one
    #: client's address). None: the system's choice.
    bind_address: str | None = None
    reconnect: bool = True
    initial_retry_delay: float = 0.2
    #: Reconnection waits grow from ``initial_retry_delay`` to at most this (with jitter):
    #: short enough that a client is back within 3 s of its router coming back.
    max_retry_delay: float = 2.5
    #: Client-side WebSocket pings, to notice a dead router (0 = off).
    ping_interval: float = 10.0
    ping_timeout: float = 10.0
    #: A joined room that delivers nothing (no event, no repeated head) for this long is
    #: joined again from its position -- a cheap catch-up. Rooms with members repeat their
    #: last event every few seconds when quiet (the head beacon), so such silence means a
    #: lost subscription or a room owner that restarted and forgot this session. 0 = off.
    quiet_rejoin: float = 20.0

    def __post_init__(self) -> None:
        if isinstance(self.max_unanswered, bool) or not isinstance(self.max_unanswered, int) or self.max_unanswered < 1:
            raise ValueError(f"max_unanswered must be an integer >= 1, not {self.max_unanswered!r}")
