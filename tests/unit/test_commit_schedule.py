"""When a room commits next (``kasagi.core.commit_schedule``): pure arithmetic on seconds."""

from __future__ import annotations

import itertools

import pytest

from kasagi.core.commit_schedule import commit_delay

TICK = 0.02


def test_a_room_quiet_for_a_tick_commits_at_once():
    """A room whose last commit is a tick or more ago commits now, grid or not."""
    assert commit_delay(10.0, 9.98, TICK, grid=TICK) == 0.0
    assert commit_delay(10.003, 5.0, TICK, grid=TICK) == 0.0
    assert commit_delay(10.003, -1e18, TICK, grid=TICK) == 0.0


def test_without_a_grid_a_busy_room_commits_a_tick_after_its_last_commit():
    assert commit_delay(10.007, 10.003, TICK) == pytest.approx(0.016)


def commits(last: float, n: int, late: float = 0.001) -> list[float]:
    """The next ``n`` commit times of a room that always has a move waiting, its timer firing
    ``late`` after it was due."""
    times = []
    for _ in range(n):
        now = last + late  # the move arrives just after the last commit
        last = now + commit_delay(now, last, TICK, grid=TICK) + late
        times.append(round(last - late, 6))
    return times


def test_busy_rooms_with_different_phases_meet_on_the_grid():
    """Busy rooms that committed 3, 9, 11 and 17 ms past a grid point all commit on the next
    point and then a tick apart, at the same moments: the store writes them together."""
    runs = [commits(10.0 + phase, 4) for phase in (0.003, 0.009, 0.011, 0.017)]
    for times in runs:
        assert all(abs(t / TICK - round(t / TICK)) < 1e-6 for t in times), times
        assert all(b - a == pytest.approx(TICK) for a, b in itertools.pairwise(times)), times
    assert all(times == [10.02, 10.04, 10.06, 10.08] for times in runs), runs


def test_a_timer_that_fired_late_keeps_its_room_on_the_next_grid_point():
    """A commit that ran 2 ms after its grid point is followed a tick later by the next
    point, not two ticks later (late timers do not drift a room off the grid)."""
    last = 10.02 + 0.002
    now = last + 0.001
    assert now + commit_delay(now, last, TICK, grid=TICK) == pytest.approx(10.04)


def test_a_room_never_commits_later_than_without_the_grid():
    """Over every phase of the last commit and of the move's arrival, the grid's commit is
    at or before a tick after the last one, and never in the past."""
    for i in range(100):
        last = 100.0 + i * TICK / 50
        for j in range(1, 20):
            now = last + j * TICK / 20
            delay = commit_delay(now, last, TICK, grid=TICK)
            assert 0 <= delay <= commit_delay(now, last, TICK) + 1e-9


def test_a_room_on_the_grid_commits_exactly_a_tick_apart():
    for k in (0, 1, 7, 5000):
        last = k * TICK
        assert last + 0.001 + commit_delay(last + 0.001, last, TICK, grid=TICK) == pytest.approx(last + TICK)


def test_a_stretched_tick_counts_in_whole_base_ticks():
    """Under load the tick stretches; on a 20 ms grid 35 ms is 20 ms and 45 ms is 40 ms,
    never less than one base tick after a commit on the grid."""
    assert 10.001 + commit_delay(10.001, 10.0, 0.035, grid=TICK) == pytest.approx(10.02)
    assert 10.001 + commit_delay(10.001, 10.0, 0.045, grid=TICK) == pytest.approx(10.04)


def test_at_the_instant_of_a_commit_the_next_one_is_a_tick_away():
    """A move applied at the very time of the last commit (a fake clock) waits a whole tick."""
    assert commit_delay(2.0, 2.0, TICK, grid=TICK) == pytest.approx(TICK)


def test_a_store_backoff_is_kept_whole_and_not_aligned():
    """After failed writes the room waits the store's backoff exactly, even on a grid."""
    assert commit_delay(10.001, 10.0, TICK, backoff=0.137, grid=TICK) == pytest.approx(0.137)
    assert commit_delay(10.001, 9.0, TICK, backoff=0.137, grid=TICK) == pytest.approx(0.137)


def test_tick_zero_commits_at_once():
    assert commit_delay(10.001, 10.0, 0.0, grid=TICK) == 0.0
    assert commit_delay(10.001, 10.0, 0.0) == 0.0


def test_the_grid_setting_reads_yes_and_no_from_a_config_and_refuses_anything_else():
    """``aligned_commits`` from a config mapping: booleans and their usual spellings, so that
    "false" turns the grid off; anything else is refused naming the setting."""
    from kasagi.service.settings import ServiceSettings

    assert ServiceSettings.from_mapping({"aligned_commits": False}).aligned_commits is False
    assert ServiceSettings.from_mapping({"aligned_commits": "false"}).aligned_commits is False
    assert ServiceSettings.from_mapping({"aligned_commits": "1"}).aligned_commits is True
    with pytest.raises(ValueError, match="aligned_commits"):
        ServiceSettings.from_mapping({"aligned_commits": "sometimes"})
