"""What a redraw sends: parts whose content did not change are not set again (each setting of a
widget's trait is a comm message); parts that changed are set, in place where their widgets fit,
rebuilt where they do not."""

from __future__ import annotations

from typing import Any

from maestro_nb.readmodel import attempt_key

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


def test_the_editor_sets_inputs_of_the_same_kinds_in_place(sweep, panels):
    sweep.set_breakpoint("tune.train")
    sweep.run("tune")
    panel = panels(sweep)
    editor, table = panel.editor, panel.paused.table
    inputs = dict(editor.inputs)
    first, second = sweep.paused()[:2]
    assert inputs["lr"].value == first.params["lr"]
    inputs["lr"].value = 0.9  # an edit not applied: it goes when another attempt is selected
    lr = changes(inputs["lr"])
    drawn(panel)
    assert editor.inputs["lr"].value == 0.9 and lr == []  # a redraw of the same selection keeps the edit

    table.value = table.options[1][1]
    drawn(panel)
    assert all(editor.inputs[name] is w for name, w in inputs.items())  # the same widgets, set in place
    assert editor.inputs["lr"].value == second.params["lr"] and lr == [second.params["lr"]]
    assert editor.inputs["depth"].value == second.params["depth"]
    assert "train[1]" in editor.heading.value and not editor.apply.disabled

    editor.inputs["depth"].value = 7  # Apply acts on the attempt now selected, and it alone
    editor.apply.click()
    drawn(panel)
    assert (second.params["depth"], first.params["depth"]) == (7, 3)
    assert editor.inputs["depth"].value == 7


def test_the_editor_rebuilds_inputs_of_another_form(sweep, panels):
    sweep.set_breakpoint("tune.train")
    sweep.set_breakpoint("tune.train", pause="after")
    sweep.run("tune")
    panel = panels(sweep)
    editor, table = panel.editor, panel.paused.table
    before = dict(editor.inputs)
    panel.paused.one["resume"].click()  # it runs, and pauses after: its params are spent
    drawn(panel)
    (spent,) = [a for a in sweep.paused() if a.pause_point == "after"]
    table.value = attempt_key(spent)
    drawn(panel)
    assert set(editor.inputs) == set(before) and not any(editor.inputs[n] is w for n, w in before.items())
    assert all(w.disabled for w in editor.inputs.values()) and editor.apply.disabled
    assert "output" in editor.detail.value

    spent_inputs = dict(editor.inputs)
    table.value = next(key for _label, key in table.options if "/train[1]/" in key)  # back to a before pause
    drawn(panel)
    assert not any(editor.inputs[n] is w for n, w in spent_inputs.items())
    assert not any(w.disabled for w in editor.inputs.values()) and not editor.apply.disabled
    assert editor.detail.value == ""


def test_bars_and_buttons_are_set_only_when_they_move(sweep, panels):
    sweep.set_breakpoint("tune.train")
    sweep.run("tune")
    panel = panels(sweep)
    bars, table = panel.progress, panel.paused
    whole, train = bars.instance_bar, bars.bars["train"]
    assert train.text.value == "0 succeeded, 4 paused, 0 failed, 0 running, of 4"
    assert table.every["resume"].description == "Resume all 4"
    moved = {"instance": changes(whole.text), "instance bar": changes(whole.bar), "train": changes(train.text),
             "train bar": changes(train.bar), "resume all": changes(table.every["resume"], "description"),
             "resume": changes(table.one["resume"], "disabled")}

    table.table.value = table.table.options[2][1]  # another selection: no count moves
    drawn(panel)
    assert all(seen == [] for seen in moved.values()), moved

    table.one["resume"].click()  # the step's counts move, not the instance's (its steps: load ended, train paused)
    drawn(panel)
    assert moved["train"] == ["1 succeeded, 3 paused, 0 failed, 0 running, of 4"] and moved["train bar"] == [1]
    assert moved["resume all"] == ["Resume all 3"]
    assert moved["instance"] == moved["instance bar"] == moved["resume"] == []

    table.filter.value = "lr=9"  # nothing matches: nothing to select, nothing to act on
    drawn(panel)
    assert table.one["resume"].disabled and table.every["resume"].disabled
    assert table.every["resume"].description == "Resume all" and moved["resume"] == [True]
    table.filter.value = ""
    drawn(panel)
    assert not table.one["resume"].disabled and table.every["resume"].description == "Resume all 3"

    table.every["resume"].click()  # the instance ends: its bar moves too
    drawn(panel)
    assert whole.text.value == "3 of 3 steps ended, 0 paused, 0 failed" and whole.bar.bar_style == "success"
    assert train.bar.value == 4 and train.bar.bar_style == "success"
