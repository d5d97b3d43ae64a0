"""The paused attempts: a table in the same order as `paused`, filtered by step and loop params,
with Resume, Step, Skip, Stop, Retry and Fail for the selected attempt and for every one that
matches."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..errors import ParamError
from ..readmodel import PausedPage, PausedView

__all__ = ["PausedTable", "parse_filter", "row_text", "VERBS"]

VERBS = ("resume", "step", "skip", "stop", "retry", "fail")
_ONE_HELP = {"resume": "let the selected attempt go on", "step": "resume it, and pause at the next step",
             "skip": "end it SKIPPED without running", "stop": "end it STOPPED",
             "retry": "a new attempt: the step's current code, bound afresh",
             "fail": "at an error: let it fail, as its failure mode says"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parse_filter(text: str) -> dict[str, Any]:
    """`lr=0.1 depth=3` (or with commas) as loop params; a value is JSON, else plain text."""
    found: dict[str, Any] = {}
    for word in text.replace(",", " ").split():
        name, eq, value = word.partition("=")
        if not eq or not _NAME.match(name):
            raise ParamError(f"filter {word!r}: give loop params as NAME=VALUE, e.g. lr=0.1 depth=3")
        try:
            found[name] = json.loads(value)
        except ValueError:
            found[name] = value
    return found


def row_text(p: PausedView) -> str:
    """One row: where, attempt, pause point, loop params, what holds it (and its error)."""
    loop = ", ".join(f"{k}={v!r}" for k, v in p.loop_params.items())
    text = f"{p.label}  #{p.attempt}  {p.pause_point}"
    if loop:
        text += f"  {loop}"
    if p.held_by:
        text += f"  ({', '.join(p.held_by)})"
    if p.gate:
        text += "  [gate]"
    if p.pause_point == "error" and p.error:
        text += f"  {p.error}"
    return text


class PausedTable(widgets.VBox):
    """Filters, the table (a list box: one row per paused attempt), and the action buttons."""

    LIMIT = 50  # rows listed (a filter finds the others); the buttons for every match act on all of them

    def __init__(self, request: Callable[[], None], act: Callable[[str, bool], None]):
        self.step = widgets.Dropdown(options=[("every step", "")], value="", description="step",
                                     layout=widgets.Layout(width="16em"))
        self.filter = widgets.Text(value="", placeholder="loop params: lr=0.1 depth=3", description="where",
                                   continuous_update=False, layout=widgets.Layout(width="22em"))
        self.count = widgets.Label("")
        self.table = widgets.Select(options=[], rows=8, layout=widgets.Layout(width="98%"))
        self.table.add_class("maestro-paused-table")
        self.one = {v: widgets.Button(description=v.capitalize(), tooltip=_ONE_HELP[v],
                                      layout=widgets.Layout(width="6.5em")) for v in VERBS}
        self.every = {v: widgets.Button(description=f"{v.capitalize()} all", tooltip=f"{v}: every match",
                                        layout=widgets.Layout(width="8em")) for v in VERBS}
        for verb in VERBS:
            self.one[verb].on_click(lambda _b, verb=verb: act(verb, False))
            self.every[verb].on_click(lambda _b, verb=verb: act(verb, True))
        for w in (self.step, self.filter, self.table):
            w.observe(lambda _change: request(), names="value")
        self.page = PausedPage((), 0)
        self._buttons: tuple = ()  # what the buttons were last set for: (none selected, matches)
        super().__init__([
            widgets.HBox([self.step, self.filter, self.count]),
            self.table,
            widgets.HBox([widgets.Label("selected:", layout=widgets.Layout(width="6em")), *self.one.values()]),
            widgets.HBox([widgets.Label("matching:", layout=widgets.Layout(width="6em")), *self.every.values()]),
        ])

    def loop_filter(self) -> dict[str, Any]:
        return parse_filter(self.filter.value)

    @property
    def step_filter(self) -> str | None:
        return self.step.value or None

    @property
    def selected(self) -> str | None:
        """The key of the selected paused attempt."""
        return self.table.value

    def show(self, page: PausedPage, steps: list[str], paused_in_instance: int) -> None:
        """Rows of the page, the step choices, the count; keeps the selection while it is listed."""
        self.page = page
        choices = [("every step", "")] + [(s, s) for s in steps]
        if self.step.value and self.step.value not in steps:
            choices.append((self.step.value, self.step.value))  # keep a filter the user chose
        if list(self.step.options) != choices:
            self.step.options = choices
        options = [(row_text(p), p.key) for p in page.items]
        keep = self.table.value
        if list(self.table.options) != options:
            self.table.options = options
        keys = [p.key for p in page.items]
        wanted = keep if keep in keys else (keys[0] if keys else None)
        if self.table.value != wanted:
            self.table.value = wanted
        shown = f", listing the first {len(page.items)}" if page.total > len(page.items) else ""
        filtered = self.step.value or self.filter.value.strip()
        self.count.value = (f"{page.total} of {paused_in_instance} paused match{shown}" if filtered
                            else f"{page.total} paused{shown}")
        buttons = (wanted is None, page.total)
        if buttons == self._buttons:
            return
        self._buttons = buttons
        for verb in VERBS:
            self.one[verb].disabled = wanted is None
            self.every[verb].disabled = page.total == 0
            self.every[verb].description = f"{verb.capitalize()} all {page.total}" if page.total else \
                f"{verb.capitalize()} all"
