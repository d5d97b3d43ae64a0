"""Breakpoints: the active ones, each with a Delete button, and a small form to add one (step,
pause point, condition, gate); a refused setting shows one line in the panel."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets

from ..readmodel import BreakpointView
from .util import close_tree

__all__ = ["BreakpointsBox", "breakpoint_text", "EVERY_STEP"]

EVERY_STEP = "*"  # the step choice for a break on failure at every step of the workflow


def breakpoint_text(bp: BreakpointView) -> str:
    on = f"every step of {bp.workflow}" if bp.step is None else bp.target
    when = f" when {bp.when}" if bp.when else ""
    gate = ", gate" if bp.gate else ""
    name = f" `{bp.name}`" if bp.name else ""
    return f"{bp.id}{name} on {on}: {bp.pause_point}{gate}{when}, {bp.scope}; {bp.paused} paused"


class BreakpointsBox(widgets.VBox):
    """The list and the form. `delete(id)` and `add()` are the panel's guarded actions."""

    def __init__(self, delete: Callable[[int], None], add: Callable[[], None]):
        self._delete = delete
        self.rows = widgets.VBox([])
        self.deletes: dict[int, widgets.Button] = {}
        self.labels: dict[int, widgets.Label] = {}  # each row's text, by breakpoint id
        self.step = widgets.Dropdown(options=[], description="step", layout=widgets.Layout(width="16em"))
        self.point = widgets.Dropdown(options=["before", "after", "error"], value="before", description="pause",
                                      layout=widgets.Layout(width="12em"))
        self.when = widgets.Text(value="", placeholder="condition, e.g. lr > 0.05", description="when",
                                 layout=widgets.Layout(width="20em"))
        self.gate = widgets.Checkbox(value=False, description="approval gate", indent=False,
                                     layout=widgets.Layout(width="9em"))
        self.add = widgets.Button(description="Add breakpoint", layout=widgets.Layout(width="10em"))
        self.add.on_click(lambda _b: add())
        self._shown: tuple = ()
        super().__init__([widgets.HTML("<b>breakpoints</b>"), self.rows,
                          widgets.HBox([self.step, self.point, self.when, self.gate, self.add])])

    def show(self, workflow: str | None, steps: Sequence[str], breakpoints: Sequence[BreakpointView]) -> None:
        """The step choices and one row per breakpoint; rows are rebuilt only when the breakpoints
        themselves change, a row's text is set in place."""
        choices = [(s, s) for s in steps] + ([("every step (on error)", EVERY_STEP)] if steps else [])
        if list(self.step.options) != choices:
            keep = self.step.value
            self.step.options = choices
            values = [c[1] for c in choices]
            if keep in values:
                self.step.value = keep
            elif values:
                self.step.value = values[0]
        mine = [bp for bp in breakpoints if workflow is None or bp.workflow == workflow]
        shown = tuple((bp.id, breakpoint_text(bp)) for bp in mine)
        if shown == self._shown:
            return
        if [bp_id for bp_id, _ in shown] == list(self.labels) and self.labels:
            for bp_id, text in shown:  # the same breakpoints: only a text moved (how many it holds)
                self.labels[bp_id].value = text
        else:
            self._rebuild(shown)
        self._shown = shown

    def _rebuild(self, shown: tuple[tuple[int, str], ...]) -> None:
        for old in self.rows.children:  # their comms go with them
            close_tree(old)
        rows, self.deletes, self.labels = [], {}, {}
        for bp_id, text in shown:
            button = widgets.Button(description="Delete", tooltip=f"delete breakpoint {bp_id} (what it alone "
                                    "holds resumes)", layout=widgets.Layout(width="6em"))
            button.on_click(lambda _b, bp_id=bp_id: self._delete(bp_id))
            self.deletes[bp_id] = button
            self.labels[bp_id] = widgets.Label(text)
            rows.append(widgets.HBox([button, self.labels[bp_id]]))
        self.rows.children = tuple(rows) if rows else (widgets.Label("none"),)

    def settings(self) -> tuple[str | None, str, str | None, bool]:
        """(step or None for every step, pause point, condition or None, gate) from the form."""
        step = self.step.value
        return (None if step == EVERY_STEP else step), self.point.value, self.when.value.strip() or None, \
            self.gate.value

