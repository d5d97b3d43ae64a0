"""The approval gate: for an attempt held by a gate breakpoint, Approve (it goes on) and Reject
(it is skipped), with a comment; the decision and comment go to the events timeline."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from ..readmodel import PausedView

__all__ = ["GateBox"]


class GateBox(widgets.VBox):
    """Shown only while the selected attempt waits at a gate."""

    def __init__(self, decide: Callable[[str], None]):
        self.heading = widgets.HTML("")
        self.comment = widgets.Text(value="", placeholder="why (recorded with the decision)",
                                    description="comment", layout=widgets.Layout(width="30em"))
        self.approve = widgets.Button(description="Approve", button_style="success",
                                      tooltip="record the approval, then let it go on")
        self.reject = widgets.Button(description="Reject", button_style="danger",
                                     tooltip="record the rejection; it ends SKIPPED")
        self.approve.on_click(lambda _b: decide("approve"))
        self.reject.on_click(lambda _b: decide("reject"))
        self._key: str | None = None
        super().__init__([self.heading, self.comment, widgets.HBox([self.approve, self.reject])],
                         layout=widgets.Layout(display="none", border="1px solid #b08900", padding="4px"))

    def show(self, view: PausedView | None) -> None:
        gated = view is not None and view.gate
        self.layout.display = "" if gated else "none"
        key = view.key if gated and view is not None else None
        if key != self._key:  # another attempt: a fresh comment
            self._key = key
            self.comment.value = ""
        if gated and view is not None:
            self.heading.value = f"<b>approval gate</b>: {view.label} waits for a decision"
