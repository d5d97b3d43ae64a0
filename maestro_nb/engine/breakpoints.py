"""Breakpoints: what they match, and an index that checks an attempt in O(1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ExpressionError
from ..models.expressions import Expression

if TYPE_CHECKING:
    from .runtime import Attempt

__all__ = ["Breakpoint", "BreakpointIndex", "PAUSE_POINTS"]

PAUSE_POINTS = ("before", "after")


@dataclass(eq=False)
class Breakpoint:
    """A breakpoint on one step, with an optional scope, condition and pause point."""

    id: int
    workflow: str
    step: str
    pause_point: str = "before"
    version: int | None = None
    instance_id: int | None = None
    run_id: int | None = None
    iteration: str | None = None
    condition: Expression | None = None
    name: str | None = None
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
        except ExpressionError as exc:
            attempt.error = f"breakpoint {self.id} condition: {exc.message}"
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
        return f"{self.workflow}.{self.step}"

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
        return f"<Breakpoint {self.id} {self.target} {self.pause_point}{when} ({self.scope_text})>"


class BreakpointIndex:
    """Breakpoints by (workflow, step, pause point): a check is one dict lookup."""

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
        key = (attempt.instance.workflow, attempt.node.step.id, pause_point)
        candidates = self._by_target.get(key)
        if not candidates:
            return []
        if len(candidates) > self.FEW:  # many on this step: only these scopes can match
            scoped = self._by_instance[key]
            mine = scoped.get(attempt.instance.instance_id, ())
            everyone = scoped.get(None, ())
            candidates = sorted([*everyone, *mine], key=_by_id) if mine and everyone else (mine or everyone)
        return [bp for bp in candidates if bp.matches(attempt)]

    def on_step(self, workflow: str, step: str) -> list[Breakpoint]:
        return [bp for pp in ("before", "after") for bp in self._by_target.get((workflow, step, pp), [])]

    def __iter__(self):
        return iter(sorted(self.by_id.values(), key=lambda bp: bp.id))

    def __len__(self) -> int:
        return len(self.by_id)


def _by_id(bp: Breakpoint) -> int:
    return bp.id
