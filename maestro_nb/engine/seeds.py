"""Seeds: what earlier runs (or an earlier process) left for each step iteration.

A restart or a recovery starts the instance afresh with seeds: an iteration whose seed
succeeded (with a persisted output) is kept, a paused one is revived, the rest run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownNameError
from ..models.definition import WorkflowDefinition
from ..models.failure import Failure
from ..models.status import StepStatus
from ..store import Store, ValueCodec
from ..store.values import NotPersisted
from .runtime import DONE, Instance, all_nodes

__all__ = ["Seed", "read_seeds", "lost_outputs", "drop_for_restart", "memory_outputs", "iteration_key"]

S = StepStatus


@dataclass
class Seed:
    """The latest attempt of one step iteration, as stored."""

    status: StepStatus
    number: int
    run_id: int
    output: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    loop_params: dict[str, Any] = field(default_factory=dict)
    pause_point: str | None = None
    paused_by: set[int] = field(default_factory=set)
    history: list[tuple[StepStatus, float]] = field(default_factory=list)
    error: Failure | None = None
    failures: int = 0  # USER_FAILED attempts of this iteration in its run: the retries used
    platform_failures: int = 0  # PLATFORM_FAILED ones: the platform retries used
    changed: frozenset[str] = frozenset()  # params the user changed

    @property
    def kept(self) -> bool:
        """A success whose output survives: the iteration need not run again."""
        return self.status in (S.SUCCEEDED, S.COMPLETED_WITH_ERROR) and not isinstance(self.output, NotPersisted)

    @property
    def lost(self) -> bool:
        """A success whose output was not persisted: the iteration will run again."""
        return self.status in (S.SUCCEEDED, S.COMPLETED_WITH_ERROR) and isinstance(self.output, NotPersisted)


def read_seeds(store: Store, codec: ValueCodec, instance: Instance) -> dict[tuple[str, str], Seed]:
    """Seeds by (step id, iteration); outputs kept in memory only are taken from the live instance."""
    rows = store.iteration_rows(instance.workflow, instance.instance_id)
    memory = memory_outputs(instance) if instance.root is not None else {}
    seeds: dict[tuple[str, str], Seed] = {}
    for (step_id, it, number, status, run_id, output, params, loop_params, pause_point, paused_by,
         transitions, times, error, failures, error_type, traceback, changed, platform_failures) in rows:
        if step_id not in instance.all_steps:
            continue
        value = codec.decode(output)
        if isinstance(value, NotPersisted) and (step_id, it) in memory:
            value = memory[(step_id, it)]
        seeds[(step_id, it)] = Seed(
            status=S(status), number=number, run_id=run_id, output=value,
            params=codec.decode_params(params), loop_params=codec.decode_params(loop_params),
            pause_point=pause_point, paused_by=set(paused_by or ()),
            history=[(S(t), at) for t, at in zip(transitions, times)],
            error=Failure.from_stored(error_type, error, traceback), failures=failures,
            changed=frozenset(changed or ()), platform_failures=platform_failures,
        )
    return seeds


def lost_outputs(store: Store, codec: ValueCodec, instance: Instance) -> list[tuple[str, str]]:
    """(step id, iteration) of every iteration whose latest attempt succeeded with an output
    that was not persisted: the seeds `read_seeds` finds `lost`, found without reading back
    any output that was (a reopened sweep of 100k tables)."""
    lost: list[tuple[str, str]] = []
    tables: dict[str, list[tuple[str, str]]] = {}
    for step_id, it, output in store.marked_outputs(instance.workflow, instance.instance_id):
        if step_id not in instance.all_steps:
            continue
        gone, table = codec.lost_at_top(output)
        if gone:
            lost.append((step_id, it))
        elif table is not None:
            tables.setdefault(table, []).append((step_id, it))
    for name in store.missing_tables(tables):
        lost.extend(tables[name])
    return lost


def drop_for_restart(seeds: dict[tuple[str, str], Seed], definition: WorkflowDefinition, from_step: str,
                     target: str | None) -> None:
    """Drop the seeds of `from_step` (or of its iteration `target`) and of everything downstream."""
    dropped = _invalidated(definition, from_step, target is None)
    if target is not None:
        known = {it for (sid, it) in seeds if sid == from_step or definition.parent(sid) == from_step}
        if not any(it == target or it.startswith(target + "/") for it in known):
            raise UnknownNameError("iteration", target, sorted(known, key=iteration_key), workflow=definition.name)
    for key in list(seeds):
        sid, it = key
        if sid in dropped:
            if target is None or _same_outer_iteration(definition, sid, it, from_step, target):
                del seeds[key]
        elif target is not None and (sid == from_step or from_step in definition.enclosing(sid)) and (
                it == target or it.startswith(target + "/")):
            del seeds[key]


def _invalidated(definition: WorkflowDefinition, step_id: str, whole: bool) -> set[str]:
    """Steps that must run again when `step_id` does (whole: the step itself too)."""
    dropped: set[str] = {step_id} if whole else set()
    level = step_id
    while True:
        parent = definition.parent(level)
        dropped |= definition.graph(parent).descendants(level)
        if parent is None:
            break
        level = parent
    for sid in list(dropped):
        stack = list(definition.step(sid).body)
        while stack:
            inner = stack.pop()
            dropped.add(inner.id)
            stack.extend(inner.body)
    return dropped


def iteration_key(text: str) -> tuple[int, ...]:
    """Sort key for iteration labels such as '10' or '2/1'."""
    return tuple(int(p) for p in text.split("/") if p)


def _same_outer_iteration(definition: WorkflowDefinition, step_id: str, iteration: str, from_step: str,
                          target: str) -> bool:
    """Whether `iteration` of `step_id` is downstream of iteration `target` of `from_step`: within the
    foreach iterations both steps share, only the one `target` lies in is."""
    depth = 0
    for mine, theirs in zip(definition.enclosing(step_id), definition.enclosing(from_step)):
        if mine != theirs:
            break
        depth += 1
    prefix = "/".join(target.split("/")[:depth])
    return not prefix or iteration == prefix or iteration.startswith(prefix + "/")


def memory_outputs(instance: Instance) -> dict[tuple[str, str], Any]:
    """Outputs of the live instance's succeeded iterations, by (step id, iteration)."""
    found: dict[tuple[str, str], Any] = {}
    for node in all_nodes(instance.root):
        if node.step.kind == "steps" or not node.outputs:
            continue
        for index, code in enumerate(node.outcomes):
            if code == DONE:
                key = index if node.is_foreach else None
                found[(node.step.id, node.iteration_label(key))] = node.outputs[index]
    return found
