"""Step and instance statuses, their flags, and the one table of allowed transitions."""

from __future__ import annotations

from enum import Enum

from ..errors import StateError

__all__ = ["StepStatus", "InstanceStatus", "check_transition", "ALLOWED_TRANSITIONS"]


class StepStatus(str, Enum):
    """Status of one step attempt; names follow Netflix Maestro's StepInstance.Status."""

    terminal: bool
    complete: bool
    retryable: bool
    failed: bool  # ended without success and without being stopped, skipped or ignored

    def __new__(cls, value: str, terminal: bool = False, complete: bool = False, retryable: bool = False):
        member = str.__new__(cls, value)
        member._value_ = value
        member.terminal = terminal
        member.complete = complete
        member.retryable = retryable
        return member

    CREATED = ("CREATED",)
    INITIALIZED = ("INITIALIZED",)
    PAUSED = ("PAUSED",)
    EVALUATING_PARAMS = ("EVALUATING_PARAMS",)
    RUNNING = ("RUNNING",)
    SUCCEEDED = ("SUCCEEDED", True, True)
    SKIPPED = ("SKIPPED", True, True)
    UNSATISFIED = ("UNSATISFIED", True, True)
    COMPLETED_WITH_ERROR = ("COMPLETED_WITH_ERROR", True, True)
    USER_FAILED = ("USER_FAILED", True, False, True)
    PLATFORM_FAILED = ("PLATFORM_FAILED", True, False, True)  # its worker died, or the cluster went away
    FATALLY_FAILED = ("FATALLY_FAILED", True)
    STOPPED = ("STOPPED", True)
    INTERRUPTED = ("INTERRUPTED", True, False, True)
    # Before CREATED: what a restart records, in its new run, for each iteration it will run
    # again, until that iteration's first attempt is created (Maestro's NOT_CREATED).
    NOT_CREATED = ("NOT_CREATED",)

    @property
    def restartable(self) -> bool:
        """Maestro's isRestartable(): terminal, not complete, not retryable."""
        return self.terminal and not self.complete and not self.retryable

    def __str__(self) -> str:
        return self.value


for _status in StepStatus:  # an attribute, not a property: asked once per attempt on the hot path
    _status.failed = _status.value in ("USER_FAILED", "PLATFORM_FAILED", "FATALLY_FAILED", "INTERRUPTED")

S = StepStatus
_ENDINGS = frozenset({S.SUCCEEDED, S.USER_FAILED, S.PLATFORM_FAILED, S.FATALLY_FAILED, S.COMPLETED_WITH_ERROR,
                      S.STOPPED})

# The only transitions an attempt may make. PAUSED is entered at the `before` pause point
# (from EVALUATING_PARAMS), the `after` one (from RUNNING, output not yet committed), or the
# `error` one (from RUNNING when the step raised, from EVALUATING_PARAMS when its arguments
# could not be bound); an attempt paused at its error may end as it would have (USER_FAILED,
# FATALLY_FAILED).
ALLOWED_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    S.CREATED: frozenset({S.INITIALIZED, S.SKIPPED, S.UNSATISFIED, S.STOPPED, S.INTERRUPTED}),
    S.INITIALIZED: frozenset({S.EVALUATING_PARAMS, S.SKIPPED, S.STOPPED, S.INTERRUPTED}),
    S.EVALUATING_PARAMS: frozenset(
        {S.RUNNING, S.PAUSED, S.SKIPPED, S.FATALLY_FAILED, S.STOPPED, S.INTERRUPTED}
    ),
    S.PAUSED: frozenset({S.RUNNING, S.SUCCEEDED, S.SKIPPED, S.STOPPED, S.USER_FAILED, S.FATALLY_FAILED}),
    S.RUNNING: _ENDINGS | {S.PAUSED, S.INTERRUPTED},
    S.SUCCEEDED: frozenset(),
    S.SKIPPED: frozenset(),
    S.UNSATISFIED: frozenset(),
    S.COMPLETED_WITH_ERROR: frozenset(),
    S.USER_FAILED: frozenset(),
    S.PLATFORM_FAILED: frozenset(),
    S.FATALLY_FAILED: frozenset(),
    S.STOPPED: frozenset(),
    S.INTERRUPTED: frozenset(),
    S.NOT_CREATED: frozenset({S.CREATED}),
}


def check_transition(current: StepStatus, new: StepStatus, what: str = "attempt") -> None:
    """Raise StateError unless `current -> new` is in the transition table."""
    try:
        current, new = StepStatus(current), StepStatus(new)
    except ValueError as exc:
        raise StateError(f"{what}: {exc}") from None
    if new not in ALLOWED_TRANSITIONS[current]:
        raise StateError(f"{what} cannot go from {current.value} to {new.value}")


class InstanceStatus(str, Enum):
    """Status of a workflow instance; a paused instance is IN_PROGRESS."""

    CREATED = "CREATED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"

    @property
    def terminal(self) -> bool:
        """The instance has finished; a restart makes a new run."""
        return self in (InstanceStatus.SUCCEEDED, InstanceStatus.FAILED, InstanceStatus.STOPPED)

    def __str__(self) -> str:
        return self.value
