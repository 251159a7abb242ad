"""The phases of a room's owner: every transition the table allows, and every one it refuses."""

from __future__ import annotations

import itertools

import pytest

from kasagi.core.lifecycle import TRANSITIONS, Phase, RefusedTransition, RoomLifecycle, Signal

L, G, S, D, X = Phase.LIVE, Phase.DEGRADED, Phase.SUSPENDED, Phase.DRAINING, Phase.STOPPED
OK, FAIL, SUSPEND, DRAIN, STOP = (
    Signal.COMMIT_SUCCEEDED,
    Signal.COMMIT_FAILED,
    Signal.SUSPEND,
    Signal.DRAIN,
    Signal.STOP,
)

#: Written out by hand (not read from the table): (phase, signal) -> next phase, None: refused.
EXPECTED: dict[tuple[Phase, Signal], Phase | None] = {
    (L, OK): L,
    (L, FAIL): G,
    (L, SUSPEND): S,
    (L, DRAIN): D,
    (L, STOP): X,
    (G, OK): L,
    (G, FAIL): G,
    (G, SUSPEND): S,
    (G, DRAIN): D,
    (G, STOP): X,
    (S, OK): S,
    (S, FAIL): S,
    (S, SUSPEND): None,
    (S, DRAIN): X,
    (S, STOP): X,
    (D, OK): D,
    (D, FAIL): X,
    (D, SUSPEND): X,
    (D, DRAIN): D,
    (D, STOP): X,
    (X, OK): X,
    (X, FAIL): X,
    (X, SUSPEND): None,
    (X, DRAIN): None,
    (X, STOP): None,
}

#: How to reach each phase from a fresh lifecycle.
PATHS: dict[Phase, list[Signal]] = {L: [], G: [FAIL], S: [SUSPEND], D: [DRAIN], X: [STOP]}


def in_phase(phase: Phase) -> RoomLifecycle:
    life = RoomLifecycle()
    for signal in PATHS[phase]:
        life.handle(signal)
    assert life.phase is phase
    return life


def test_the_expected_table_covers_every_phase_and_signal():
    """Every (phase, signal) pair has a written-down verdict, and the table agrees with it."""
    assert set(EXPECTED) == set(itertools.product(Phase, Signal))
    for (phase, signal), following in EXPECTED.items():
        assert TRANSITIONS[phase].get(signal) is following, (phase, signal)


@pytest.mark.parametrize(("phase", "signal"), sorted(EXPECTED, key=lambda k: (k[0].value, k[1].value)))
def test_each_transition_is_taken_or_refused_as_written(phase: Phase, signal: Signal):
    """A signal moves the lifecycle to the phase written above, or is refused and changes nothing."""
    life = in_phase(phase)
    following = EXPECTED[(phase, signal)]
    assert life.takes(signal) is (following is not None)
    if following is None:
        with pytest.raises(RefusedTransition) as refused:
            life.handle(signal)
        assert (refused.value.phase, refused.value.signal) == (phase, signal)
        assert life.phase is phase
    else:
        assert life.handle(signal) is following
        assert life.phase is following


def test_failed_commits_are_counted_until_one_succeeds_and_drain_keeps_the_count():
    """Each failure that degrades the room adds one; a successful commit resets; a drain keeps it."""
    life = RoomLifecycle()
    life.handle(FAIL)
    life.handle(FAIL)
    assert (life.phase, life.failures) == (G, 2)
    life.handle(DRAIN)
    assert life.failures == 2, "the backoff still holds while draining"
    life.handle(OK)
    assert (life.phase, life.failures) == (D, 0)


def test_failures_after_a_suspension_are_not_counted():
    """A commit that fails while suspended leaves the count alone (no backoff to measure)."""
    life = in_phase(S)
    life.handle(FAIL)
    assert life.failures == 0


@pytest.mark.parametrize(
    ("path", "intact"),
    [
        ([DRAIN, OK, STOP], True),
        ([FAIL, DRAIN, STOP], True),
        ([STOP], True),
        ([SUSPEND, STOP], True),
        ([SUSPEND, DRAIN], False),
        ([DRAIN, FAIL], False),
        ([DRAIN, SUSPEND], False),
    ],
)
def test_history_is_intact_unless_a_drain_met_an_undetermined_or_failed_write(path: list[Signal], intact: bool):
    """Only a drain of a suspended room, or a failed or undetermined write while draining, loses intactness."""
    life = RoomLifecycle()
    for signal in path:
        life.handle(signal)
    assert life.phase is X
    assert life.intact is intact


@pytest.mark.parametrize(
    ("phase", "serves", "writes"),
    [(L, True, True), (G, True, True), (S, True, False), (D, False, True), (X, False, False)],
)
def test_what_each_phase_serves_and_writes(phase: Phase, serves: bool, writes: bool):
    """Calls reach a live, degraded or suspended room; commits run while live, degraded or draining."""
    life = in_phase(phase)
    assert (life.serves_calls, life.writes) == (serves, writes)
