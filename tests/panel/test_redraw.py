"""What a redraw sends: parts whose content did not change are not set again (each setting of a
widget's trait is a comm message); parts that changed are set, in place where their widgets fit,
rebuilt where they do not."""

from __future__ import annotations

from typing import Any

from .conftest import drawn


def changes(widget: Any, name: str = "value") -> list[Any]:
    """Every new value the trait takes from now on (each one a message to the frontend)."""
    seen: list[Any] = []
    widget.observe(lambda change: seen.append(change["new"]), names=name)
    return seen


def test_a_breakpoint_row_is_set_in_place(sweep, panels):
    sweep.set_breakpoint("tune.train")
    sweep.run("tune")
    panel = panels(sweep)
    box = panel.breakpoints
    (bp,) = sweep.breakpoints()
    button, label = box.deletes[bp.id], box.labels[bp.id]
    assert label.value.endswith("; 4 paused")
    texts, rebuilt = changes(label), changes(box.rows, "children")

    panel.paused.table.value = panel.paused.table.options[1][1]  # nothing about the breakpoint moves
    drawn(panel)
    assert texts == [] and rebuilt == []

    panel.paused.one["resume"].click()  # its count moves: the text is set, the row stays
    drawn(panel)
    assert texts == [label.value] and label.value.endswith("; 3 paused") and rebuilt == []
    assert box.deletes[bp.id] is button and box.labels[bp.id] is label

    other = sweep.set_breakpoint("tune.best")  # another breakpoint: the rows are rebuilt
    drawn(panel)
    assert len(rebuilt) == 1 and list(box.deletes) == [bp.id, other.id]
    assert box.labels[bp.id] is not label and box.labels[bp.id].value.endswith("; 3 paused")
    assert box.labels[other.id].value.endswith("; 0 paused")
    box.deletes[other.id].click()  # the rebuilt row's button acts
    drawn(panel)
    assert [b.id for b in sweep.breakpoints()] == [bp.id] and list(box.labels) == [bp.id]
