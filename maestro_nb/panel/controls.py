"""Instance controls: Stop the instance shown, or Restart it (a new run keeping every upstream
success), from its failed and unfinished steps, from a step, or one iteration of a step."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets

from ..readmodel import InstanceView

__all__ = ["InstanceControls", "FAILED_STEPS"]

FAILED_STEPS = ""  # the restart choice: the failed and unfinished steps (the default)


class InstanceControls(widgets.HBox):
    """Stop and Restart for the instance shown; Restart only once it ended, Stop while it runs."""

    def __init__(self, stop: Callable[[], None], restart: Callable[[], None]):
        self.stop = widgets.Button(description="Stop instance", button_style="warning",
                                   tooltip="paused and queued attempts end STOPPED; nothing new starts",
                                   layout=widgets.Layout(width="9em"))
        self.restart = widgets.Button(description="Restart", tooltip="a new run that keeps every upstream success",
                                      layout=widgets.Layout(width="7em"))
        self.from_step = widgets.Dropdown(options=[("failed steps", FAILED_STEPS)], value=FAILED_STEPS,
                                          description="from", layout=widgets.Layout(width="15em"))
        self.iteration = widgets.Text(value="", placeholder="iteration (e.g. 6)", layout=widgets.Layout(width="9em"))
        self.stop.on_click(lambda _b: stop())
        self.restart.on_click(lambda _b: restart())
        super().__init__([self.stop, self.restart, self.from_step, self.iteration])

    def show(self, view: InstanceView | None, steps: Sequence[str]) -> None:
        choices = [("failed steps", FAILED_STEPS)] + [(s, s) for s in steps]
        if list(self.from_step.options) != choices:
            keep = self.from_step.value
            self.from_step.options = choices
            self.from_step.value = keep if keep in [c[1] for c in choices] else FAILED_STEPS
        ended = view is not None and view.status in ("SUCCEEDED", "FAILED", "STOPPED")
        self.layout.display = "none" if view is None else ""
        self.stop.disabled = view is None or ended
        self.restart.disabled = not ended

    def settings(self) -> tuple[str | None, str | None]:
        """(from step or None, iteration or None)."""
        return self.from_step.value or None, self.iteration.value.strip() or None
