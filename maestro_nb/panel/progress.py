"""Progress bars: one for the instance (its steps ended, of all) and one per foreach step
(its iterations succeeded, paused, failed, running, of N)."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets

from ..readmodel import InstanceView, StepView
from .util import close_tree

__all__ = ["ProgressBars", "step_counts", "instance_counts"]

_FAILED = ("USER_FAILED", "FATALLY_FAILED", "PLATFORM_FAILED", "INTERRUPTED")
_ENDED = ("SUCCEEDED", "SKIPPED", "UNSATISFIED", "STOPPED", "COMPLETED_WITH_ERROR", "BLOCKED", *_FAILED)


def step_counts(step: StepView) -> dict[str, int]:
    """A foreach step's iterations: succeeded, paused, failed, running, ended, of (N)."""
    c = step.counts
    total = step.total if step.total is not None else sum(c.values())
    ended = sum(n for s, n in c.items() if s in _ENDED)
    return {"succeeded": c.get("SUCCEEDED", 0), "paused": c.get("PAUSED", 0),
            "failed": sum(c.get(s, 0) for s in _FAILED), "running": c.get("RUNNING", 0),
            "ended": ended, "of": max(total, ended)}


def instance_counts(view: InstanceView) -> dict[str, int]:
    """An instance's top-level steps: ended, paused, failed, of (all of them)."""
    top = [s for s in view.steps if s.parent is None]
    return {"ended": sum(1 for s in top if s.status in _ENDED), "paused": sum(1 for s in top if s.status == "PAUSED"),
            "failed": sum(1 for s in top if s.status in _FAILED), "of": len(top)}


def _style(counts: dict[str, int]) -> str:
    if counts["failed"]:
        return "danger"
    if counts["paused"]:
        return "warning"
    if counts["of"] and counts["ended"] == counts["of"]:
        return "success"
    return "info"


class _Bar(widgets.HBox):
    def __init__(self, name: str):
        self.caption = widgets.Label(name, layout=widgets.Layout(width="9em"))
        self.bar = widgets.IntProgress(min=0, max=1, value=0, layout=widgets.Layout(width="16em"))
        self.text = widgets.Label("")
        self._shown: tuple = ()  # the counts and text last set
        super().__init__([self.caption, self.bar, self.text])

    def set(self, counts: dict[str, int], text: str) -> None:
        """Show the counts; a bar whose counts and text did not move is left alone."""
        shown = (tuple(counts.items()), text)
        if shown == self._shown:
            return
        self._shown = shown
        top = max(counts["of"], 1)
        with self.bar.hold_sync():
            if self.bar.max != top:
                self.bar.max = top
            self.bar.value = min(counts["ended"], top)
            self.bar.bar_style = _style(counts)
        self.text.value = text


class ProgressBars(widgets.VBox):
    """The instance's bar, then one bar per foreach step in definition order."""

    def __init__(self) -> None:
        self.instance_bar = _Bar("instance")
        self.bars: dict[str, _Bar] = {}
        super().__init__([self.instance_bar])

    def show(self, view: InstanceView | None, steps: Sequence[StepView]) -> None:
        if view is None:
            self.instance_bar.set({"ended": 0, "paused": 0, "failed": 0, "of": 0}, "not run yet")
        else:
            c = instance_counts(view)
            self.instance_bar.set(c, f"{c['ended']} of {c['of']} steps ended, {c['paused']} paused, "
                                     f"{c['failed']} failed")
        foreach = [s for s in steps if s.iterations and s.parent is None]
        if list(self.bars) != [s.id for s in foreach]:
            for bar in self.bars.values():  # their comms go with them
                close_tree(bar)
            self.bars = {s.id: _Bar(s.id) for s in foreach}
            self.children = (self.instance_bar, *self.bars.values())
        for step in foreach:
            c = step_counts(step)
            self.bars[step.id].set(c, f"{c['succeeded']} succeeded, {c['paused']} paused, {c['failed']} failed, "
                                      f"{c['running']} running, of {c['of']}")
