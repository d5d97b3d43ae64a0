"""The read model: one place that turns the engine's state into the views every face shows.

The magics' displays, the ipywidgets panel and the lab extension's comm all read from here
and act through the `Engine` facade, so they cannot disagree. An instance that is live in
memory (running, paused, or recovered from a crash) is read from its runtime objects, cheap
enough to redraw ten times a second while a background run goes on; one that ended in an
earlier session is read from the state file.

Reads may come from any thread while the engine drives: they copy what they iterate, and a
view taken mid-run is a consistent enough picture to draw; at quiescence it is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..engine.paused import PausedIndex
from ..engine.runtime import HOLD_KEPT, HOLD_STEP, Frame, Node, descendants
from ..models.definition import StepDefinition, WorkflowDefinition
from ..models.status import StepStatus
from .values import ValuePreview
from .views import (
    BLOCKED,
    NOT_STARTED,
    BreakpointView,
    InstanceSummary,
    InstanceView,
    PausedPage,
    PausedView,
    StepView,
    WorkflowView,
)

if TYPE_CHECKING:
    from ..engine.breakpoints import Breakpoint
    from ..engine.engine import Engine
    from ..engine.paused import PausedIndex
    from ..models.failure import Failure
from ..engine.runtime import Attempt, Instance

__all__ = ["ReadModel", "attempt_key", "step_word"]

S = StepStatus
_STATUS_ORDER = {status.value: n for n, status in enumerate(StepStatus)}
# The status that best sums up a step whose iterations ended differently, most telling first.
_TELLING = ("PAUSED", "USER_FAILED", "PLATFORM_FAILED", "FATALLY_FAILED", "INTERRUPTED", "RUNNING",
            "STOPPED", "COMPLETED_WITH_ERROR")


def attempt_key(a: Attempt) -> str:
    """A paused attempt's key, stable while it stays paused: `wf#instance/run/step[iteration]/attempt`."""
    i = a.instance
    return f"{i.workflow}#{i.instance_id}/{i.run_id}/{a.node.step.id}[{a.iteration}]/{a.number}"


def step_word(counts: dict[str, int]) -> str:
    """One status for a step from its iterations' statuses (NOT_STARTED when none has begun)."""
    for status in _TELLING:
        if counts.get(status):
            return status
    present = [s for s, n in counts.items() if n and s != S.NOT_CREATED.value]  # a restart's redo: not begun
    return min(present, key=lambda s: _STATUS_ORDER.get(s, 99)) if present else NOT_STARTED


class ReadModel:
    """Views of one engine's workflows, instances, breakpoints and paused attempts."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._listed: dict[Attempt, tuple[tuple, PausedView]] = {}  # the last rows listed without previews

    @property
    def revision(self) -> int:
        """Grows with every change to the engine's state: redraw only when it moved."""
        return self.engine.scheduler.revision

    # --- workflows --------------------------------------------------------------------
    def workflows(self) -> list[WorkflowView]:
        """Every defined workflow, its latest version as a DAG that has not run."""
        found = []
        for name in self.engine.workflows:
            definition = self.engine.definition(name)
            marks = self._marks(name)
            found.append(WorkflowView(name, self.engine.latest_version(name), definition.description,
                                      tuple(_plain_step(definition, s, marks) for s in _walk(definition))))
        return found

    def _marks(self, workflow: str) -> dict[str, tuple[int, ...]]:
        marks: dict[str, list[int]] = {}
        for bp in self.engine.breakpoints():
            if bp.workflow == workflow:
                marks.setdefault(bp.step, []).append(bp.id)
        return {step: tuple(sorted(ids)) for step, ids in marks.items()}

    # --- instances --------------------------------------------------------------------
    def instances(self, workflow: str | None = None) -> list[InstanceSummary]:
        """Every top-level instance in the state file, in order; live ones as they are now."""
        engine = self.engine
        live = {key: i for key, i in list(engine.scheduler.instances.items()) if i.parent is None}
        found: dict[tuple[str, int], InstanceSummary] = {}
        for wf, iid, version, run_id, status in engine.store.top_instances(workflow):
            found[(wf, iid)] = InstanceSummary(wf, iid, version, run_id, status, 0)
        for (wf, iid), instance in live.items():
            if workflow in (None, wf):
                found[(wf, iid)] = self._summary(instance)
        return [found[key] for key in sorted(found)]

    def _summary(self, instance: Instance) -> InstanceSummary:
        return InstanceSummary(instance.workflow, instance.instance_id, instance.version, instance.run_id,
                               instance.status.value, self._paused_in(instance))

    def _paused_in(self, instance: Instance) -> int:
        paused = self.engine.scheduler.paused
        return sum(paused.count_in(i.workflow, i.instance_id) for i in (instance, *descendants(instance)))

    def instance(self, workflow: str, instance_id: int | None = None) -> InstanceView:
        """An instance (the latest of `workflow` by default) with the progress of every step."""
        return self.instance_view(self.engine.instance(workflow, instance_id))

    def instance_view(self, instance: Instance) -> InstanceView:
        definition = instance.definition
        marks = self._marks(instance.workflow)
        if instance.root is not None:
            steps = self._live_steps(instance, marks)
        else:
            steps = self._stored_steps(instance, marks)
        summary = self._summary(instance)
        return InstanceView(summary.workflow, summary.instance_id, summary.version, summary.run_id,
                            summary.status, summary.paused,
                            tuple(steps[s.id] for s in _walk(definition)))

    def _live_steps(self, instance: Instance, marks: dict[str, tuple[int, ...]]) -> dict[str, StepView]:
        """Progress from the runtime: every node of every frame, grouped by step."""
        definition = instance.definition
        paused = self.engine.scheduler.paused
        # Recovered work waiting for `recover()` is stored as INTERRUPTED: shown so until it runs.
        waiting: dict[Node, int] = {}
        for a in list(instance.held or ()):
            waiting[a.node] = waiting.get(a.node, 0) + 1
        nodes: dict[str, list[Node]] = {}
        for node in _nodes(instance.root):
            nodes.setdefault(node.step.id, []).append(node)
        found = {}
        for step in _walk(definition):
            counts: dict[str, int] = {}
            total: int | None = None
            error: tuple[int, Failure] | None = None
            started = blocked = False
            for node in nodes.get(step.id, ()):
                for status, n in list(node.ended.items()):
                    counts[status.value] = counts.get(status.value, 0) + n
                if node.step.kind == "steps":  # its iterations are bodies: paused if a step in them is
                    held = sum(1 for body in list(node.children.values()) if _waits_on_pause(body, paused))
                    running = node.active - held
                else:
                    held, running = paused.count(node), node.active
                interrupted = waiting.get(node, 0)
                if interrupted:
                    counts["INTERRUPTED"] = counts.get("INTERRUPTED", 0) + interrupted
                    running -= interrupted
                if held:
                    counts["PAUSED"] = counts.get("PAUSED", 0) + held
                if running > 0:
                    counts["RUNNING"] = counts.get("RUNNING", 0) + running
                blocked = blocked or node.blocked
                started = started or node.status is not None or node.blocked
                if node.first_error is not None and (error is None or node.first_error[0] < error[0]):
                    error = node.first_error
            mine = nodes.get(step.id, ())
            if definition.parent(step.id) is None and mine and mine[0].status is not None:
                total = max(mine[0].total, sum(mine[0].ended.values()))
            if definition.parent(step.id) is None and mine and mine[0].status is not None \
                    and mine[0].status.terminal:
                word = mine[0].status.value  # the step's own ending (COMPLETED_WITH_ERROR...)
            elif counts:
                word = step_word(counts)
            elif blocked:
                word = BLOCKED
            else:
                word = "RUNNING" if started else NOT_STARTED
            found[step.id] = _plain_step(definition, step, marks, status=word, counts=counts, total=total,
                                         error=error[1].line if error else None)
        return found

    def _stored_steps(self, instance: Instance, marks: dict[str, tuple[int, ...]]) -> dict[str, StepView]:
        """Progress from the state file: an instance not driven in this session."""
        definition = instance.definition
        counts: dict[str, dict[str, int]] = {}
        errors: dict[str, str] = {}
        for step_id, status, n, error in self.engine.store.step_progress(instance.workflow, instance.instance_id):
            counts.setdefault(step_id, {})[status] = n
            if error and StepStatus(status).failed and step_id not in errors:
                errors[step_id] = error
        ended = self.engine.store.step_endings(instance.workflow, instance.instance_id)
        found = {}
        for step in _walk(definition):
            mine = counts.get(step.id, {})
            top = definition.parent(step.id) is None
            total = sum(mine.values()) if mine and top else None
            word = ended[step.id] if top and step.id in ended and not mine.get("PAUSED") else step_word(mine)
            found[step.id] = _plain_step(definition, step, marks, status=word, counts=mine,
                                         total=total, error=errors.get(step.id))
        return found

    # --- breakpoints ------------------------------------------------------------------
    def breakpoints(self) -> list[BreakpointView]:
        """Every active breakpoint, by id."""
        return [self._breakpoint(bp) for bp in sorted(self.engine.breakpoints(), key=lambda bp: bp.id)]

    @staticmethod
    def _breakpoint(bp: Breakpoint) -> BreakpointView:
        return BreakpointView(bp.id, bp.name, bp.workflow, bp.step, bp.pause_point,
                              bp.condition.source if bp.condition is not None else None, bp.scope_text,
                              bp.version, bp.instance_id, bp.run_id, bp.iteration, len(bp.paused), bp.gate)

    # --- paused attempts --------------------------------------------------------------
    def paused(self, workflow: str | None = None, step: str | None = None, instance: int | None = None,
               *, limit: int | None = None, previews: bool = True, **loop_params: Any) -> PausedPage:
        """Paused attempts in display order: the first `limit` that match, and how many match.
        Without `previews`, rows for a list: each view's `params` is empty and its `output` None
        (`paused_view` of one attempt has them), which spares previewing every value listed."""
        index = self.engine.scheduler.paused
        found = index.select(workflow, instance, step, loop_params=loop_params)
        chosen = found if limit is None else islice(found, limit)
        items = [self.paused_view(a) for a in chosen] if previews else self._rows(chosen)
        total = len(items) if limit is None else index.count_matching(workflow, instance, step,
                                                                       loop_params=loop_params)
        return PausedPage(tuple(items), total)

    def _rows(self, attempts: Iterable[Attempt]) -> list[PausedView]:
        """Views without previews, each kept from the last listing while its attempt shows the
        same (run, pause point, error, holders, gate): a list redrawn after one attempt moved
        builds one view, not one per row. The rest of a view is the attempt's identity."""
        last, kept, items = self._listed, {}, []
        for a in attempts:
            held_by = tuple(self.holders(a))
            gate = bool(self.engine.scheduler.gates(a)) if a.paused_by else False
            stamp = (a.instance.run_id, a.pause_point, a.error, held_by, gate)
            row = last.get(a)
            if row is None or row[0] != stamp:
                row = (stamp, self._view(a, False, held_by, gate))
            kept[a] = row
            items.append(row[1])
        self._listed = kept  # only the rows of this listing: the cache never outgrows a page
        return items

    def paused_view(self, a: Attempt, previews: bool = True) -> PausedView:
        gate = bool(self.engine.scheduler.gates(a)) if a.paused_by else False
        return self._view(a, previews, tuple(self.holders(a)), gate)

    @staticmethod
    def _view(a: Attempt, previews: bool, held_by: tuple[str, ...], gate: bool) -> PausedView:
        output = ValuePreview.of(a.output) if a.pause_point == "after" and previews else None
        params = {name: ValuePreview.of(value) for name, value in list(a.params.items())} if previews else {}
        error = a.error
        return PausedView(
            attempt_key(a), a.label, a.instance.workflow, a.instance.instance_id, a.instance.run_id,
            a.node.step.id, a.iteration, a.number, a.pause_point or "", dict(a.loop_params), params, output,
            error.line if error is not None else None, held_by,
            error.type if error is not None else None, error.message if error is not None else None,
            error.traceback if error is not None else None, gate,
        )

    def holders(self, a: Attempt) -> list[str]:
        """What holds an attempt paused: breakpoint names (else ids), 'stepped', 'kept paused'."""
        found = []
        by_id = self.engine.breakpoint_index.by_id
        for bp_id in sorted(a.paused_by):
            if bp_id == HOLD_STEP:
                found.append("stepped")
            elif bp_id == HOLD_KEPT:
                found.append("kept paused")
            else:
                bp = by_id.get(bp_id)
                found.append(bp.name if bp is not None and bp.name else f"breakpoint {bp_id}")
        return found

    def find_paused(self, key: str) -> Attempt | None:
        """The paused attempt with this key, or None when it is no longer paused."""
        workflow, _, rest = key.partition("#")
        instance_id = rest.split("/", 1)[0]
        if not instance_id.isdigit():
            return None
        parts = key.split("/", 2)  # wf#instance, run, step[iteration]/attempt
        step, bracket, rest = parts[-1].partition("[")
        if len(parts) < 3 or not bracket:
            return None
        iteration = rest.rpartition("]")[0]
        for a in self.engine.scheduler.paused.select(workflow, int(instance_id), step, iteration=iteration):
            if attempt_key(a) == key:
                return a
        return None



def _walk(definition: WorkflowDefinition) -> Iterable[StepDefinition]:
    """Every step, nested ones included, in definition order."""
    return (definition.step(sid) for sid in definition.step_ids)


def _plain_step(definition: WorkflowDefinition, step: StepDefinition, marks: dict[str, tuple[int, ...]],
                **progress: Any) -> StepView:
    parent = definition.parent(step.id)
    depth = len(definition.enclosing(step.id))
    return StepView(step.id, step.label, step.kind, parent, depth, step.after,
                    step.foreach is not None or depth > 0, breakpoints=marks.get(step.id, ()), **progress)


def _waits_on_pause(frame: Frame, paused: PausedIndex) -> bool:
    """Whether an unfinished foreach body holds a paused attempt, at any depth."""
    return frame.remaining > 0 and any(paused.count(node) for node in _nodes(frame))


def _nodes(frame: Frame | None) -> Iterable[Node]:
    """Every node of a frame and of the frames nested in it, safe to read while the driver adds frames."""
    if frame is None:
        return
    for node in list(frame.nodes.values()):
        yield node
        for child in list(node.children.values()):
            yield from _nodes(child)

