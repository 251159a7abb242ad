"""The fixed timestep of the server loop (pure arithmetic)."""

from __future__ import annotations

from kasagi.core.ticks import TickSchedule


def test_ticks_are_due_every_period_from_the_start() -> None:
    """At 20 Hz, ticks fall due every 50 ms after start, each with dt 50."""
    s = TickSchedule(20)
    s.start(1000)
    assert s.next_at() == 1050
    assert s.due(1049).ticks == ()
    assert s.due(1050).ticks == ((1050, 50),)
    assert s.due(1120).ticks == ((1100, 50),)
    assert s.next_at() == 1150


def test_late_wake_ups_catch_up_without_drift() -> None:
    """A wake-up 3 periods late runs the 3 missed ticks at their own times; the grid is kept."""
    s = TickSchedule(20)
    s.start(0)
    assert s.due(160).ticks == ((50, 50), (100, 50), (150, 50))
    assert s.next_at() == 200


def test_past_the_bound_old_ticks_are_skipped_and_counted() -> None:
    """A long pause runs at most max_catch_up ticks (the latest) and counts the rest as skipped."""
    s = TickSchedule(10, max_catch_up=3)
    s.start(0)
    due = s.due(1000)
    assert due.ticks == ((800, 100), (900, 100), (1000, 100)) and due.skipped == 7
    assert s.next_at() == 1100


def test_fractional_periods_round_to_whole_ms_that_sum_to_the_elapsed_time() -> None:
    """At 30 Hz the dt of consecutive ticks are whole ms summing to exactly 1000 per second."""
    s = TickSchedule(30, max_catch_up=100)
    s.start(0)
    due = s.due(1000)
    assert len(due.ticks) == 30 and due.ticks[-1][0] == 1000
    assert sum(dt for _, dt in due.ticks) == 1000


def test_a_stopped_schedule_has_nothing_due_and_restarts_fresh() -> None:
    """After stop no tick is due; start anchors anew (a pause is not caught up)."""
    s = TickSchedule(20)
    s.start(0)
    s.stop()
    assert s.next_at() is None and s.due(10_000).ticks == ()
    s.start(10_000)
    assert s.next_at() == 10_050
