"""A step's results as a pandas DataFrame: one row per iteration."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..store.values import NotPersisted

if TYPE_CHECKING:
    from .engine import Engine
    from .runtime import Instance

__all__ = ["results_frame"]


def _flatten(value: Any, prefix: str, into: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), into)
    else:
        into[prefix or "output"] = value


def results_frame(engine: Engine, instance: Instance, step_id: str) -> Any:
    import pandas as pd

    from .seeds import iteration_key, memory_outputs

    rows = [(row[1], row[7], row[3], row[2], row[5])  # iteration, loop params, status, attempt, output
            for row in engine.store.iteration_rows(instance.workflow, instance.instance_id, step_id)]
    memory = memory_outputs(instance) if instance.root is not None else {}
    records = []
    loop_names: dict[str, None] = {}
    for iteration, loop_params, status, attempt, output in sorted(rows, key=lambda r: iteration_key(r[0])):
        loops = json.loads(loop_params or "{}")
        loop_names.update(dict.fromkeys(loops))
        value = engine.codec.decode(output)
        if isinstance(value, NotPersisted) and (step_id, iteration) in memory:
            value = memory[(step_id, iteration)]
        record: dict[str, Any] = {"iteration": iteration, **loops, "status": status, "attempt": attempt}
        fields: dict[str, Any] = {}
        _flatten(value, "", fields)
        for key, field_value in fields.items():
            record[key if key not in record else f"output.{key}"] = field_value
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        frame = pd.DataFrame(columns=["iteration", *loop_names, "status", "attempt", "output"])
    return frame
