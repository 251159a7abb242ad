"""What the service reports as it works, for whoever watches (metrics); no-op by default.

The runner and the registry call these hooks; :mod:`kasagi.metrics` implements them with
Prometheus. Keeping the calls behind this seam keeps metrics out of the service logic.
"""

from __future__ import annotations

from typing import Protocol

from kasagi.core.room import Batch

__all__ = ["NullObserver", "ServiceObserver"]


class ServiceObserver(Protocol):
    def committed(self, batch: Batch, seconds: float) -> None:
        """``batch`` is in the store; the write took ``seconds``."""

    def commit_failed(self, batch: Batch, seconds: float, reason: str) -> None:
        """The store refused or did not confirm ``batch`` (``reason``: the error's class)."""

    def joined(self, catch_up: bool) -> None:
        """A join was answered with a catch-up (True) or a snapshot (False)."""

    def acknowledged(self, seconds: float) -> None:
        """An ``act`` was answered (durable) ``seconds`` after the room received it."""


class NullObserver:
    """Watches nothing."""

    def committed(self, batch: Batch, seconds: float) -> None:
        pass

    def commit_failed(self, batch: Batch, seconds: float, reason: str) -> None:
        pass

    def joined(self, catch_up: bool) -> None:
        pass

    def acknowledged(self, seconds: float) -> None:
        pass
