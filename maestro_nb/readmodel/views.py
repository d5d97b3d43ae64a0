"""What the faces show: plain, immutable views of workflows, instances, breakpoints and paused
attempts, each with the JSON form the lab extension's protocol sends.

Nothing here reads the engine; `model.py` builds these. Every field is deterministic for
deterministic step code (no times, no memory addresses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .values import ValuePreview

__all__ = ["StepView", "InstanceView", "InstanceSummary", "WorkflowView", "BreakpointView", "PausedView",
           "PausedPage", "NOT_STARTED", "BLOCKED"]

NOT_STARTED = "NOT_STARTED"  # a step no attempt of this run has reached yet
BLOCKED = "BLOCKED"  # a step that will not run: a predecessor failed


@dataclass(frozen=True)
class StepView:
    """One step of a workflow, and (in an instance) how far its iterations got."""

    id: str
    label: str  # what the step runs: "run fit", "foreach lr, depth: run train"
    kind: str
    parent: str | None  # the foreach step whose body holds it
    depth: int  # 0 at the top level, 1 inside one foreach body...
    after: tuple[str, ...]
    iterations: bool  # a foreach step, or a step inside a foreach body: shown as counts
    status: str = NOT_STARTED
    counts: Mapping[str, int] = field(default_factory=dict)  # iterations by status
    total: int | None = None  # iterations of a top-level foreach once expanded (1 for a plain step)
    error: str | None = None  # the first line of the lowest failed iteration's error
    breakpoints: tuple[int, ...] = ()  # ids of the active breakpoints on this step

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "kind": self.kind, "parent": self.parent,
                "depth": self.depth, "after": list(self.after), "iterations": self.iterations,
                "status": self.status, "counts": dict(self.counts), "total": self.total,
                "error": self.error, "breakpoints": list(self.breakpoints)}


@dataclass(frozen=True)
class WorkflowView:
    """A workflow's latest definition, as a DAG of steps that have not run."""

    name: str
    version: int
    description: str
    steps: tuple[StepView, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "description": self.description,
                "steps": [s.to_json() for s in self.steps]}


@dataclass(frozen=True)
class InstanceSummary:
    """One line of the instance list: identity, status and how many attempts are paused."""

    workflow: str
    instance_id: int
    version: int
    run_id: int
    status: str  # the stored InstanceStatus: CREATED, IN_PROGRESS, SUCCEEDED, FAILED, STOPPED
    paused: int  # attempts paused in it and in the sub-workflows it runs

    @property
    def label(self) -> str:
        return f"{self.workflow}#{self.instance_id}"

    @property
    def word(self) -> str:
        """The status as users read it: 'paused' for an instance in progress with pauses."""
        return "paused" if self.paused and self.status == "IN_PROGRESS" else self.status

    def to_json(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "instance": self.instance_id, "version": self.version,
                "run": self.run_id, "status": self.status, "word": self.word, "paused": self.paused}


@dataclass(frozen=True)
class InstanceView(InstanceSummary):
    """An instance with every step of its definition and its progress."""

    steps: tuple[StepView, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "steps": [s.to_json() for s in self.steps]}


@dataclass(frozen=True)
class BreakpointView:
    """An active breakpoint: where, when, and how many attempts it holds."""

    id: int
    name: str | None  # also the kernel variable holding its paused attempts
    workflow: str
    step: str | None  # None: every step of the workflow (pause point `error`, break on failure)
    pause_point: str
    when: str | None
    scope: str  # "all instances", "instance 2, iteration 3"...
    version: int | None
    instance_id: int | None
    run_id: int | None
    iteration: str | None
    paused: int
    gate: bool = False  # an approval gate: its attempts wait for approve or reject

    @property
    def target(self) -> str:
        return self.workflow if self.step is None else f"{self.workflow}.{self.step}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "workflow": self.workflow, "step": self.step,
                "pause_point": self.pause_point, "when": self.when, "scope": self.scope,
                "version": self.version, "instance": self.instance_id, "run": self.run_id,
                "iteration": self.iteration, "paused": self.paused, "gate": self.gate}


@dataclass(frozen=True)
class PausedView:
    """One paused attempt: identity, what holds it, and its values as previews."""

    key: str  # stable while it stays paused: "wf#instance/run/step[iteration]/attempt"
    label: str  # "wf#instance step[iteration]"
    workflow: str
    instance_id: int
    run_id: int
    step: str
    iteration: str
    attempt: int
    pause_point: str
    loop_params: Mapping[str, Any]
    params: Mapping[str, ValuePreview]
    output: ValuePreview | None  # at an `after` pause
    error: str | None  # one line, `Type: message` (at an `error` pause: why the step failed)
    held_by: tuple[str, ...]  # breakpoint names (or ids), "stepped", "kept paused"
    error_type: str | None = None  # the failure's parts, as the `attempts` view stores them
    error_message: str | None = None
    traceback: str | None = None  # formatted as Python prints it; None for the engine's own findings
    gate: bool = False  # held by an approval gate: approve (go on) or reject (skip) it

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "workflow": self.workflow,
                "instance": self.instance_id, "run": self.run_id, "step": self.step,
                "iteration": self.iteration, "attempt": self.attempt, "pause_point": self.pause_point,
                "loop_params": {k: ValuePreview.of(v).to_json() for k, v in self.loop_params.items()},
                "params": {k: v.to_json() for k, v in self.params.items()},
                "output": self.output.to_json() if self.output is not None else None,
                "error": self.error, "held_by": list(self.held_by), "error_type": self.error_type,
                "error_message": self.error_message, "traceback": self.traceback, "gate": self.gate}


@dataclass(frozen=True)
class PausedPage:
    """The first paused attempts that match a filter, and how many match in all."""

    items: tuple[PausedView, ...]
    total: int

    def to_json(self) -> dict[str, Any]:
        return {"items": [p.to_json() for p in self.items], "total": self.total}
