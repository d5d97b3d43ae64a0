"""`%%workflow NAME` and `%workflow show|run|restart|stop`: definitions and instances."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..comm.snapshot import dag_payload
from .display import DagView
from .reports import run_view

if TYPE_CHECKING:
    from .kernel import KernelSession

__all__ = ["define", "show", "run", "restart", "stop", "panel"]


def _marked(session: KernelSession, workflow: str) -> frozenset[str]:
    return frozenset(bp.step for bp in session.engine.breakpoints() if bp.workflow == workflow and bp.step)


def define(session: KernelSession, name: str, body: str) -> DagView:
    """Validate and store a definition; a changed body makes a new version. Shows the DAG."""
    defined = session.engine.define(name, body)
    steps = len(defined.definition.step_ids)
    state = "new" if defined.created else "unchanged"
    heading = f"workflow {name}, version {defined.version} ({state}): {steps} step{'s' if steps != 1 else ''}"
    return DagView(defined.definition, heading, breakpoints=_marked(session, name),
                   dag=dag_payload(session.engine, name, version=defined.version))


def show(session: KernelSession, name: str, version: int | None = None) -> DagView:
    """The DAG of a stored definition (the latest version by default)."""
    engine = session.engine
    definition = engine.definition(name, version)
    shown = version or _latest(session, name)
    return DagView(definition, f"workflow {name}, version {shown}", breakpoints=_marked(session, name),
                   dag=dag_payload(engine, name, version=shown))


def _latest(session: KernelSession, name: str) -> int:
    return int(session.engine.sql("SELECT latest_version FROM workflows WHERE workflow = ?", [name]).iloc[0, 0])


def panel(session: KernelSession, name: str | None = None, instance_id: int | None = None, *,
          background: bool = False) -> Any:
    """The live workflow panel of an instance (the latest by default); its buttons act as the
    magics do (a breakpoint added there gets its variable)."""
    from ..panel import Panel

    shown = Panel(session.engine, name, instance_id, session=session, background=background)
    session.panels.append(shown)
    return shown


def _follow(session: KernelSession, instance: Any) -> None:
    """Show a background run's panel as its live display."""
    from IPython.display import display

    display(panel(session, instance.workflow, instance.instance_id, background=True))


def run(session: KernelSession, name: str, params: dict[str, Any], *, background: bool = False) -> Any:
    """Start an instance; run it until quiescent, or in the background with the live panel."""
    engine = session.engine
    if background:
        _follow(session, engine.run(name, params, background=True))
        return None
    return run_view(session, engine.run(name, params))


def restart(session: KernelSession, name: str, instance_id: int | None = None, *, from_step: str | None = None,
            iteration: str | None = None, background: bool = False) -> Any:
    """A new run of a finished instance, keeping every upstream success."""
    engine = session.engine
    if background:
        _follow(session, engine.restart(name, instance_id, from_step=from_step, iteration=iteration,
                                        background=True))
        return None
    return run_view(session, engine.restart(name, instance_id, from_step=from_step, iteration=iteration))


def recover(session: KernelSession) -> Any:
    """Run on the instances the state file held unfinished when it was opened."""
    from .display import Text
    from .variables import many

    instances = session.engine.recover()
    if not instances:
        return Text(["nothing to recover: no instance was unfinished when the state file was opened"])
    return many([run_view(session, instance) for instance in instances])


def stop(session: KernelSession, name: str, instance_id: int | None = None) -> Any:
    """Stop an instance: paused and queued attempts end STOPPED."""
    return run_view(session, session.engine.stop(name, instance_id))
