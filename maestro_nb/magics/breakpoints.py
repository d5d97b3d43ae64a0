"""`%breakpoint WF.STEP ...`, `%breakpoint list`, `%breakpoint delete`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .display import Table, Text, Views
from .reports import after_action

if TYPE_CHECKING:
    from ..engine.breakpoints import Breakpoint
    from .kernel import KernelSession

__all__ = ["set_breakpoint", "list_breakpoints", "delete_breakpoint"]


def _on(bp: Breakpoint) -> str:
    return f"every step of {bp.workflow}" if bp.step is None else bp.target


def _point(bp: Breakpoint) -> str:
    return f"{bp.pause_point}, gate" if bp.gate else bp.pause_point


def _describe(bp: Breakpoint) -> str:
    when = f" when {bp.condition.source}" if bp.condition is not None else ""
    return f"breakpoint {bp.id} on {_on(bp)}: {_point(bp)}{when}, {bp.scope_text}"


def set_breakpoint(session: KernelSession, workflow: str, step: str | None, *, when: str | None = None,
                   pause: str = "before", version: int | None = None, instance: int | None = None,
                   run: int | None = None, iteration: str | None = None, name: str | None = None,
                   gate: bool = False) -> Text:
    """Pause every attempt of WF.STEP (every step of WF, at the error point) that reaches the pause
    point from now on; bind its variable. Settings that match a breakpoint return that one."""
    engine = session.engine
    definition = engine.definition(workflow)  # unknown names fail here, with a hint
    if step is not None:
        definition.step(step)
    target = workflow if step is None else f"{workflow}.{step}"
    settings = dict(when=when, pause=pause, version=version, instance=instance, run=run, iteration=iteration,
                    gate=gate)
    existing = engine.same_breakpoint(target, **settings)
    if existing is not None and name in (None, existing.name):  # the cell ran again
        bound = session.push_breakpoint(existing)
        return Text([f"{_describe(existing)}; set already, {_where(session, existing.name, bound, step)}"])
    variable = session.variable_name(workflow, step, name)
    bp = engine.set_breakpoint(target, name=variable, **settings)
    return Text([f"{_describe(bp)}; {_where(session, variable, session.push_breakpoint(bp), step)}"])


def _where(session: KernelSession, variable: str | None, bound: str | None, step: str | None) -> str:
    if bound:
        return f"paused attempts go in `{bound}`"
    show = f"{session.paused_variable()}.where(step={step!r})" if step is not None else session.paused_variable()
    return f"`{variable}` is your own variable; use {show}"


def list_breakpoints(session: KernelSession) -> Table:
    """Every active breakpoint, with its variable and how many attempts it holds."""
    rows = []
    for bp in session.engine.breakpoints():
        rows.append((bp.id, bp.name or "", _on(bp), _point(bp),
                     bp.condition.source if bp.condition is not None else "", bp.scope_text, len(bp.paused)))
    return Table("breakpoints", ("id", "variable", "step", "pause", "when", "scope", "paused"), rows,
                 empty="none (set one with %breakpoint WF.STEP)")


def delete_breakpoint(session: KernelSession, selector: str, *, keep_paused: bool = False) -> Any:
    """Delete breakpoints by WF.STEP, id or name; what they alone held resumes unless `keep_paused`."""
    engine = session.engine
    found = engine.find_breakpoints(selector)
    held = {a for bp in found for a in bp.paused}
    released = engine.delete_breakpoint(selector, keep_paused=keep_paused)
    for bp in found:
        session.drop_breakpoint(bp)
    names = ", ".join(f"{bp.id}" + (f" ({bp.name})" if bp.name else "") for bp in found)
    what = f"deleted breakpoint{'s' if len(found) != 1 else ''} {names}"
    if keep_paused:
        what += f"; {len(held)} attempt{'s' if len(held) != 1 else ''} stay paused"
    else:
        what += f"; resumed {len(released)} attempt{'s' if len(released) != 1 else ''}"
        still = len(held) - len(released)
        if still:
            what += f", {still} still held by other breakpoints"
    if not held:
        return Text([what])
    return Views([Text([what]), after_action(session, sorted(held, key=_order))])


def _order(a: Any) -> tuple:
    from .variables import attempt_order

    return attempt_order(a)
