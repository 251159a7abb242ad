"""Token buckets: how often a member may act (pure; time is an argument).

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; each action
takes one. A refused take costs nothing, so a client that backs off for ``retry_after``
seconds succeeds. :class:`RateLimiter` keeps one bucket per key (member) and forgets buckets
that have refilled completely (they are indistinguishable from new ones), so its memory is
bounded by the members active in the last ``burst / rate`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateLimiter", "TokenBucket"]


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate, burst, burst, now)

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 if allowed, else the seconds until it would be."""
        self.refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate

    def is_full(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= self.burst


class RateLimiter:
    """One token bucket per key. ``rate <= 0`` disables limiting."""

    def __init__(self, rate: float, burst: float, *, prune_above: int = 10_000) -> None:
        if rate > 0 and burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._prune_above = prune_above
        self._next_prune = prune_above
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, now: float) -> float:
        """0.0 if ``key`` may act now (a token is spent), else seconds until it may."""
        if not self.enabled:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._next_prune:
                # Amortized: the next prune waits until the map has doubled again.
                self._next_prune = max(self._prune_above, 2 * self.prune(now))
            bucket = self._buckets[key] = TokenBucket.full(self.rate, self.burst, now)
        return bucket.take(now)

    def prune(self, now: float) -> int:
        """Forget full buckets; return how many are left."""
        for key in [k for k, b in self._buckets.items() if b.is_full(now)]:
            del self._buckets[key]
        return len(self._buckets)

    def __len__(self) -> int:
        return len(self._buckets)
