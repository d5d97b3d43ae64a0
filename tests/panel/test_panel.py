"""The panel on real engines, driven through its widgets' values and `.click()`: after each
action, the engine's state and the panel's widgets agree; a bad edit changes nothing."""

from __future__ import annotations

import html
import re

import pytest

from maestro_nb.errors import ParamError, StateError, UnknownNameError

from .conftest import drawn, mutations, node_status, until


def rows(panel) -> list[str]:
    return [label for label, _key in panel.paused.table.options]


def message(panel) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", panel.message.value))


def error_shown(panel) -> bool:
    return "#b3261e" in panel.message.value


def test_before_pause_edit_and_resume(sweep, panels):
    sweep.set_breakpoint("tune.train")
    sweep.run("tune")
    panel = panels(sweep)
    assert repr(panel) == "<workflow panel: tune#1, paused (4 paused)>"
    assert len(rows(panel)) == 4 and panel.paused.count.value == "4 paused"
    assert node_status(panel, "train") == "PAUSED" and node_status(panel, "load") == "SUCCEEDED"
    assert "0 done / 4 paused / 0 failed / of 4" in panel.dag.value
    assert 'class="maestro-breakpoint"' in panel.dag.value
    assert panel.progress.bars["train"].bar.bar_style == "warning"

    # the first row is selected; its editor has one input per param, of its kind
    editor = panel.editor
    assert [type(w).__name__ for w in editor.inputs.values()] == ["Textarea", "FloatText", "IntText", "Textarea"]
    editor.inputs["lr"].value = 0.5
    editor.inputs["tags"].value = '["base", "tuned"]'
    editor.apply.click()
    drawn(panel)
    first = sweep.paused()[0]
    assert (first.params["lr"], first.params["tags"]) == (0.5, ["base", "tuned"])
    assert [m["param"] for m in mutations(sweep)] == ["lr", "tags"]
    assert message(panel) == "tune#1 train[0]: set lr, tags" and not error_shown(panel)

    panel.paused.one["resume"].click()
    drawn(panel)
    assert len(sweep.paused()) == 3 and len(rows(panel)) == 3
    assert not any("train[0]" in r for r in rows(panel))
    assert panel.paused.selected == "tune#1/1/train[1]/1"  # the next row is selected

    panel.paused.every["resume"].click()
    drawn(panel)
    assert sweep.paused() == [] and rows(panel) == []
    assert node_status(panel, "train") == "SUCCEEDED" and node_status(panel, "best") == "SUCCEEDED"
    assert panel.progress.bars["train"].bar.bar_style == "success"
    assert repr(panel) == "<workflow panel: tune#1, succeeded>"
    assert sweep.results("tune", "train").score.tolist()[0] == round(0.5 * 3 * 3, 3)


@pytest.mark.parametrize("field, typed, expected", [
    ("load", '{"a": 1}', "param 'load' is a list"),            # a change of kind
    ("tags", '["base",', "param 'tags': not valid JSON"),     # JSON that does not parse
    ("load", "3", "param 'load' is a list"),
])
def test_bad_edits_change_nothing(sweep, panels, field, typed, expected):
    sweep.set_breakpoint("tune.train")
    sweep.run("tune")
    panel = panels(sweep)
    before = dict(sweep.paused()[0].params)
    revision = sweep.scheduler.revision
    panel.editor.inputs["lr"].value = 0.9  # a good edit alongside: refused with the bad one
    panel.editor.inputs[field].value = typed
    panel.editor.apply.click()
    drawn(panel)
    assert error_shown(panel) and expected in message(panel) and "\n" not in message(panel)
    assert dict(sweep.paused()[0].params) == before and mutations(sweep) == []
    assert sweep.scheduler.revision == revision
    assert panel.editor.inputs[field].value == typed  # the user's text stays, to fix


def test_nothing_to_apply_and_nothing_selected(sweep, panels):
    sweep.set_breakpoint("tune.train", iteration=0)
    sweep.run("tune")
    panel = panels(sweep)
    panel.editor.apply.click()
    drawn(panel)
    assert message(panel) == "nothing to apply: no param was changed"
    panel.paused.one["resume"].click()
    drawn(panel)
    assert panel.paused.selected is None and sweep.paused() == []
    panel.paused.one["skip"].click()  # no selection left: a one-line error, no exception
    drawn(panel)
    assert error_shown(panel) and message(panel) == "select a paused attempt first"


def test_after_pause_shows_output_and_skip(sweep, panels):
    sweep.set_breakpoint("tune.train", pause="after", when="lr > 0.15")
    sweep.run("tune")
    panel = panels(sweep)
    assert len(rows(panel)) == 2
    assert "output" in panel.editor.detail.value and "score" in panel.editor.detail.value
    assert all(w.disabled for w in panel.editor.inputs.values()) and panel.editor.apply.disabled
    panel.paused.one["skip"].click()
    drawn(panel)
    assert sweep.results("tune", "train").status.tolist() == ["SUCCEEDED", "SUCCEEDED", "SKIPPED", "PAUSED"]
    assert len(rows(panel)) == 1


def test_error_pause_shows_traceback_then_retry(sweep, panels, namespace):
    def train(load, lr, depth, tags):
        return {"score": 1 / (depth - 5)}

    namespace["train"] = train
    sweep.set_breakpoint("tune", pause="error")
    sweep.run("tune")
    panel = panels(sweep)
    assert len(rows(panel)) == 2 and "ZeroDivisionError" in rows(panel)[0]
    assert "Traceback" in panel.editor.detail.value and "ZeroDivisionError" in panel.editor.detail.value
    panel.paused.one["resume"].click()  # resume cannot go on from an error: one line, nothing changes
    drawn(panel)
    assert error_shown(panel) and "paused at its error" in message(panel) and len(sweep.paused()) == 2
    namespace["train"] = lambda load, lr, depth, tags: {"score": lr * depth}
    panel.paused.every["retry"].click()
    drawn(panel)
    assert sweep.paused() == [] and node_status(panel, "best") == "SUCCEEDED"
    assert sweep.results("tune", "train").attempt.tolist() == [1, 2, 1, 2]


def test_step_and_stop(sweep, panels):
    sweep.set_breakpoint("tune.load")
    sweep.run("tune")
    panel = panels(sweep)
    panel.paused.one["step"].click()  # pauses again at the next step: every train iteration
    drawn(panel)
    assert [a.step_id for a in sweep.paused()] == ["train"] * 4 and len(rows(panel)) == 4
    panel.paused.filter.value = "lr=0.2 depth=5"
    drawn(panel)
    assert len(rows(panel)) == 1 and "lr=0.2, depth=5" in rows(panel)[0]
    assert panel.paused.count.value == "1 of 4 paused match"
    panel.paused.one["stop"].click()
    drawn(panel)
    assert sweep.results("tune", "train").status.tolist()[3] == "STOPPED"
    assert panel.paused.count.value == "0 of 3 paused match"
    panel.paused.filter.value = "lr"  # not NAME=VALUE: one line, and no rows
    drawn(panel)
    assert error_shown(panel) and "give loop params as NAME=VALUE" in message(panel) and rows(panel) == []


def test_a_thousand_iterations(engine, namespace, panels):
    namespace["work"] = lambda i: i * 2
    engine.define("big", {"steps": [{"id": "work", "foreach": {"i": "${range(1000)}"}, "run": "work"}]})
    engine.set_breakpoint("big.work")
    engine.run("big")
    panel = panels(engine)
    assert len(rows(panel)) == panel.paused.LIMIT
    assert panel.paused.count.value == f"1000 paused, listing the first {panel.paused.LIMIT}"
    assert panel.paused.every["resume"].description == "Resume all 1000"
    panel.paused.filter.value = "i=500"
    drawn(panel)
    assert rows(panel) == ["big#1 work[500]  #1  before  i=500  (breakpoint 1)"]
    panel.paused.one["resume"].click()
    drawn(panel)
    assert len(engine.paused()) == 999 and rows(panel) == []
    assert "1 done / 999 paused / 0 failed / of 1000" in panel.dag.value
    panel.paused.filter.value = ""
    panel.paused.every["skip"].click()
    drawn(panel)
    assert engine.paused() == [] and node_status(panel, "work") == "SUCCEEDED"
    counts = engine.sql("SELECT status, count(*) AS n FROM iterations GROUP BY status ORDER BY status")
    assert dict(zip(counts.status, counts.n)) == {"SKIPPED": 999, "SUCCEEDED": 1}


def test_several_instances_and_the_selector(sweep, panels):
    sweep.set_breakpoint("tune.best")
    sweep.run("tune")
    sweep.run("tune", {"scale": 2})
    panel = panels(sweep, "tune")
    assert [label for label, _ in panel.instances.options] == ["tune#1", "tune#2"]
    assert panel.instances.layout.display == "" and repr(panel) == "<workflow panel: tune#2, paused (1 paused)>"
    panel.instances.value = ("tune", 1)
    drawn(panel)
    assert rows(panel) == ["tune#1 best  #1  before  (breakpoint 1)"]
    sweep.run("tune", {"scale": 3})  # a new instance joins the selector; the panel stays on tune#1
    drawn(panel)
    assert repr(panel) == "<workflow panel: tune#1, paused (1 paused)>" and len(panel.instances.options) == 3
    latest = panels(sweep)
    sweep.run("tune", {"scale": 4})  # one opened earlier stays on the instance it showed
    drawn(latest)
    assert repr(latest) == "<workflow panel: tune#3, paused (1 paused)>"


def test_a_panel_opened_before_the_run_shows_it(sweep, panels):
    panel = panels(sweep, "tune")
    assert panel.instances.options == () and repr(panel) == "<workflow panel: tune, not run yet>"
    sweep.set_breakpoint("tune.best")
    sweep.run("tune")
    drawn(panel)
    assert repr(panel) == "<workflow panel: tune#1, paused (1 paused)>"
    sweep.run("tune")
    drawn(panel)
    assert repr(panel) == "<workflow panel: tune#1, paused (1 paused)>" and len(panel.instances.options) == 2


def test_the_same_truth_as_the_engine(sweep, panels):
    sweep.set_breakpoint("tune.train")
    sweep.run("tune")
    panel = panels(sweep)
    sweep.resume(sweep.paused(lr=0.1))  # as a magic would: the panel hears of it
    drawn(panel)
    assert len(rows(panel)) == 2 and all("lr=0.2" in r for r in rows(panel))
    sweep.delete_breakpoint("tune.train")
    drawn(panel)
    assert rows(panel) == [] and panel.breakpoints.deletes == {}
    assert node_status(panel, "best") == "SUCCEEDED"


def test_breakpoints_form_and_delete(sweep, panels):
    panel = panels(sweep, "tune")  # no instance yet: the workflow's DAG, and the form
    assert repr(panel) == "<workflow panel: tune, not run yet>"
    assert node_status(panel, "train") == "NOT_STARTED"
    box = panel.breakpoints
    box.step.value, box.when.value = "train", "lr >"
    box.add.click()
    drawn(panel)
    assert error_shown(panel) and sweep.breakpoints() == [] and "\n" not in message(panel)
    box.when.value = "rate > 0.1"  # a name the step does not see
    box.add.click()
    drawn(panel)
    assert "'rate' is not a param of tune.train; it sees: depth, load, lr" in message(panel) and sweep.breakpoints() == []
    box.step.value, box.point.value = "*", "before"
    box.add.click()
    drawn(panel)
    assert "breaks on failure only" in message(panel) and sweep.breakpoints() == []
    box.step.value, box.when.value = "train", "lr > 0.15"
    box.add.click()
    drawn(panel)
    (bp,) = sweep.breakpoints()
    assert (bp.step, bp.condition.source) == ("train", "lr > 0.15") and not error_shown(panel)
    assert list(box.deletes) == [bp.id] and 'class="maestro-breakpoint"' in panel.dag.value
    sweep.run("tune")
    drawn(panel)
    assert len(rows(panel)) == 2
    box.deletes[bp.id].click()
    drawn(panel)
    assert sweep.breakpoints() == [] and sweep.paused() == [] and rows(panel) == []
    assert message(panel) == "deleted breakpoint 1; resumed 2 attempts"
    assert node_status(panel, "best") == "SUCCEEDED"


def test_approval_gate(sweep, panels):
    sweep.set_breakpoint("tune.best", gate=True)
    sweep.set_breakpoint("tune.load")
    sweep.run("tune")
    sweep.run("tune")
    panel = panels(sweep, "tune", 1)
    assert panel.gate.layout.display == "none"  # load is not a gate
    sweep.resume(sweep.paused(step="load", instance=1))
    drawn(panel)
    assert panel.gate.layout.display == "" and "[gate]" in rows(panel)[0]
    panel.gate.comment.value = "scores look right"
    panel.gate.approve.click()
    drawn(panel)
    assert node_status(panel, "best") == "SUCCEEDED" and message(panel) == "approved tune#1 best"
    panel.instances.value = ("tune", 2)
    drawn(panel)
    panel.gate.reject.click()  # a gate's button on an attempt no gate holds: refused
    drawn(panel)
    assert error_shown(panel) and "not waiting at a gate" in message(panel)
    panel.paused.one["resume"].click()
    drawn(panel)
    panel.gate.comment.value = "not this one"
    panel.gate.reject.click()
    drawn(panel)
    assert sweep.step_status("tune", "best", 2) == "SKIPPED"
    decisions = sweep.sql("SELECT instance_id, detail->>'decision' AS d, detail->>'comment' AS c FROM events "
                          "WHERE kind = 'gate' ORDER BY instance_id")
    assert decisions.values.tolist() == [[1, "approved", "scores look right"], [2, "rejected", "not this one"]]


def test_bad_arguments(engine, sweep, panels):
    with pytest.raises(UnknownNameError, match="did you mean 'tune'"):
        engine.panel("tnue")
    with pytest.raises(ParamError, match="needs its workflow"):
        engine.panel(instance=1)
    with pytest.raises(UnknownNameError, match="unknown instance '1'"):
        engine.panel("tune", 1)
    with pytest.raises(ParamError, match="instance is a whole number"):
        engine.panel("tune", "1")
    with pytest.raises(ParamError, match="rate must be"):
        engine.panel("tune", rate=0)


def test_no_workflow_yet(engine):
    with pytest.raises(StateError, match="no workflow is defined yet"):
        engine.panel()


def test_repr_has_no_ids_or_addresses(sweep, panels):
    sweep.set_breakpoint("tune.train")
    sweep.run("tune")
    panel = panels(sweep)
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == "<workflow panel: tune#1, paused (4 paused)>"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert not re.search(r"0x[0-9a-f]+", repr(panel))


def test_call_and_fail_at_an_error(sweep, panels, namespace):
    namespace["train"] = lambda load, lr, depth, tags: {"score": 1 / (depth - 5)}
    sweep.set_breakpoint("tune.train", pause="error")
    sweep.run("tune")
    panel = panels(sweep)
    panel.editor.call.click()  # the step's own error: one line, nothing recorded
    drawn(panel)
    assert error_shown(panel) and message(panel) == "ZeroDivisionError: division by zero"
    namespace["train"] = lambda load, lr, depth, tags: {"score": round(lr * depth, 3)}
    revision = sweep.scheduler.revision
    panel.editor.call.click()
    drawn(panel)
    assert message(panel) == "tune#1 train[1] returned {'score': 0.5} (nothing recorded)"
    assert sweep.scheduler.revision == revision and len(sweep.paused()) == 2
    panel.paused.every["fail"].click()
    drawn(panel)
    assert sweep.paused() == [] and repr(panel) == "<workflow panel: tune#1, failed>"
    assert node_status(panel, "train") == "USER_FAILED" and node_status(panel, "best") == "BLOCKED"


def test_stop_and_restart_the_instance(sweep, panels):
    sweep.set_breakpoint("tune.train", iteration=1)
    sweep.run("tune")
    panel = panels(sweep)
    assert panel.controls.restart.disabled and not panel.controls.stop.disabled
    panel.controls.restart.click()  # the instance is still paused: refused in one line
    drawn(panel)
    assert error_shown(panel) and "restart needs a finished instance" in message(panel)
    panel.controls.stop.click()
    drawn(panel)
    assert repr(panel) == "<workflow panel: tune#1, stopped>" and sweep.paused() == []
    assert not panel.controls.restart.disabled
    sweep.delete_breakpoint("tune.train")
    panel.controls.iteration.value = "1"  # an iteration needs its step
    panel.controls.restart.click()
    drawn(panel)
    assert error_shown(panel) and "needs the step" in message(panel)
    panel.controls.from_step.value = "train"
    panel.controls.restart.click()
    drawn(panel)
    assert message(panel) == "restarted tune#1 from train[1]: run 2"
    assert repr(panel) == "<workflow panel: tune#1, succeeded>"
    runs = sweep.sql("SELECT iteration, run_id FROM iterations WHERE step_id = 'train' ORDER BY iteration")
    assert runs.run_id.tolist() == [1, 2, 1, 1]


def test_rebuilt_parts_leave_no_widget_behind(sweep, panels):
    from ipywidgets.widgets.widget import _instances  # ipywidgets' registry of open widgets

    sweep.set_breakpoint("tune.train")
    sweep.run("tune")
    before = set(_instances)
    panel = panels(sweep)
    opened = len(_instances) - len(before)
    for key in [k for _, k in panel.paused.table.options] * 3:  # each selection sets the editor (rebuilt when its form changes)
        panel.paused.table.value = key
        drawn(panel)
    sweep.set_breakpoint("tune.best")  # the breakpoint rows are rebuilt
    drawn(panel)
    assert len(_instances) - len(before) <= opened + 8  # one more row: a box, a button, a label (and their layouts and styles)
    panel.close()
    assert set(_instances) <= before


def test_live_during_a_background_run(engine, namespace, panels):
    import threading

    release, started = threading.Event(), threading.Semaphore(0)

    def slow(i):
        started.release()
        assert release.wait(60), "never released"
        return i

    namespace["slow"] = slow
    engine.define("bg", {"steps": [{"id": "work", "foreach": {"i": [0, 1, 2]}, "run": "slow"}]})
    panel = panels(engine, "bg")
    engine.run("bg", background=True)
    assert started.acquire(timeout=60)
    # the drawing thread shows the running step while the run goes on
    until(lambda: 'data-step="work" data-status="RUNNING"' in panel.dag.value)
    assert engine.busy and repr(panel) == "<workflow panel: bg#1, in progress>"
    release.set()
    assert engine.wait(60)
    drawn(panel)
    assert node_status(panel, "work") == "SUCCEEDED" and repr(panel) == "<workflow panel: bg#1, succeeded>"
