"""The selected paused attempt: its params in an editor (one input per param, of the param's
kind), its output at an `after` pause, its error and traceback at an `error` pause.

Apply sends only the inputs the user changed, through `Engine.set_params`: each value is
checked exactly as `a.params[name] = value` checks it, and one refused changes none."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..readmodel import PausedView, ValuePreview
from .actions import parse_json
from .util import close_tree

__all__ = ["ParamEditor", "input_for", "input_value"]

_JSON_KINDS = ("list", "dict", "null")


def input_for(name: str, preview: ValuePreview, enabled: bool) -> widgets.Widget:
    """An input of the value's kind: Checkbox, IntText, FloatText, Text, or JSON in a Textarea;
    a value that cannot be edited here (a DataFrame, a long list) is shown, not offered."""
    common: dict[str, Any] = {"description": name, "disabled": not enabled,
                              "style": {"description_width": "9em"}, "layout": widgets.Layout(width="30em")}
    if not preview.editable:
        return widgets.HTML(input_value(name, preview))
    if preview.kind == "bool":
        return widgets.Checkbox(value=preview.value, indent=True, **common)
    if preview.kind == "int":
        return widgets.IntText(value=preview.value, **common)
    if preview.kind == "float":
        return widgets.FloatText(value=preview.value, **common)
    if preview.kind == "str":
        return widgets.Text(value=preview.value, **common)
    return widgets.Textarea(value=input_value(name, preview), rows=2 if preview.kind != "null" else 1, **common)


def input_value(name: str, preview: ValuePreview) -> Any:
    """What `input_for`'s input holds for a value: the value, its JSON text, or (not editable)
    the HTML that shows it."""
    if not preview.editable:
        return (f"<span style='display:inline-block;width:9em;text-align:right;margin-right:8px'>"
                f"{html.escape(name)}</span><code>{html.escape(preview.text)}</code>"
                f" <i>({html.escape(preview.kind)}: not editable here)</i>")
    if preview.kind in ("bool", "int", "float", "str"):
        return preview.value
    return json.dumps(preview.value)


class ParamEditor(widgets.VBox):
    """The selected attempt's heading, params, Apply, and its output or error."""

    def __init__(self, apply: Callable[[], None], call: Callable[[], None]):
        self.heading = widgets.HTML("")
        self.fields = widgets.VBox([])
        self.apply = widgets.Button(description="Apply", tooltip="change the params you edited",
                                    button_style="primary", layout=widgets.Layout(width="7em"))
        self.apply.on_click(lambda _b: apply())
        self.call = widgets.Button(description="Call", tooltip="call the step's current function with these "
                                   "params and show what it returns; nothing is recorded",
                                   layout=widgets.Layout(width="7em"))
        self.call.on_click(lambda _b: call())
        self.detail = widgets.HTML("")
        self.inputs: dict[str, widgets.Widget] = {}
        self.view: PausedView | None = None
        self._shape: tuple = ()  # what the inputs were last set from
        self._form: tuple = ()  # what the inputs were built for: (enabled, their names and kinds)
        super().__init__([self.heading, self.fields, widgets.HBox([self.apply, self.call]), self.detail])

    def show(self, view: PausedView | None) -> None:
        """Set the inputs when another attempt is selected or its params changed in the engine;
        the user's unapplied edits stay otherwise. Inputs of the same names and kinds as those
        shown are set in place; others are built afresh."""
        self.view = view
        shape = () if view is None else (view.key, view.pause_point,
                                         tuple((n, p.kind, p.text) for n, p in view.params.items()))
        if shape == self._shape:
            return
        self._shape = shape
        if view is None:
            self._build(None, ())
            self.heading.value = "<i>select a paused attempt</i>"
            self.apply.disabled = self.call.disabled = True
            self.detail.value = ""
            return
        editable = view.pause_point in ("before", "error")
        form = (editable, tuple((n, p.kind, p.editable) for n, p in view.params.items()))
        if form == self._form:
            for name, preview in view.params.items():
                self.inputs[name].value = input_value(name, preview)
        else:
            self._build(view, form)
        self.heading.value = (f"<b>{html.escape(view.label)}</b> attempt {view.attempt}, paused "
                              f"{html.escape(view.pause_point)}" + (" (an approval gate)" if view.gate else "")
                              + ("" if editable else ": its params are spent; it ran"))
        self.apply.disabled = not editable or not any(p.editable for p in view.params.values())
        self.call.disabled = view.pause_point == "after"
        self.detail.value = _detail(view)

    def _build(self, view: PausedView | None, form: tuple) -> None:
        for old in self.inputs.values():  # their comms go with them
            close_tree(old)
        self._form = form
        self.inputs = {} if view is None else {
            name: input_for(name, preview, form[0]) for name, preview in view.params.items()}
        self.fields.children = tuple(self.inputs.values())

    def changes(self) -> dict[str, Any]:
        """The values the user changed, parsed (a JSON field that does not parse is a ParamError)."""
        view = self.view
        if view is None:
            return {}
        found = {}
        for name, widget in self.inputs.items():
            preview = view.params[name]
            if not preview.editable or isinstance(widget, widgets.HTML):
                continue
            value = widget.value
            if isinstance(widget, widgets.Textarea):
                value = parse_json(f"param {name!r}", value)
            if value != preview.value or type(value) is not type(preview.value):
                found[name] = value
        return found


def _detail(view: PausedView) -> str:
    if view.pause_point == "after" and view.output is not None:
        shown = json.dumps(view.output.value, indent=1) if view.output.editable else view.output.text
        return f"<div><b>output</b> ({html.escape(view.output.kind)})<pre>{html.escape(shown)}</pre></div>"
    if view.pause_point == "error" and view.error:
        trace = f"<pre style='max-height:16em;overflow:auto'>{html.escape(view.traceback)}</pre>" \
            if view.traceback else ""
        return (f"<div><b>error</b> <code>{html.escape(view.error)}</code>{trace}"
                "<div>fix the step in the notebook, then Retry; Skip or Stop end it</div></div>")
    return ""
