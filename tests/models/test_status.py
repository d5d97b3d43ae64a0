"""Step statuses carry Maestro's flags, and the one transition table is enforced exactly."""

from __future__ import annotations

import itertools

import pytest

from maestro_nb.errors import MaestroError, StateError
from maestro_nb.models.status import (
    ALLOWED_TRANSITIONS,
    InstanceStatus,
    StepStatus,
    check_transition,
)

S = StepStatus

# (terminal, complete, retryable), from Maestro's StepInstance.Status table (MAESTRO.md);
# INTERRUPTED is ours: an attempt in flight when the process died, re-run like a platform failure.
MAESTRO_FLAGS = {
    S.NOT_CREATED: (False, False, False),
    S.CREATED: (False, False, False),
    S.INITIALIZED: (False, False, False),
    S.PAUSED: (False, False, False),
    S.EVALUATING_PARAMS: (False, False, False),
    S.RUNNING: (False, False, False),
    S.SUCCEEDED: (True, True, False),
    S.SKIPPED: (True, True, False),
    S.UNSATISFIED: (True, True, False),
    S.COMPLETED_WITH_ERROR: (True, True, False),
    S.USER_FAILED: (True, False, True),
    S.PLATFORM_FAILED: (True, False, True),
    S.FATALLY_FAILED: (True, False, False),
    S.STOPPED: (True, False, False),
    S.INTERRUPTED: (True, False, True),
}

SPEC_NAMES = {
    "CREATED", "INITIALIZED", "PAUSED", "EVALUATING_PARAMS", "RUNNING", "SUCCEEDED", "SKIPPED",
    "UNSATISFIED", "USER_FAILED", "FATALLY_FAILED", "COMPLETED_WITH_ERROR", "STOPPED", "INTERRUPTED",
    "PLATFORM_FAILED",  # Maestro's: the platform (a Dask worker, the cluster) failed, not the step
    "NOT_CREATED",  # Maestro's: what a restart marks as to be run again in its new run
}

ALLOWED_PAIRS = sorted(
    ((current, new) for current, targets in ALLOWED_TRANSITIONS.items() for new in targets),
    key=lambda pair: (pair[0].value, pair[1].value),
)
REFUSED_PAIRS = [
    (current, new)
    for current, new in itertools.product(StepStatus, repeat=2)
    if new not in ALLOWED_TRANSITIONS[current]
]


def _pair_id(pair: tuple[StepStatus, StepStatus]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_every_spec_status_exists_and_names_are_values() -> None:
    assert {s.name for s in StepStatus} == SPEC_NAMES
    for status in StepStatus:
        assert status.value == status.name
        assert str(status) == status.name
        assert StepStatus(status.name) is status
        assert status == status.name  # a str enum: compares equal to its stored text


@pytest.mark.parametrize("status", list(StepStatus), ids=lambda s: s.value)
def test_flags_match_maestro(status: StepStatus) -> None:
    terminal, complete, retryable = MAESTRO_FLAGS[status]
    assert (status.terminal, status.complete, status.retryable) == (terminal, complete, retryable)
    assert isinstance(status.terminal, bool)


@pytest.mark.parametrize("status", list(StepStatus), ids=lambda s: s.value)
def test_restartable_is_terminal_not_complete_not_retryable(status: StepStatus) -> None:
    assert status.restartable == (status.terminal and not status.complete and not status.retryable)


def test_restartable_statuses() -> None:
    assert {s for s in StepStatus if s.restartable} == {S.FATALLY_FAILED, S.STOPPED}


def test_complete_implies_terminal_and_not_retryable() -> None:
    for status in StepStatus:
        if status.complete:
            assert status.terminal and not status.retryable
        if status.retryable:
            assert status.terminal and not status.complete


def test_failed_statuses() -> None:
    assert {s for s in StepStatus if s.failed} == {S.USER_FAILED, S.PLATFORM_FAILED, S.FATALLY_FAILED,
                                                   S.INTERRUPTED}


def test_only_a_running_attempt_can_fail_on_the_platform() -> None:
    assert [s for s in StepStatus if S.PLATFORM_FAILED in ALLOWED_TRANSITIONS[s]] == [S.RUNNING]


def test_table_covers_every_status_and_only_statuses() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(StepStatus)
    for targets in ALLOWED_TRANSITIONS.values():
        assert targets <= set(StepStatus)


def test_terminal_statuses_have_no_way_out() -> None:
    for status in StepStatus:
        assert (not ALLOWED_TRANSITIONS[status]) == status.terminal, status


def test_no_status_transitions_to_itself() -> None:
    for status, targets in ALLOWED_TRANSITIONS.items():
        assert status not in targets


def test_every_status_is_reachable_from_not_created() -> None:
    assert ALLOWED_TRANSITIONS[S.NOT_CREATED] == {S.CREATED}
    reached = {S.NOT_CREATED}
    frontier = [S.NOT_CREATED]
    while frontier:
        for new in ALLOWED_TRANSITIONS[frontier.pop()]:
            if new not in reached:
                reached.add(new)
                frontier.append(new)
    assert reached == set(StepStatus)


def test_main_path_and_pause_points() -> None:
    path = [S.CREATED, S.INITIALIZED, S.EVALUATING_PARAMS, S.RUNNING, S.SUCCEEDED]
    for current, new in zip(path, path[1:]):
        check_transition(current, new)
    # before pause point: inputs resolved, callable not yet called
    check_transition(S.EVALUATING_PARAMS, S.PAUSED)
    check_transition(S.PAUSED, S.RUNNING)
    # after pause point: the callable returned, its output not yet committed
    check_transition(S.RUNNING, S.PAUSED)
    check_transition(S.PAUSED, S.SUCCEEDED)
    # actions on a paused attempt: skip, stop, retry
    for action in (S.SKIPPED, S.STOPPED, S.USER_FAILED):
        check_transition(S.PAUSED, action)
    # error pause point: the step raised, or its arguments could not be bound; fail() ends it as
    # it would have ended without the breakpoint
    check_transition(S.RUNNING, S.PAUSED)
    check_transition(S.PAUSED, S.USER_FAILED)
    check_transition(S.PAUSED, S.FATALLY_FAILED)


def test_in_flight_attempts_can_be_interrupted() -> None:
    check_transition(S.RUNNING, S.INTERRUPTED)
    check_transition(S.EVALUATING_PARAMS, S.INTERRUPTED)
    with pytest.raises(StateError):
        check_transition(S.PAUSED, S.INTERRUPTED)  # a paused attempt stays paused after a crash


@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=_pair_id)
def test_allowed_transition_passes(pair: tuple[StepStatus, StepStatus]) -> None:
    current, new = pair
    assert check_transition(current, new) is None


@pytest.mark.parametrize("pair", REFUSED_PAIRS, ids=_pair_id)
def test_other_transition_is_refused(pair: tuple[StepStatus, StepStatus]) -> None:
    current, new = pair
    with pytest.raises(StateError) as info:
        check_transition(current, new)
    message = str(info.value)
    assert "\n" not in message
    assert current.value in message and new.value in message
    assert message.index(current.value) < message.rindex(new.value)
    assert isinstance(info.value, MaestroError)


def test_exhaustive_split() -> None:
    assert len(ALLOWED_PAIRS) + len(REFUSED_PAIRS) == len(StepStatus) ** 2
    assert len(ALLOWED_PAIRS) == sum(len(t) for t in ALLOWED_TRANSITIONS.values())


def test_refusal_names_what_moved() -> None:
    with pytest.raises(StateError, match=r"^iteration 3 cannot go from SUCCEEDED to RUNNING$"):
        check_transition(S.SUCCEEDED, S.RUNNING, what="iteration 3")


def test_statuses_given_as_text() -> None:
    check_transition("CREATED", "INITIALIZED")  # type: ignore[arg-type]
    with pytest.raises(StateError, match="SUCCEEDED.*RUNNING"):
        check_transition("SUCCEEDED", "RUNNING")  # type: ignore[arg-type]
    with pytest.raises(StateError, match="BOGUS"):
        check_transition(S.RUNNING, "BOGUS")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (InstanceStatus.CREATED, False),
        (InstanceStatus.IN_PROGRESS, False),
        (InstanceStatus.SUCCEEDED, True),
        (InstanceStatus.FAILED, True),
        (InstanceStatus.STOPPED, True),
    ],
    ids=lambda v: v.value if isinstance(v, InstanceStatus) else str(v),
)
def test_instance_status_terminal(status: InstanceStatus, terminal: bool) -> None:
    assert status.terminal is terminal
    assert str(status) == status.value == status.name


def test_instance_statuses_are_the_spec_ones() -> None:
    assert {s.name for s in InstanceStatus} == {"CREATED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "STOPPED"}
