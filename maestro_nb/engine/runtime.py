"""Runtime state of instances: frames (one DAG level), nodes (one step), attempts.

`Attempt.transition` is the single place an attempt's status changes; it checks the
status table and queues the attempt for the next flush.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import StateError
from ..models.definition import IterationSpace, StepDefinition, UpstreamSteps, WorkflowDefinition
from ..models.failure import Failure
from ..models.status import (
    ALLOWED_TRANSITIONS,
    InstanceStatus,
    StepStatus,
    check_transition,
)

__all__ = ["Attempt", "Node", "Frame", "Instance", "HOLD_KEPT", "HOLD_STEP", "NO_HOLDS", "NO_CHANGES"]

S = StepStatus
HOLD_KEPT = 0  # paused by a breakpoint deleted with --keep-paused: released only by hand
HOLD_STEP = -1  # paused by stepping from an upstream attempt

# Per-iteration outcome codes kept in a bytearray, so a million iterations cost a megabyte.
PENDING, DONE, SKIPPED_CODE, FAILED_CODE, STOPPED_CODE = 0, 1, 2, 3, 4
_CODES = {S.SUCCEEDED: DONE, S.COMPLETED_WITH_ERROR: DONE, S.SKIPPED: SKIPPED_CODE,
          S.STOPPED: STOPPED_CODE}

# An attempt's history is kept as status numbers in a bytearray plus a list of times: two
# objects, where a list of (status, time) tuples is six that the garbage collector must scan.
_STATUSES = tuple(S)
_STATUS_NUMBER = {status: number for number, status in enumerate(_STATUSES)}
_CREATED_INITIALIZED = bytes([_STATUS_NUMBER[S.CREATED], _STATUS_NUMBER[S.INITIALIZED]])
_NAMES: dict[bytes, tuple[str, ...]] = {}  # status-number sequence -> its names, shared by rows
NO_HOLDS: frozenset[int] = frozenset()  # `paused_by` of an attempt no breakpoint holds
NO_CHANGES: frozenset[str] = frozenset()  # `changed` of an attempt whose params are as bound


class BoundParams(dict):
    """An attempt's bound arguments. Read them freely; change one with Engine.set_param (or, in a
    notebook, `paused[0].params[name] = value`), which validates, stores and records the change."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise StateError("an attempt's params change through engine.set_param(attempt, name, value), "
                         "which validates, stores and records the change")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _refuse  # type: ignore[assignment]


class Attempt:
    """One try of one step in one iteration of one run."""

    __slots__ = (
        "instance", "node", "index", "iteration", "loop_params", "number", "status", "_statuses",
        "times", "params", "output", "error", "pause_point", "paused_by", "queued",
        "scope", "child", "failures", "platform_failures", "changed",
    )

    def __init__(self, node: Node, index: int | None, iteration: str, loop_params: dict[str, Any],
                 number: int, scope: dict[str, Any], *, initialized: bool = False):
        self.instance = node.frame.instance
        self.node = node
        self.index = index
        self.iteration = iteration
        self.loop_params = loop_params
        self.number = number
        at = time.time()
        if initialized:  # created and initialized in one change (CREATED -> INITIALIZED is allowed)
            self.status = S.INITIALIZED
            self._statuses = bytearray(_CREATED_INITIALIZED)
            self.times: list[float] = [at, at]
        else:
            self.status = S.CREATED
            self._statuses = bytearray(b"\0")  # _STATUSES[0] is CREATED
            self.times = [at]  # when each status in the history began
        self.params = BoundParams()
        self.output: Any = None
        self.error: Failure | None = None
        self.pause_point: str | None = None
        self.paused_by: set[int] | frozenset[int] = NO_HOLDS
        self.queued = False
        self.scope = scope
        self.child: Instance | None = None
        self.failures = 0  # user failures of this iteration before this attempt: the retry budget
        self.platform_failures = 0  # and platform failures (a worker died): a budget of their own
        self.changed: frozenset[str] = NO_CHANGES  # params the user changed, kept by a retry
        self.instance.journal(self)

    @property
    def step(self) -> StepDefinition:
        return self.node.step

    @property
    def step_id(self) -> str:
        return self.node.step.id

    @property
    def workflow(self) -> str:
        return self.instance.workflow

    @property
    def key(self) -> tuple[str, int, int, str, str, int]:
        i = self.instance
        return (i.workflow, i.instance_id, i.run_id, self.node.step.id, self.iteration, self.number)

    def transition(self, new: StepStatus) -> None:
        """Move to `new`, refusing any transition the status table does not allow."""
        if new not in ALLOWED_TRANSITIONS[self.status]:
            check_transition(self.status, new, f"attempt {self.label}")
        self.status = new
        self._statuses.append(_STATUS_NUMBER[new])
        self.times.append(time.time())
        self.instance.journal(self)

    @property
    def history(self) -> list[tuple[StepStatus, float]]:
        """Every status the attempt has had, with when it began, oldest first."""
        return [(_STATUSES[n], t) for n, t in zip(self._statuses, self.times)]

    @history.setter
    def history(self, entries: list[tuple[StepStatus, float]]) -> None:
        self._statuses = bytearray(_STATUS_NUMBER[StepStatus(status)] for status, _ in entries)
        self.times = [at for _, at in entries]

    @property
    def paused_from(self) -> StepStatus | None:
        """The status the attempt paused from (EVALUATING_PARAMS: its arguments could not be
        bound; RUNNING: its step ran), or None if it is not paused."""
        if self.status is not S.PAUSED or len(self._statuses) < 2:
            return None
        return _STATUSES[self._statuses[-2]]

    def transition_names(self) -> tuple[str, ...]:
        """The status names of `history`, oldest first (a tuple shared between attempts)."""
        key = bytes(self._statuses)
        names = _NAMES.get(key)
        if names is None:
            names = tuple(_STATUSES[n].value for n in key)
            if len(_NAMES) < 4096:
                _NAMES[key] = names
        return names

    @property
    def label(self) -> str:
        """`workflow#instance step[iteration] attempt N`, the identity shown everywhere."""
        where = f"[{self.iteration}]" if self.iteration else ""
        return f"{self.instance.workflow}#{self.instance.instance_id} {self.node.step.id}{where}"

    def __repr__(self) -> str:
        return f"<Attempt {self.label} #{self.number} {self.status.value}>"


class Node:
    """One step within one frame: its iterations (one, for a plain step) and their outcomes."""

    __slots__ = (
        "step", "frame", "status", "space", "total", "next_index", "active", "finished",
        "outcomes", "outputs", "live", "children", "waiting", "blocked", "failure",
        "output_given", "released", "dispatching", "ended", "first_error", "refill_at", "plain_loops",
    )

    def __init__(self, step: StepDefinition, frame: Frame):
        self.step = step
        self.frame = frame
        self.status: StepStatus | None = None  # None: not started yet
        self.space: IterationSpace | None = None
        self.total = 0
        self.next_index = 0
        self.active = 0  # attempts created and not yet terminal or paused
        self.finished = 0
        self.outcomes = bytearray()
        self.outputs: list[Any] = []
        self.live: dict[int | None, Attempt] = {}  # the current attempt of each unfinished iteration
        self.children: dict[int, Frame] = {}
        self.waiting = len(step.after)
        self.blocked = False
        self.failure: StepStatus | None = None
        self.released: deque[Attempt] = deque()  # resumed attempts waiting for a slot
        self.dispatching = False  # the dispatch loop is running: a freed slot is its to fill
        self.refill_at = 0  # an iteration ending leaves `active` at most this: fill the window (see _window)
        self.plain_loops = False  # every iteration's loop params are plain values (no check per attempt)
        self.output_given = False
        self.ended: dict[StepStatus, int] = {}  # finished iterations by their last status
        self.first_error: tuple[int, Failure] | None = None  # (index, error) of the first failed iteration

    def count_ended(self, index: int, status: StepStatus, error: Failure | None) -> None:
        """Count a finished iteration, keeping the error of the lowest failed index."""
        self.ended[status] = self.ended.get(status, 0) + 1
        if error and (self.first_error is None or index < self.first_error[0]):
            self.first_error = (index, error)

    @property
    def is_foreach(self) -> bool:
        return self.step.foreach is not None

    @property
    def terminal(self) -> bool:
        return self.blocked or (self.status is not None and self.status.terminal)

    @property
    def leads(self) -> bool:
        """True when this finished step leads to its successors (Maestro's transition rule)."""
        return self.status in (S.SUCCEEDED, S.COMPLETED_WITH_ERROR) or (
            self.status is S.SKIPPED and self.output_given
        )

    def output(self) -> Any:
        return self.outputs if self.is_foreach else (self.outputs[0] if self.outputs else None)

    def iteration_label(self, index: int | None) -> str:
        base = self.frame.path
        if index is None:
            return base
        return f"{base}/{index}" if base else str(index)


class Frame:
    """One level of a DAG being executed: the top level, or one iteration of a foreach body."""

    __slots__ = ("instance", "parent", "parent_index", "path", "scope", "loop_params", "nodes",
                 "successors", "remaining", "absent")

    def __init__(self, instance: Instance, steps: tuple[StepDefinition, ...], scope: dict[str, Any],
                 loop_params: dict[str, Any], parent: Node | None = None, parent_index: int | None = None):
        self.instance = instance
        self.parent = parent
        self.parent_index = parent_index
        self.path = parent.iteration_label(parent_index) if parent is not None else ""
        self.scope = scope
        self.loop_params = loop_params
        # Upstream steps that ended without running (SKIPPED, UNSATISFIED): expressions read them
        # as None; a function's argument of that name is unbound (its default applies).
        self.absent: set[str] = set(parent.frame.absent) if parent is not None else set()
        self.nodes = {step.id: Node(step, self) for step in steps}
        self.successors: dict[str, list[Node]] = {step.id: [] for step in steps}
        for step in steps:
            for upstream in step.after:
                self.successors[upstream].append(self.nodes[step.id])
        self.remaining = len(steps)

    def sinks(self) -> list[Node]:
        return [node for sid, node in self.nodes.items() if not self.successors[sid]]


class Instance:
    """A workflow instance in memory: its definition version, current run and root frame."""

    def __init__(self, definition: WorkflowDefinition, version: int, instance_id: int, run_id: int,
                 params: dict[str, Any], journal: Callable[[Attempt], None], parent: Attempt | None = None):
        self.definition = definition
        self.workflow = definition.name
        self.version = version
        self.instance_id = instance_id
        self.run_id = run_id
        self.params = params
        self.status = InstanceStatus.CREATED
        self.journal = journal
        self.parent = parent
        self.root: Frame | None = None
        self.failing = False
        self.stopping = False
        self.failed = False
        self.stopped = False
        self.seeds: dict[tuple[str, str], Any] = {}
        self.held: list[Attempt] | None = None  # recovered work, queued only once woken
        self.unwritten: list[Attempt] | None = None  # and its records, written only once woken
        self.children: list[Instance] = []  # sub-workflow instances started for this one
        self.step_traps: list[tuple[Frame, frozenset[str], int | None]] = []
        self._upstream: dict[str, UpstreamSteps] = {}
        self.all_steps = frozenset(definition.step_ids)

    def upstream(self, step_id: str) -> UpstreamSteps:
        """Steps whose outputs `step_id` may read: its ancestors, and those of enclosing foreach steps."""
        found = self._upstream.get(step_id)
        if found is None:
            found = self._upstream[step_id] = self.definition.upstream(step_id)
        return found

    @property
    def label(self) -> str:
        return f"{self.workflow}#{self.instance_id}"

    def __repr__(self) -> str:
        return f"<Instance {self.label} run {self.run_id} {self.status.value}>"


def with_absent(scope: dict[str, Any], absent: set[str]) -> dict[str, Any]:
    """What an expression sees: the scope, and None for each upstream step that did not run."""
    return {**dict.fromkeys(absent), **scope} if absent else scope


def outcome_code(status: StepStatus) -> int:
    return _CODES.get(status, FAILED_CODE)


def all_nodes(frame: Frame | None) -> Iterator[Node]:
    """Every node of a frame and of the frames nested in it."""
    if frame is None:
        return
    for node in frame.nodes.values():
        yield node
        for child in node.children.values():
            yield from all_nodes(child)


def root_of(instance: Instance) -> Instance:
    """The top-level instance a sub-workflow instance runs for (itself, at the top)."""
    while instance.parent is not None:
        instance = instance.parent.instance
    return instance


def descendants(instance: Instance) -> list[Instance]:
    """Every sub-workflow instance started for `instance`, and theirs, depth first."""
    found = []
    for child in instance.children:
        found += [child, *descendants(child)]
    return found


def parent_ref(attempt: Attempt) -> str:
    """How a sub-workflow instance names the attempt it runs for: `parent#1/step[iteration]`."""
    return f"{attempt.instance.label}/{attempt.node.step.id}[{attempt.iteration}]"
