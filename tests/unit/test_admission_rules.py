"""Admission under overload, pure: the stretched tick, the shed fraction and the hard bounds."""

from __future__ import annotations

import pytest

from kasagi.core.admission import MAX_SHED, MIN_WAITING, AdmissionControl, AdmissionLimits


def test_tick_stretches_with_the_lag_up_to_its_bound():
    """The tick is 20 ms with no lag, grows linearly with it, and stays at 100 ms past the overload lag."""
    control = AdmissionControl(AdmissionLimits(tick=0.02, max_tick=0.1, overload_lag=0.04))
    assert control.tick() == pytest.approx(0.02)
    control.lag = 0.02
    assert control.tick() == pytest.approx(0.06)
    control.lag = 1.0
    assert control.tick() == pytest.approx(0.1)


def test_nothing_is_refused_while_the_tick_can_still_stretch():
    """Lag below the overload lag stretches the tick but refuses no action."""
    control = AdmissionControl(AdmissionLimits(overload_lag=0.04))
    for _ in range(200):
        control.sample(0.035)
    assert control.shed == 0.0
    assert all(control.admit(0) is None for _ in range(1000))


def test_sustained_lag_sheds_an_even_fraction_and_recovery_admits_everything():
    """Lag above the bound sheds a growing, evenly spread fraction (at most MAX_SHED); once the lag is gone every
    action is admitted again."""
    control = AdmissionControl(AdmissionLimits(overload_lag=0.04, retry_after=2.0))
    for _ in range(10):
        control.sample(0.1)  # past overload_lag, short of a backlog
    shed = control.shed
    assert 0 < shed < MAX_SHED
    decisions = [control.admit(0) for _ in range(1000)]
    refused = [d for d in decisions if d is not None]
    assert len(refused) == pytest.approx(1000 * shed, abs=1)
    assert all(d.reason == "lag" and 1.0 <= d.retry_after <= 3.0 for d in refused)
    assert len({d.retry_after for d in refused}) > 10, "retry_after is spread, not one value"
    for _ in range(1000):
        control.sample(0.15)
    assert control.shed == MAX_SHED
    for _ in range(1000):
        control.sample(0.0)
    assert control.shed == 0.0
    assert all(control.admit(0) is None for _ in range(100))


def _serve(control: AdmissionControl, acks_per_s: float, lag: float, seconds: float = 5.0) -> None:
    """``seconds`` of 20 ms samples with ``lag``, acknowledging ``acks_per_s`` actions per second."""
    for i in range(int(seconds / 0.02)):
        control.acked(round(acks_per_s * 0.02))
        control.sample(lag, now=(i + 1) * 0.02)


def test_waiting_actions_are_bounded_by_the_ack_rate_times_the_delay():
    """A lagging process that acknowledges 1,000 actions/s, its tick stretched to 80 ms, lets at most 130 wait (one
    tick plus 50 ms of commits); the 131st is refused with reason "delay" and a retry_after, the lag alone sheds
    nothing yet."""
    control = AdmissionControl(AdmissionLimits(tick=0.02, max_tick=0.1, overload_lag=0.04, overload_delay=0.05))
    _serve(control, 1000, lag=0.03)
    assert control.ack_rate == pytest.approx(1000, rel=0.01)
    assert control.tick() == pytest.approx(0.08, abs=0.001)
    assert control.max_waiting == pytest.approx(130, abs=1)
    assert control.shed == 0.0
    control.in_flight = control.max_waiting - 1
    assert control.admit(0) is None
    control.in_flight = control.max_waiting
    refusal = control.admit(0)
    assert refusal is not None and refusal.reason == "delay" and 1.0 <= refusal.retry_after <= 3.0
    assert control.refused["delay"] == 1


def test_the_bound_follows_the_machine_and_never_falls_below_its_floor():
    """A slower process (200 acks/s) may still keep MIN_WAITING actions waiting; a faster one more."""
    slow = AdmissionControl(AdmissionLimits(overload_delay=0.05))
    _serve(slow, 200, lag=0.03)
    assert slow.max_waiting == MIN_WAITING
    fast = AdmissionControl(AdmissionLimits(overload_delay=0.05))
    _serve(fast, 4000, lag=0.03)
    assert fast.max_waiting == pytest.approx(4000 * (fast.tick() + 0.05), abs=2)


def test_a_burst_on_a_quiet_reactor_is_not_overload():
    """With no reactor lag a queue of waiting actions is a burst being served: nothing is refused for it."""
    control = AdmissionControl(AdmissionLimits(overload_lag=0.04, overload_delay=0.05))
    _serve(control, 1000, lag=0.0)
    control.in_flight = 500
    assert all(control.admit(0) is None for _ in range(100))
    off = AdmissionControl(AdmissionLimits(overload_delay=0))
    _serve(off, 1000, lag=0.03)
    off.in_flight = 4999
    assert off.max_waiting == 0 and off.admit(0) is None


def _serve_delayed(control: AdmissionControl, acks_per_s: float, delay: float, seconds: float = 2.0) -> None:
    """``seconds`` of on-time 20 ms samples, acknowledging ``acks_per_s`` actions per second,
    each ``delay`` seconds after it was received."""
    for i in range(int(seconds / 0.02)):
        control.acked(round(acks_per_s * 0.02), delay)
        control.sample(0.0, now=(i + 1) * 0.02)


def test_a_store_that_backs_up_bounds_the_waiting_actions_on_a_quiet_reactor():
    """The reactor is on time but even the fastest acknowledgement takes 40 ms (a store pipeline
    that backs up, which the lag does not show): the waiting bound applies and the action past
    it is refused with reason "delay". Once acks are fast again a queue is a burst: admitted."""
    control = AdmissionControl(AdmissionLimits(tick=0.02, max_tick=0.1, overload_lag=0.04, overload_delay=0.05))
    _serve_delayed(control, 1000, delay=0.04)
    assert control.standing_lag == 0.0 and control.standing_delay == pytest.approx(0.04)
    assert control.max_waiting == pytest.approx(1000 * (0.02 + 0.05), abs=1)
    control.in_flight = control.max_waiting
    refusal = control.admit(0)
    assert refusal is not None and refusal.reason == "delay"
    assert control.shed == 0.0, "the delay bounds the queue; it does not shed"
    _serve_delayed(control, 1000, delay=0.005, seconds=0.2)
    assert control.standing_delay == pytest.approx(0.005)
    control.in_flight = 500
    assert all(control.admit(0) is None for _ in range(100))


def test_one_slow_commit_among_fast_ones_is_not_a_backed_up_store():
    """The standing delay is the fastest acknowledgement of the last samples: one batch that waited
    long does not open the waiting bound while others are acknowledged fast."""
    control = AdmissionControl(AdmissionLimits(overload_lag=0.04, overload_delay=0.05))
    for i in range(100):
        control.acked(10, 0.3 if i % 5 == 0 else 0.004)
        control.acked(10, 0.3)
        control.sample(0.0, now=(i + 1) * 0.02)
    assert control.standing_delay == pytest.approx(0.004)
    control.in_flight = 1000
    assert control.admit(0) is None


def test_hard_bounds_refuse_regardless_of_the_lag():
    """Too many actions waiting in the process or in one room are refused even with no lag."""
    control = AdmissionControl(AdmissionLimits(max_in_flight=10, max_room_pending=3))
    assert control.admit(2) is None
    refusal = control.admit(3)
    assert refusal is not None and refusal.reason == "room_pending"
    control.in_flight = 10
    refusal = control.admit(0)
    assert refusal is not None and refusal.reason == "in_flight"
    assert control.refused == {"backlog": 0, "lag": 0, "delay": 0, "in_flight": 1, "room_pending": 1}


def test_limits_are_checked():
    """Bounds that cannot hold are refused when built."""
    with pytest.raises(ValueError, match="max_tick"):
        AdmissionLimits(tick=0.2, max_tick=0.1)
    with pytest.raises(ValueError, match="overload_lag"):
        AdmissionLimits(overload_lag=0)
    with pytest.raises(ValueError, match="overload_delay"):
        AdmissionLimits(overload_delay=-1)


def test_a_backlogged_process_refuses_every_action_until_it_catches_up():
    """A smoothed lag of 4 x overload_lag or more refuses every action (reason "backlog"), also for the router's early
    check; once the lag is back under it, actions are admitted by the usual rules again."""
    control = AdmissionControl(AdmissionLimits(overload_lag=0.04, overload_delay=0))
    for _ in range(50):
        control.sample(0.5)
    assert control.backlogged
    refusals = [control.admit(0) for _ in range(20)]
    assert all(r is not None and r.reason == "backlog" for r in refusals)
    early = control.refuse_backlogged()
    assert early is not None and early.reason == "backlog" and 1.0 <= early.retry_after <= 3.0
    assert control.refused["backlog"] == 21
    for _ in range(50):
        control.sample(0.0)
    assert not control.backlogged and control.refuse_backlogged() is None


def test_one_long_reactor_turn_is_not_overload():
    """A single sample two seconds late (a burst of expensive actions in one turn) followed by turns on time stretches
    the tick for a moment but refuses nothing: only a lag every sample shows is a backlog or overload."""
    control = AdmissionControl(AdmissionLimits(overload_lag=0.04, overload_delay=0.05))
    for _ in range(10):
        control.sample(0.0)
    control.sample(2.0)
    assert control.lag > 0.16 and control.tick() == pytest.approx(control.limits.max_tick)
    assert not control.backlogged and control.shed == 0.0
    control.in_flight = 1000  # far past the waiting bound, under max_in_flight
    assert control.admit(0) is None
    for _ in range(5):
        control.sample(0.0)
    assert control.standing_lag == 0.0 and control.shed == 0.0
