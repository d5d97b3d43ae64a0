"""`%workflow status`, `results`, `timeline`, and the run summary every action shows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..comm.snapshot import dag_payload, instance_dag
from ..engine.runtime import descendants, root_of
from ..models.status import StepStatus
from .display import DagView, RunView, StepLine, Table, Text
from .variables import SHOWN, describe, many

if TYPE_CHECKING:
    from ..engine.runtime import Attempt, Instance
    from .kernel import KernelSession

__all__ = ["run_view", "after_action", "status", "results", "timeline"]

_FAILED = {s.value for s in StepStatus if s.terminal and not s.complete}


def _progress(session: KernelSession, instance: Instance) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Iterations counted by status and the first error of every step: from the runtime for an
    instance live in this session (no SQL, whatever the number of iterations), else from the file."""
    engine = session.engine
    counts: dict[str, dict[str, int]] = {}
    errors: dict[str, str] = {}
    if instance.root is not None:
        from ..readmodel import ReadModel

        for view in ReadModel(engine).instance_view(instance).steps:
            counts[view.id] = {status: n for status, n in view.counts.items() if n}
            if view.error:
                errors[view.id] = view.error
        return counts, errors
    for step_id, status_value, count, error in engine.progress(instance):
        counts.setdefault(step_id, {})[status_value] = count
        if error and status_value in _FAILED and step_id not in errors:
            errors[step_id] = error
    return counts, errors


def run_view(session: KernelSession, instance: Instance) -> RunView:
    """An instance's steps (iterations counted by status) and its paused attempts."""
    engine = session.engine
    definition = instance.definition
    counts, errors = _progress(session, instance)
    lines = []
    for step_id in definition.step_ids:
        step = definition.step(step_id)
        depth = len(definition.enclosing(step_id))
        lines.append(StepLine(step_id, depth, step.label, counts.get(step_id, {}),
                              step.foreach is not None or depth > 0, errors.get(step_id)))
    index = engine.scheduler.paused
    family = [(each.workflow, each.instance_id) for each in (instance, *descendants(instance))]
    total = sum(index.count_in(wf, iid) for wf, iid in family)
    at_error = sum(index.errors_in(wf, iid) for wf, iid in family)
    attempts = list(islice(index.ordered_in(family), SHOWN))
    hints = []
    if attempts:
        name = session.paused_variable()
        if total > at_error:
            hints.append(f"inspect them in `{name}`; continue with %resume (or %skip) WF.STEP "
                         "[--iteration K | name=value ...] or --all")
        if at_error:
            failed = index.first_at_error_in(family)
            hints.append(f"at an error: fix the step, then {name}.where(step={failed.step_id!r}).retry(); "
                         ".debug() opens the debugger on one, .fail() lets them fail")
    return RunView(f"{instance.label} (version {instance.version}, run {instance.run_id})",
                   engine.status_word(instance), lines, [describe(session, a) for a in attempts],
                   hints, paused_total=total, dag=instance_dag(engine, instance))


def after_action(session: KernelSession, attempts: Iterable[Attempt]) -> Any:
    """The run summary of every instance the attempts belong to, after the action."""
    seen: dict[tuple[str, int], Instance] = {}
    for a in attempts:
        top = a.instance
        while top.parent is not None:
            top = top.parent.instance
        seen.setdefault((top.workflow, top.instance_id), top)
    return many([run_view(session, seen[key]) for key in sorted(seen)]) if seen else Text(["nothing to do"])


def status(session: KernelSession, workflow: str | None = None, instance_id: int | None = None) -> Any:
    """One workflow's instance (the latest by default), or every instance of every workflow."""
    engine = session.engine
    if workflow is not None:
        definition = engine.definition(workflow)
        has_instances = not engine.sql("SELECT 1 FROM instances WHERE workflow = ? LIMIT 1", [workflow]).empty
        if instance_id is None and not has_instances:
            return DagView(definition, f"{workflow}: no instance yet (%workflow run {workflow})",
                           dag=dag_payload(engine, workflow))
        return run_view(session, engine.instance(workflow, instance_id))
    frame = engine.sql("SELECT workflow, instance_id, version, run_id, status FROM instances"
                       " WHERE parent IS NULL ORDER BY workflow, instance_id")
    paused: dict[tuple[str, int], int] = {}
    for a in engine.paused():  # a sub-workflow's pauses count for the instance it runs for
        top = root_of(a.instance)
        key = (top.workflow, top.instance_id)
        paused[key] = paused.get(key, 0) + 1
    rows = []
    for wf, iid, version, run_id, word in frame.itertuples(index=False):
        count = paused.get((wf, int(iid)), 0)
        rows.append((f"{wf}#{iid}", version, run_id, "paused" if count else word, count or ""))
    with_instances = set(frame["workflow"]) | set(
        engine.sql("SELECT DISTINCT workflow FROM instances WHERE parent IS NOT NULL")["workflow"])
    rows += [(f"{wf}", "", "", "no instance yet", "") for wf in engine.workflows if wf not in with_instances]
    rows.sort(key=lambda r: (r[0].split("#")[0], int(r[0].split("#")[1]) if "#" in r[0] else 0))
    return Table(f"instances in {engine.path}", ("instance", "version", "run", "status", "paused"), rows,
                 empty="no workflow defined yet (define one with %%workflow NAME)", status_column="status")


def results(session: KernelSession, workflow: str, step: str, instance_id: int | None = None) -> Any:
    """A pandas DataFrame: one row per iteration of the step."""
    return session.engine.results(workflow, step, instance_id)


def timeline(session: KernelSession, workflow: str, instance_id: int | None = None) -> Any:
    """Every transition and event of an instance, with seconds since its first event."""
    engine = session.engine
    instance = engine.instance(workflow, instance_id)
    frame = engine.sql(
        "SELECT recorded_at, run_id AS run, step_id AS step, iteration, attempt, kind, detail FROM events"
        " WHERE workflow = ? AND instance_id = ? ORDER BY recorded_at",
        [workflow, instance.instance_id],
    )
    if frame.empty:
        return frame
    start = frame["recorded_at"].min()
    frame.insert(0, "seconds", [round((t - start).total_seconds(), 4) for t in frame["recorded_at"]])
    frame["detail"] = [_detail(kind, text) for kind, text in zip(frame["kind"], frame["detail"])]
    return frame.drop(columns=["recorded_at"]).reset_index(drop=True)


def _detail(kind: str, text: Any) -> str:
    try:
        detail = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return str(text)
    if kind == "status":
        return str(detail.get("status", ""))
    if kind == "mutate":
        what = "output" if detail.get("output") else detail.get("param")
        return f"{what}: {detail.get('old')} -> {detail.get('new')}"
    return ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, False))
