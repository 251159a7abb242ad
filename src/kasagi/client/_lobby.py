"""The lobby as a client sees it: listing changes of one room type, followed live.

:meth:`KasagiClient.watch` subscribes to ``kasagi.lobby.rooms.<type>`` and calls back with
each change (``{"room", "type", "meta", "members", "max_members"}``, or ``{"room", "type",
"gone": true}``); after a reconnection it subscribes again and the caller's ``on_resync``
(if any) is told, so it can re-read the listing with ``list`` (changes published while the
client was away are not replayed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from kasagi import wire

if TYPE_CHECKING:
    from kasagi.client._connection import KasagiClient

__all__ = ["LobbyWatch"]


class LobbyWatch:
    """A live subscription to the listing changes of one room type."""

    log = Logger()

    def __init__(
        self,
        client: KasagiClient,
        room_type: str,
        on_change: Callable[[dict[str, Any]], None],
        on_resync: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.topic = wire.lobby_topic(room_type)
        self._on_change = on_change
        self._on_resync = on_resync
        self._subscription: Any = None
        self.stopped = False
        client.on_connection_change(self._connection)

    def _deliver(self, *args: Any, **kwargs: Any) -> None:
        change = dict(args[0]) if args and isinstance(args[0], dict) else dict(kwargs)
        try:
            self._on_change(change)
        except Exception:  # noqa: BLE001 -- a listener's bug must not end the subscription
            self.log.failure("lobby listener failed")

    def _subscribe(self) -> Deferred[Any]:
        session = self.client.session
        if session is None or self.stopped:
            return succeed(None)
        d: Deferred[Any] = session.subscribe(self._deliver, self.topic)

        def keep(subscription: Any) -> Any:
            self._subscription = subscription
            return self

        return d.addCallback(keep)

    def _connection(self, connected: bool) -> None:
        if not connected or self.stopped:
            self._subscription = None
            return
        d = self._subscribe()
        resync = self._on_resync
        if resync is not None:
            d.addCallback(lambda _: resync())
        d.addErrback(lambda f: self.log.failure("lobby subscription failed", f))

    def stop(self) -> Deferred[None]:
        """Stop following."""
        self.stopped = True
        subscription, self._subscription = self._subscription, None
        if subscription is not None and getattr(subscription, "active", False):
            d: Deferred[Any] = subscription.unsubscribe()
            return d.addCallbacks(lambda _: None, lambda _: None)
        return succeed(None)
