"""The panel in a notebook: `%workflow panel`, the live display of a background run, gates in
`%breakpoint --gate` and on the paused attempt objects, and breakpoints added from the panel
binding their kernel variable as `%breakpoint` does."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

from maestro_nb.magics.kernel import session_for
from maestro_nb.panel import Panel

from .conftest import drawn, node_status

TUNE = """
params: {n: 2}
steps:
  - id: load
    run: load
  - id: train
    after: [load]
    foreach: {lr: [0.1, 0.2]}
    run: train
  - id: publish
    after: [train]
    run: publish
"""

CODE = """
def load(n):
    return n

def train(load, lr):
    return round(load * lr, 3)

def publish(train):
    return sum(train)
"""


@pytest.fixture
def nb(shell):
    shell.run_line_magic("workflow", "db :memory:")
    shell.run_cell(CODE)
    shell.run_cell_magic("workflow", "tune", TUNE)
    return shell


def test_workflow_panel_magic(nb):
    nb.run_line_magic("breakpoint", "tune.train")
    nb.run_line_magic("workflow", "run tune")
    panel = nb.run_line_magic("workflow", "panel")
    assert isinstance(panel, Panel) and repr(panel) == "<workflow panel: tune#1, paused (2 paused)>"
    assert nb.run_line_magic("workflow", "panel tune --instance 1") is not None
    panel.paused.one["resume"].click()  # from the panel: it leaves `paused`
    drawn(panel)
    assert len(nb.user_ns["paused"]) == 1
    nb.run_line_magic("resume", "tune.train --all")  # from a magic: it leaves the panel
    drawn(panel)
    assert panel.paused.table.options == () and node_status(panel, "publish") == "SUCCEEDED"


def test_panel_magic_refuses_bad_arguments(nb):
    with pytest.raises(UsageError, match="unknown workflow 'tnue'; did you mean 'tune'"):
        nb.run_line_magic("workflow", "panel tnue")
    with pytest.raises(UsageError, match="needs the workflow name"):
        nb.run_line_magic("workflow", "panel --instance 1")
    with pytest.raises(UsageError, match="unknown instance '3'"):
        nb.run_line_magic("workflow", "panel tune --instance 3")
    assert session_for(nb).panels == []


def test_a_breakpoint_added_from_the_panel_gets_its_variable(nb):
    panel = nb.run_line_magic("workflow", "panel tune")
    panel.breakpoints.step.value = "train"
    panel.breakpoints.add.click()
    drawn(panel)
    assert "bp_train" in nb.user_ns and "paused attempts go in `bp_train`" in panel.message.value
    nb.run_line_magic("workflow", "run tune")
    drawn(panel)
    assert len(nb.user_ns["bp_train"]) == 2
    (bp_id,) = panel.breakpoints.deletes
    panel.breakpoints.deletes[bp_id].click()
    drawn(panel)
    assert "bp_train" not in nb.user_ns and len(nb.user_ns["paused"]) == 0


def test_gate_from_the_notebook(nb):
    shown = nb.run_line_magic("breakpoint", "tune.publish --gate --as approval")
    assert shown.plain().startswith("breakpoint 1 on tune.publish: before, gate, all instances")
    listed = nb.run_line_magic("breakpoint", "list").plain()
    assert "before, gate" in listed
    nb.run_line_magic("workflow", "run tune")
    a = nb.user_ns["approval"][0]
    assert "waiting at a gate" in repr(a)
    a.approve("looks right")
    nb.run_line_magic("workflow", "run tune n=5")
    nb.user_ns["approval"].reject("too big")
    engine = session_for(nb).engine
    assert [engine.step_status("tune", "publish", i) for i in (1, 2)] == ["SUCCEEDED", "SKIPPED"]
    rows = engine.sql("SELECT detail FROM events WHERE kind = 'gate' ORDER BY instance_id").detail
    assert [(d["decision"], d["comment"]) for d in map(json.loads, rows)] == [
        ("approved", "looks right"), ("rejected", "too big")]
    with pytest.raises(UsageError, match="--gate pauses before"):
        nb.run_line_magic("breakpoint", "tune.train --gate --on-error")
    nb.run_line_magic("breakpoint", "tune.load")
    nb.run_line_magic("workflow", "run tune")
    with pytest.raises(UsageError, match="is not waiting at a gate"):
        nb.user_ns["bp_load"][0].approve("no gate here")
    assert len(nb.user_ns["paused"]) == 1


def test_background_run_shows_the_panel(nb, capsys):
    nb.run_line_magic("breakpoint", "tune.train --iteration 1")
    assert nb.run_line_magic("workflow", "run tune --background") is None
    engine = session_for(nb).engine
    assert engine.wait(30)
    assert "<workflow panel: tune#1 (version 1, run 1), run in the background>" in capsys.readouterr().out
    (panel,) = session_for(nb).panels
    drawn(panel)
    assert [label.split("  ")[0] for label, _ in panel.paused.table.options] == ["tune#1 train[1]"]
    nb.run_line_magic("workflow", "db :memory:")  # a new engine: the old one's panels stop
    assert panel.watcher.closed and session_for(nb).panels == []
