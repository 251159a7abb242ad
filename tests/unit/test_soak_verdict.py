"""The soak's verdict on an RSS curve."""

from __future__ import annotations

from kasagi.bench.soak import slope, verdict


def test_a_curve_that_levels_off_passes_and_one_that_keeps_growing_fails() -> None:
    """Growth during warm-up is allowed; a second half rising 2 MiB per minute fails a 1 MiB/min limit."""
    levelled = [(t * 10.0, min(300.0, 200.0 + t * 10)) for t in range(60)]
    growing = [(t * 10.0, 200.0 + t * 2 / 6) for t in range(60)]
    assert verdict(levelled, 1.0)[0]
    ok, per_minute = verdict(growing, 1.0)
    assert not ok and abs(per_minute - 2.0) < 1e-9
    assert slope([(0.0, 5.0)]) == 0.0
