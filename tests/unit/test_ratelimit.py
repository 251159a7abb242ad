"""Token buckets (pure): time is an argument."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasagi.core.ratelimit import RateLimiter, TokenBucket


def test_a_burst_passes_then_the_rate_applies():
    """A member may send a burst at once, then one action per 1/rate seconds."""
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", 0.0) == pytest.approx(0.5)
    assert limiter.take("a", 0.25) == pytest.approx(0.25)
    assert limiter.take("a", 0.5) == 0.0


def test_members_have_separate_buckets():
    """One member's flood does not limit another member."""
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.take("a", 0.0) == 0.0
    assert limiter.take("a", 0.0) > 0
    assert limiter.take("b", 0.0) == 0.0


def test_a_disabled_limiter_allows_everything():
    """rate 0 turns limiting off."""
    limiter = RateLimiter(rate=0, burst=0)
    assert all(limiter.take("a", 0.0) == 0.0 for _ in range(1000))
    assert len(limiter) == 0


def test_idle_buckets_are_forgotten():
    """Buckets that refilled are dropped when the map grows, so memory stays bounded."""
    limiter = RateLimiter(rate=10, burst=1, prune_above=100)
    for i in range(100):
        limiter.take(f"m{i}", 0.0)
    limiter.take("late", 10.0)
    assert len(limiter) == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=60))
def test_no_window_admits_more_than_burst_plus_rate_times_length(gaps):
    """However actions are timed, at most burst + rate * T of them pass in any T seconds."""
    rate, burst = 4.0, 5.0
    bucket = TokenBucket.full(rate, burst, 0.0)
    now, passed = 0.0, []
    for gap in gaps:
        now += gap
        if bucket.take(now) == 0.0:
            passed.append(now)
    for i, start in enumerate(passed):
        for j in range(i, len(passed)):
            assert j - i + 1 <= burst + rate * (passed[j] - start) + 1e-9
