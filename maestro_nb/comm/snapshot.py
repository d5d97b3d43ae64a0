"""The snapshot the comm sends: every view of the read model the extension draws, as JSON.

It reads only the read model (`maestro_nb.readmodel`), the same one the magics and the panel
show, so the sidebar and the DAG view cannot disagree with `%workflow status`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..readmodel import ReadModel
from .schema import PROTOCOL

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..engine.runtime import Instance
    from ..readmodel import InstanceView

__all__ = ["snapshot", "dag_payload", "instance_dag", "PAUSED_SHOWN"]

PAUSED_SHOWN = 200  # paused attempts in a snapshot; the `paused` op pages through the rest


def snapshot(engine: Engine | None) -> dict[str, Any]:
    """Workflows, instances, the details of the latest instance of each workflow version and of
    every paused instance, breakpoints and the first paused attempts. With no engine open yet, an empty snapshot (`state_file` null)."""
    if engine is None:
        return {"revision": 0, "state_file": None, "workflows": [], "instances": [], "details": [],
                "breakpoints": [], "paused": {"items": [], "total": 0}}
    model = ReadModel(engine)
    revision = model.revision  # read first: a change while reading shows in the next update
    instances = model.instances()
    latest: dict[tuple[str, int], int] = {}  # the latest instance of each version of a workflow
    for summary in instances:
        key = (summary.workflow, summary.version)
        latest[key] = max(latest.get(key, 0), summary.instance_id)
    wanted = sorted({(wf, iid) for (wf, _), iid in latest.items()}
                    | {(s.workflow, s.instance_id) for s in instances if s.paused})
    return {
        "revision": revision,
        "state_file": engine.path,
        "workflows": [w.to_json() for w in model.workflows()],
        "instances": [s.to_json() for s in instances],
        "details": [model.instance(wf, iid).to_json() for wf, iid in wanted],
        "breakpoints": [b.to_json() for b in model.breakpoints()],
        "paused": model.paused(limit=PAUSED_SHOWN).to_json(),
    }


def dag_payload(engine: Engine, workflow: str, instance_id: int | None = None,
                version: int | None = None) -> dict[str, Any]:
    """The `application/vnd.maestro-nb.dag+json` payload: a definition's steps (`instance` null)
    or an instance's steps with their progress."""
    model = ReadModel(engine)
    if instance_id is not None:
        return _instance_payload(model.instance(workflow, instance_id))
    for w in model.workflows():
        if w.name == workflow and version in (None, w.version):
            return {"protocol": PROTOCOL, "workflow": workflow, "version": w.version, "instance": None,
                    "steps": [s.to_json() for s in w.steps]}
    from ..readmodel.model import _plain_step, _walk  # an older version: its steps as defined

    definition = engine.definition(workflow, version)
    marks = model._marks(workflow)
    return {"protocol": PROTOCOL, "workflow": workflow, "version": version, "instance": None,
            "steps": [_plain_step(definition, s, marks).to_json() for s in _walk(definition)]}


def instance_dag(engine: Engine, instance: Instance) -> dict[str, Any]:
    """The DAG view's payload for an instance object (a run summary's)."""
    return _instance_payload(ReadModel(engine).instance_view(instance))


def _instance_payload(view: InstanceView) -> dict[str, Any]:
    return {"protocol": PROTOCOL, "workflow": view.workflow, "version": view.version,
            "instance": view.instance_id, "steps": [s.to_json() for s in view.steps]}
