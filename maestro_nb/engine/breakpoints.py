"""Breakpoints: what they match, and an index that checks an attempt in O(1)."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ExpressionError, ParamError, nearest
from ..models.definition import WorkflowDefinition
from ..models.expressions import Expression, compile_expression
from ..models.failure import Failure

if TYPE_CHECKING:
    from .runtime import Attempt

__all__ = ["Breakpoint", "BreakpointIndex", "PAUSE_POINTS", "check_breakpoint"]

# before: arguments bound, the step not called; after: it returned, its output not committed;
# error: it raised (its retries spent) or its arguments could not be bound (break on failure).
PAUSE_POINTS = ("before", "after", "error")


@dataclass(eq=False)
class Breakpoint:
    """A breakpoint on one step (or, at the `error` point, on every step of a workflow: `step`
    None), with an optional scope, condition and pause point. A `gate` waits for a person's
    decision: approve (resume) or reject (skip), recorded with a comment."""

    id: int
    workflow: str
    step: str | None
    pause_point: str = "before"
    version: int | None = None
    instance_id: int | None = None
    run_id: int | None = None
    iteration: str | None = None
    condition: Expression | None = None
    name: str | None = None
    gate: bool = False
    paused: set[Attempt] = field(default_factory=set, repr=False)

    def matches(self, attempt: Attempt) -> bool:
        """Scope and condition; evaluation errors match, so that a bad condition pauses."""
        instance = attempt.instance
        if self.version is not None and instance.version != self.version:
            return False
        if self.instance_id is not None and instance.instance_id != self.instance_id:
            return False
        if self.run_id is not None and instance.run_id != self.run_id:
            return False
        if self.iteration is not None and attempt.iteration != self.iteration:
            return False
        if self.condition is None:
            return True
        try:
            return bool(self.condition.evaluate(self.condition_scope(attempt)))
        except Exception as exc:  # an ExpressionError, or a value with no truth (a Series)
            text = exc.message if isinstance(exc, ExpressionError) else f"{type(exc).__name__}: {exc}"
            if attempt.error is None:  # at the error point, the step's own failure comes first
                attempt.error = Failure("ExpressionError", f"breakpoint {self.id} condition: {text}")
            return True

    @staticmethod
    def condition_scope(attempt: Attempt) -> dict[str, Any]:
        scope = dict(attempt.instance.params)
        scope.update(attempt.loop_params)
        scope.update(attempt.params)
        if attempt.pause_point == "after" or attempt.status.value == "RUNNING":
            scope["output"] = attempt.output
        return scope

    @property
    def target(self) -> str:
        """`workflow.step`, or `workflow` for a breakpoint on every step of it."""
        return self.workflow if self.step is None else f"{self.workflow}.{self.step}"

    def same_as(self, other: Breakpoint) -> bool:
        """The same target, scope, pause point, condition and gate (its name aside): Maestro's upsert key."""
        return (self.workflow, self.step, self.pause_point, self.version, self.instance_id, self.run_id,
                self.iteration, self.gate) == (other.workflow, other.step, other.pause_point, other.version,
                                               other.instance_id, other.run_id, other.iteration, other.gate) and \
            _condition_key(self.condition) == _condition_key(other.condition)

    @property
    def scope_text(self) -> str:
        parts = []
        if self.version is not None:
            parts.append(f"version {self.version}")
        if self.instance_id is not None:
            parts.append(f"instance {self.instance_id}")
        if self.run_id is not None:
            parts.append(f"run {self.run_id}")
        if self.iteration is not None:
            parts.append(f"iteration {self.iteration}")
        return ", ".join(parts) or "all instances"

    def __repr__(self) -> str:
        when = f" when {self.condition.source}" if self.condition is not None else ""
        gate = " gate" if self.gate else ""
        return f"<Breakpoint {self.id} {self.target} {self.pause_point}{gate}{when} ({self.scope_text})>"


def _condition_key(condition: Expression | None) -> str | None:
    """A condition's meaning, whitespace aside: `lr>0.1` and `lr > 0.1` are the same."""
    return None if condition is None else ast.dump(ast.parse(condition.source, mode="eval"))


class BreakpointIndex:
    """Breakpoints by (workflow, step, pause point): a check is one dict lookup (two at the
    `error` point, which also looks for the workflow's breakpoints on every step)."""

    FEW = 8  # up to this many breakpoints on one step are simply scanned

    def __init__(self) -> None:
        self.by_id: dict[int, Breakpoint] = {}
        self._by_target: dict[tuple[str, str, str], list[Breakpoint]] = {}
        # The same, split by instance scope (None: every instance), for steps with many.
        self._by_instance: dict[tuple[str, str, str], dict[int | None, list[Breakpoint]]] = {}

    def add(self, bp: Breakpoint) -> None:
        self.by_id[bp.id] = bp
        key = (bp.workflow, bp.step, bp.pause_point)
        self._by_target.setdefault(key, []).append(bp)
        self._by_instance.setdefault(key, {}).setdefault(bp.instance_id, []).append(bp)

    def remove(self, bp: Breakpoint) -> None:
        del self.by_id[bp.id]
        key = (bp.workflow, bp.step, bp.pause_point)
        self._by_target[key].remove(bp)
        scoped = self._by_instance[key]
        scoped[bp.instance_id].remove(bp)
        if not scoped[bp.instance_id]:
            del scoped[bp.instance_id]
        if not self._by_target[key]:
            del self._by_target[key]
            del self._by_instance[key]

    def matching(self, attempt: Attempt, pause_point: str) -> list[Breakpoint]:
        workflow = attempt.instance.workflow
        found = self._matching((workflow, attempt.node.step.id, pause_point), attempt)
        if pause_point == "error":
            every_step = self._matching((workflow, None, "error"), attempt)
            if every_step:
                found = sorted(found + every_step, key=_by_id) if found else every_step
        return found

    def _matching(self, key: tuple[str, str | None, str], attempt: Attempt) -> list[Breakpoint]:
        candidates = self._by_target.get(key)
        if not candidates:
            return []
        if len(candidates) > self.FEW:  # many on this step: only these scopes can match
            scoped = self._by_instance[key]
            mine = scoped.get(attempt.instance.instance_id, ())
            everyone = scoped.get(None, ())
            candidates = sorted([*everyone, *mine], key=_by_id) if mine and everyone else (mine or everyone)
        return [bp for bp in candidates if bp.matches(attempt)]

    def on_step(self, workflow: str, step: str | None) -> list[Breakpoint]:
        """The breakpoints on one step (None: those on every step of the workflow)."""
        return [bp for pp in PAUSE_POINTS for bp in self._by_target.get((workflow, step, pp), [])]

    def same_as(self, bp: Breakpoint) -> Breakpoint | None:
        """An existing breakpoint with `bp`'s target, scope, pause point and condition."""
        for other in self._by_target.get((bp.workflow, bp.step, bp.pause_point), ()):
            if other.same_as(bp):
                return other
        return None

    def __iter__(self):
        return iter(sorted(self.by_id.values(), key=lambda bp: bp.id))

    def __len__(self) -> int:
        return len(self.by_id)


def _by_id(bp: Breakpoint) -> int:
    return bp.id


def check_breakpoint(definition: WorkflowDefinition, step: str | None, *, pause: str, when: str | None,
                     version: int | None, latest: int, instance: int | None, run: int | None,
                     iteration: int | str | None, namespace: Mapping[str, Any],
                     gate: bool = False) -> tuple[str | None, Expression | None]:
    """Validate a breakpoint's settings before anything is stored; returns (iteration, condition).
    `step` None sets it on every step of the workflow, which only the `error` point allows; a
    `gate` pauses `before` or `after` its step (an approval lets it go on from there)."""
    if not isinstance(pause, str) or pause not in PAUSE_POINTS:
        raise ParamError(f"pause point {pause!r} is not one of: {', '.join(PAUSE_POINTS)}")
    if not isinstance(gate, bool):
        raise ParamError(f"gate is True or False, not {gate!r}")
    if gate and pause == "error":
        raise ParamError("a gate pauses before or after its step, for a person to approve or reject it; "
                         "break on failure (pause='error') is a plain breakpoint", workflow=definition.name)
    if step is None and pause != "error":
        raise ParamError(f"a breakpoint on every step of {definition.name!r} breaks on failure only: "
                         f"pause='error' (%breakpoint {definition.name} --on-error); name a step as "
                         f"{definition.name}.STEP for a {pause!r} breakpoint", workflow=definition.name)
    if version is not None and not 1 <= version <= latest:
        raise ParamError(f"workflow {definition.name!r} has versions 1 to {latest}, not {version}")
    for label, value in (("instance", instance), ("run", run)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ParamError(f"{label} must be a whole number >= 1, not {value!r}")
    if iteration is not None:
        iteration = str(iteration)
        if not re.fullmatch(r"\d+(/\d+)*", iteration):
            raise ParamError(f"iteration {iteration!r} must be an index such as 3, or a nested path such as 2/0")
        if step is None:
            raise ParamError("an iteration scope needs a step: WORKFLOW.STEP", workflow=definition.name)
        if definition.step(step).foreach is None and not definition.enclosing(step):
            raise ParamError(f"step {step!r} is not inside a foreach; it has no iterations", step=step)
    condition = None
    if when is not None:
        text = when.strip()
        if text.startswith("${") and text.endswith("}"):
            text = text[2:-1]
        condition = compile_expression(text)
        known = condition_names(definition, step, pause, namespace)
        if known is not None:
            unknown = sorted(condition.names - known)
            if unknown:
                hint = nearest(unknown[0], known)
                raise ParamError(
                    f"--when {when!r}: {unknown[0]!r} is not a param of {definition.name}.{step}"
                    + (f"; did you mean {hint!r}?" if hint else f"; it sees: {', '.join(sorted(known))}"),
                    workflow=definition.name, step=step,
                )
    return iteration, condition


def check_name(name: Any, taken: set[str]) -> None:
    """A breakpoint's name is an identifier no other breakpoint has."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ParamError(f"breakpoint name {name!r} must be an identifier")
    if name in taken:
        raise ParamError(f"a breakpoint named {name!r} exists already")


def condition_names(definition: WorkflowDefinition, step_id: str | None, pause: str,
                    namespace: Mapping[str, Any]) -> set[str] | None:
    """The names a condition on the step may read, or None when they are known only at run time
    (as for a breakpoint on every step, whose steps take different params)."""
    if step_id is None:
        return None
    step = definition.step(step_id)
    names = set(definition.params) | set(step.params)
    for sid in definition.enclosing(step_id) + (step_id,):
        foreach = definition.step(sid).foreach
        if foreach is not None:
            if not foreach.loops and not isinstance(foreach.items, tuple):
                return None  # loop names come from an expression: known only at run time
            names |= set(foreach.names)
    if pause == "after":
        names.add("output")
    if step.kind == "run":
        fn = namespace.get(step.target)
        if fn is None:
            return None
        try:
            parameters = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            return None
        names |= set(parameters)
    return names
