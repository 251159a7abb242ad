"""The start-up every deployment shares: the store opened, what watches the service, the
rooms' metrics and the head beacon; and their shutdown.

A single node (``components/room_service.py``) and a cluster worker
(:mod:`kasagi.cluster.process`) differ in where their rooms come from and how many routers
they join; both start with :meth:`Assembly.open` and, once their rooms exist, :meth:`Assembly.watch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.logger import Logger

from kasagi.service.beacon import HeadBeacon
from kasagi.service.registry import RoomRegistry
from kasagi.service.runner import Publish
from kasagi.service.settings import ServiceSettings
from kasagi.store.factory import describe_store, open_store
from kasagi.store.interface import RoomStore

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from kasagi.metrics import ServiceMetrics

__all__ = ["Assembly"]


class Assembly:
    """The parts of a room service that do not depend on its deployment."""

    log = Logger()

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        clock: Any,
        store: RoomStore,
        metrics: CollectorRegistry | None = None,
        observer: ServiceMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        #: Where the metrics go (None: no metrics).
        self.metrics = metrics
        self.observer = observer
        self.beacon: HeadBeacon | None = None

    @classmethod
    @inlineCallbacks
    def open(cls, reactor: Any, settings: ServiceSettings, metrics: CollectorRegistry | None = None):  # type: ignore[no-untyped-def]
        """Open the rooms' store (a store that is not ours, or damaged, is refused and left
        untouched) and, with ``metrics``, the observer reporting to it."""
        try:
            store = yield open_store(
                settings.store,
                reactor,
                limits=settings.store_limits(),
                data_dir=settings.data_dir,
                deadline=settings.store_deadline,
            )
        except Exception as exc:
            cls.log.critical(
                "room service NOT started: store {store} refused: {why}", store=describe_store(settings.store), why=exc
            )
            raise
        observer = None
        if metrics is not None:
            from kasagi.metrics import ServiceMetrics

            observer = ServiceMetrics(metrics)
        return cls(settings=settings, clock=reactor, store=store, metrics=metrics, observer=observer)

    @property
    def refused(self) -> Any:
        """Where the WAMP edge reports each refusal (None: nowhere)."""
        return self.observer.refused if self.observer is not None else None

    def watch(self, registry: RoomRegistry, publish: Publish) -> None:
        """The rooms exist: report them in the metrics, and start the head beacon (quiet rooms
        repeat their last event, so a client that lost it notices, docs/protocol.md)."""
        if self.metrics is not None:
            from kasagi.metrics import RoomsCollector

            self.metrics.register(RoomsCollector(registry))
        self.beacon = HeadBeacon(
            clock=self.clock, runners=lambda: registry.runners.values(), publish=publish, interval=self.settings.beacon
        )
        self.beacon.start()

    def stop_beacon(self) -> None:
        if self.beacon is not None:
            self.beacon.stop()

    def close(self) -> Deferred[None]:
        """Stop the beacon and close the store (a failure to close is logged)."""
        self.stop_beacon()
        d: Deferred[None] = self.store.close() if self.store is not None else succeed(None)
        return d.addErrback(lambda f: self.log.failure("closing the room store", f))
