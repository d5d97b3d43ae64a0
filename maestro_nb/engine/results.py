"""A step's results as a pandas DataFrame: one row per iteration (and body step, for a foreach
whose body is a list of steps).

Loop params show the value each iteration ran with: a param the user changed on a paused
attempt shows its new value, and the `changed` column names it. Output fields are flattened
into columns; an iteration without output leaves its cells empty, and a column of whole
numbers stays whole numbers (pandas' Int64) when some cells are empty.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..models.definition import StepDefinition
from ..store.values import NotPersisted

if TYPE_CHECKING:
    from .engine import Engine
    from .runtime import Instance

__all__ = ["results_frame"]


def _flatten(value: Any, prefix: str, into: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), into)
    elif value is not None or prefix:
        into[prefix or "output"] = value


def _body(step: StepDefinition) -> list[str]:
    """The steps of a foreach body, nested bodies included, in definition order."""
    found: list[str] = []
    for inner in step.body:
        if inner.kind != "steps":
            found.append(inner.id)
        found += _body(inner)
    return found


def _loop_names(instance: Instance, step_id: str) -> list[str]:
    definition = instance.definition
    names: dict[str, None] = {}
    for sid in (*definition.enclosing(step_id), step_id):
        foreach = definition.step(sid).foreach
        if foreach is not None:
            names.update(dict.fromkeys(foreach.names))
    return list(names)


def _column(values: list[Any]) -> Any:
    """Whole numbers with gaps as pandas' Int64, not floats; anything else as pandas infers it."""
    present = [v for v in values if v is not None]
    if present and len(present) < len(values) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in present):
        import pandas as pd

        return pd.array(values, dtype="Int64")
    return values


def results_frame(engine: Engine, instance: Instance, step_id: str) -> Any:
    import pandas as pd

    from .seeds import iteration_key, memory_outputs

    step = instance.definition.step(step_id)
    body = _body(step) if step.kind == "steps" else None
    ids = body or [step_id]
    position = {sid: n for n, sid in enumerate(ids)}
    rows = engine.store.iteration_rows(instance.workflow, instance.instance_id, ids)
    depth = len(instance.definition.enclosing(step_id)) + 1  # body rows: by iteration of `step_id`, then step
    rows.sort(key=lambda r: (iteration_key(r[1])[:depth], position[r[0]], iteration_key(r[1])))
    memory = memory_outputs(instance) if instance.root is not None else {}
    records = []
    params_seen: dict[str, None] = dict.fromkeys(_loop_names(instance, ids[0]))
    outputs_seen: dict[str, None] = {}
    for row in rows:
        sid, iteration, attempt, status, output, params, loop_params, changed = (
            row[0], row[1], row[2], row[3], row[5], row[6], row[7], list(row[16] or ()))
        loops = engine.codec.decode_params(loop_params)
        record: dict[str, Any] = {"iteration": iteration, "step": sid, "status": status, "attempt": attempt,
                                  "changed": ", ".join(changed)}
        bound = json.loads(params) if params and (loops or changed) else {}
        for name in [*loops, *(c for c in changed if c not in loops)]:  # as the iteration ran
            record[name] = engine.codec.decode(json.dumps(bound[name])) if name in bound else loops[name]
            params_seen[name] = None
        value = engine.codec.decode(output)
        if isinstance(value, NotPersisted) and (sid, iteration) in memory:
            value = memory[(sid, iteration)]
        fields: dict[str, Any] = {}
        _flatten(value, "", fields)
        for key, field_value in fields.items():
            column = key if key not in record and key not in _FIXED else f"output.{key}"
            record[column] = field_value
            outputs_seen[column] = None
        records.append(record)
    columns = ["iteration", *(["step"] if body is not None else []), *params_seen, "status", "attempt"]
    if any(record["changed"] for record in records):
        columns.append("changed")  # only when some iteration ran with a param the user changed
    columns += list(outputs_seen) or ["output"]
    if not records:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({name: _column([record.get(name) for record in records]) for name in columns})


_FIXED = frozenset({"iteration", "step", "status", "attempt", "changed"})
