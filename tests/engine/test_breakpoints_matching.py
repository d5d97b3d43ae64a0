"""Which attempts a breakpoint pauses: every one that reaches the check, scopes, conditions,
pause points, foreach (nested too), and the O(1) cost of the check."""

from __future__ import annotations

import pandas as pd
import pytest

from maestro_nb.engine.breakpoints import Breakpoint
from maestro_nb.models.status import StepStatus

from .bp_support import LINE, NESTED, SWEEP, Calls, labels, line_steps, nested_steps, stored, sweep_steps

S = StepStatus


@pytest.fixture
def calls() -> Calls:
    return Calls()


# --------------------------------------------------------------------------- every attempt
def test_pauses_every_attempt_of_the_step_in_every_instance(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    bp = engine.set_breakpoint("wf.train")
    first = engine.run("wf")
    second = engine.run("wf")
    paused = engine.paused()
    assert labels(paused) == sorted(f"wf#{n} train[{k}]" for n in (1, 2) for k in range(3))
    assert all(a.status is S.PAUSED and a.pause_point == "before" for a in paused)
    assert bp.paused == set(paused)
    assert calls.total() == 2  # load ran twice, no train iteration ran
    assert engine.status_word(first) == engine.status_word(second) == "paused"
    assert set(stored(engine, "wf", "train", 2).values()) == {"PAUSED"}


def test_attempt_that_passed_the_check_before_the_breakpoint_is_not_paused(engine, namespace, calls):
    """Iteration 0's code sets the breakpoint: it had passed the check; iterations 1 and 2 pause."""
    sweep_steps(namespace, calls)
    plain_train = namespace["train"]

    def train(load, lr):
        if lr == 0.01:
            engine.set_breakpoint("wf.train")
        return plain_train(load, lr)

    namespace["train"] = train
    serial = [dict(s, concurrency=1) if s["id"] == "train" else s for s in SWEEP["steps"]]
    engine.define("wf", {**SWEEP, "steps": serial})
    engine.run("wf")
    assert calls[("train", 0.01)] == 1
    assert labels(engine.paused()) == ["wf#1 train[1]", "wf#1 train[2]"]
    assert stored(engine, "wf", "train")[("0", 1)] == "SUCCEEDED"


def test_breakpoint_added_on_a_finished_step_pauses_only_later_instances(engine, namespace, calls):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.set_breakpoint("line.b")
    engine.run("line")
    (held,) = engine.paused()
    engine.set_breakpoint("line.a")  # instance 1 passed `a` already
    assert engine.paused() == [held]
    engine.run("line")
    assert labels(engine.paused()) == ["line#1 b", "line#2 a"]


def test_a_retry_is_a_new_attempt_and_is_checked_again(engine, namespace):
    tries = []

    def flaky():
        tries.append(1)
        if len(tries) == 1:
            raise RuntimeError("first try fails")
        return "ok"

    namespace["flaky"] = flaky
    engine.define("r", {"steps": [{"id": "s", "run": "flaky", "retry": {"limit": 2}}]})
    engine.set_breakpoint("r.s")
    instance = engine.run("r")
    (first,) = engine.paused()
    assert first.number == 1
    engine.resume(first)
    (second,) = engine.paused()
    assert second is not first and second.number == 2 and len(tries) == 1
    assert stored(engine, "r", "s") == {("", 1): "USER_FAILED", ("", 2): "PAUSED"}
    engine.resume(second)
    assert len(tries) == 2 and engine.paused() == []
    assert instance.status.value == "SUCCEEDED"


# --------------------------------------------------------------------------- foreach
def test_one_breakpoint_pauses_every_iteration_of_a_foreach(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    engine.set_breakpoint("wf.train")
    engine.run("wf")
    paused = engine.paused(step="train")
    assert [(a.iteration, a.loop_params) for a in sorted(paused, key=lambda a: a.index)] == [
        ("0", {"lr": 0.01}), ("1", {"lr": 0.1}), ("2", {"lr": 0.2})]
    assert [a.params["lr"] for a in engine.paused(lr=0.1)] == [0.1]


def test_breakpoint_inside_nested_foreach_pauses_every_inner_iteration(engine, namespace, calls):
    nested_steps(namespace, calls)
    engine.define("n", NESTED)
    engine.set_breakpoint("n.inner")
    instance = engine.run("n")
    paused = engine.paused()
    assert sorted(a.iteration for a in paused) == ["0/0", "1/0", "1/1", "2/0", "2/1", "2/2"]
    assert {a.iteration: (a.loop_params["i"], a.loop_params["j"]) for a in paused}["2/1"] == (3, 1)
    assert calls.total() == 0
    assert [a.iteration for a in engine.paused(i=2)] == ["1/0", "1/1"]
    engine.delete_breakpoint("n.inner")
    assert instance.status.value == "SUCCEEDED"
    assert calls["report"] == 1 and calls.seen[-1] == [10, 41, 93]


def test_nested_iteration_scope(engine, namespace, calls):
    nested_steps(namespace, calls)
    engine.define("n", NESTED)
    engine.set_breakpoint("n.inner", iteration="2/1")
    engine.run("n")
    assert [a.iteration for a in engine.paused()] == ["2/1"]
    assert calls.total() == 5


# --------------------------------------------------------------------------- scopes
def test_version_scope(engine, namespace, calls):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.define("line", {**LINE, "description": "v2"})
    engine.set_breakpoint("line.b", version=1)
    engine.run("line")  # version 2: not paused
    assert engine.paused() == []
    engine.run("line", version=1)
    assert labels(engine.paused()) == ["line#2 b"]


def test_instance_scope(engine, namespace, calls):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.set_breakpoint("line.b", instance=2)
    for _ in range(3):
        engine.run("line")
    assert labels(engine.paused()) == ["line#2 b"]


def test_run_scope_pauses_only_the_restarted_run(engine, namespace, calls):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.set_breakpoint("line.b", run=2)
    instance = engine.run("line")
    assert engine.paused() == [] and instance.status.value == "SUCCEEDED"
    engine.restart("line", 1, from_step="b")
    (a,) = engine.paused()
    assert a.instance.run_id == 2 and a.step_id == "b"


def test_iteration_scope(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    engine.set_breakpoint("wf.train", iteration=2)
    engine.run("wf")
    assert [a.iteration for a in engine.paused()] == ["2"]
    assert calls[("train", 0.01)] == calls[("train", 0.1)] == 1 and calls[("train", 0.2)] == 0


# --------------------------------------------------------------------------- conditions
def test_conditional_breakpoint_on_bound_params(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    engine.set_breakpoint("wf.train", when="lr > 0.05")
    engine.run("wf")
    assert sorted(a.params["lr"] for a in engine.paused()) == [0.1, 0.2]
    assert calls[("train", 0.01)] == 1


def test_condition_sees_upstream_outputs_and_workflow_params(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    engine.set_breakpoint("wf.train", when="load[1] == 2 * scale and lr < 0.05")
    engine.run("wf")
    assert [a.params["lr"] for a in engine.paused()] == [0.01]


def test_condition_that_fails_to_evaluate_pauses_and_says_why(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    bp = engine.set_breakpoint("wf.train", when="1 / (lr - 0.1) > 0")
    engine.run("wf")
    # lr=0.01: false, lr=0.2: true, lr=0.1: division by zero -> paused, with the reason
    by_lr = {a.params["lr"]: a for a in engine.paused()}
    assert sorted(by_lr) == [0.1, 0.2]
    assert by_lr[0.1].error.message.startswith(f"breakpoint {bp.id} condition:")
    assert "ZeroDivisionError" in by_lr[0.1].error.message
    assert by_lr[0.2].error is None
    engine.delete_breakpoint(bp)  # once it runs and succeeds, the note is not a stored error
    assert by_lr[0.1].error is None
    assert engine.sql("SELECT count(*) n FROM attempts WHERE error IS NOT NULL").n[0] == 0


# --------------------------------------------------------------------------- pause points
def test_before_pause_binds_params_and_does_not_call(engine, namespace, calls):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.set_breakpoint("line.b", pause="before")
    engine.run("line")
    (a,) = engine.paused()
    assert a.pause_point == "before" and a.params == {"a": 1}
    assert calls["b"] == 0 and calls["c"] == 0
    engine.resume(a)
    assert calls["b"] == 1 and calls["c"] == 1


def test_after_pause_holds_the_output_and_downstream_sees_the_mutation(engine, namespace, calls):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.set_breakpoint("line.b", pause="after")
    instance = engine.run("line")
    (a,) = engine.paused()
    assert a.pause_point == "after" and a.output == 11
    assert calls["b"] == 1 and calls["c"] == 0
    engine.set_output(a, 500)
    engine.resume(a)
    assert calls["b"] == 1  # the step did not run again
    assert calls.seen[-1] == 500 and instance.status.value == "SUCCEEDED"


def test_condition_on_output_at_after_pause(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    engine.set_breakpoint("wf.train", pause="after", when="output['score'] >= 1")
    engine.run("wf")
    assert sorted(a.output["lr"] for a in engine.paused()) == [0.1, 0.2]


# --------------------------------------------------------------------------- cost
def test_check_cost_does_not_grow_with_breakpoints_on_other_steps(engine, namespace, calls, monkeypatch):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    for n in range(10_000):  # straight into the index: 10,000 stored rows would only slow the test
        step = "a" if n % 2 else "c"
        engine.scheduler.add_breakpoint(Breakpoint(1000 + n, "line", step, "before", None, n + 5))
        engine.scheduler.add_breakpoint(Breakpoint(20_000 + n, "other", "b", "before"))
    seen = []
    real = Breakpoint.matches
    monkeypatch.setattr(Breakpoint, "matches", lambda bp, a: seen.append(a.step_id) or real(bp, a))
    engine.run("line")  # instance 1: none of the scoped breakpoints match
    assert calls["c"] == 1
    assert "b" not in seen  # nothing is on line.b: the check never looked at a breakpoint
    assert seen.count("a") <= 5000 and seen.count("c") <= 5000  # at most those on the step itself


def test_check_looks_only_at_breakpoints_that_can_match_the_instance(engine, namespace, calls, monkeypatch):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    for n in range(10_000):  # scoped to instances 5 .. 10,004: none is instance 1
        engine.scheduler.add_breakpoint(Breakpoint(1000 + n, "line", "a", "before", None, n + 5))
    engine.scheduler.add_breakpoint(Breakpoint(50_000, "line", "a", "before", None, 1))
    seen = []
    real = Breakpoint.matches
    monkeypatch.setattr(Breakpoint, "matches", lambda bp, a: seen.append(bp.id) or real(bp, a))
    engine.run("line")
    assert seen == [50_000]  # one lookup by instance, not a scan of the step's 10,001 breakpoints
    assert [a.step_id for a in engine.paused()] == ["a"]


def test_condition_with_no_truth_value_pauses_and_says_why(engine, namespace, calls):
    namespace["load"] = lambda: pd.DataFrame({"a": [1, 2]})
    namespace["use"] = lambda load: calls.add("use") or int(load["a"].sum())
    engine.define("w", {"steps": [{"id": "load", "run": "load"},
                                  {"id": "use", "after": ["load"], "run": "use"}]})
    bp = engine.set_breakpoint("w.use", when='load["a"] > 1')  # a Series: no truth value
    instance = engine.run("w")  # nothing raised out of run
    (a,) = engine.paused()
    assert a.step_id == "use" and calls["use"] == 0
    assert a.error.message.startswith(f"breakpoint {bp.id} condition:")
    assert "truth value" in a.error.message and "\n" not in str(a.error)
    engine.delete_breakpoint(bp)
    assert instance.status.value == "SUCCEEDED" and calls["use"] == 1


# --------------------------------------------------------------------------- identical settings: upsert
def test_identical_settings_return_the_existing_breakpoint(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    first = engine.set_breakpoint("wf.train", when="lr>0.05", name="fast")
    rows = engine.sql("SELECT count(*) AS n FROM breakpoint_log").n[0]
    assert engine.set_breakpoint("wf.train", when=" lr > 0.05 ") is first  # whitespace aside
    assert engine.set_breakpoint("wf.train", when="${lr > 0.05}", name="fast") is first
    assert engine.same_breakpoint("wf.train", when="lr > 0.05") is first
    assert engine.sql("SELECT count(*) AS n FROM breakpoint_log").n[0] == rows  # nothing stored
    others = [engine.set_breakpoint("wf.train", when="lr > 0.06"),
              engine.set_breakpoint("wf.train", when="lr > 0.05", pause="after"),
              engine.set_breakpoint("wf.train", when="lr > 0.05", instance=1),
              engine.set_breakpoint("wf.train", when="lr > 0.05", iteration=2)]
    assert len({bp.id for bp in [first, *others]}) == 5


def test_deleting_the_breakpoint_a_repeated_call_returned_resumes_everything(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    bp = engine.set_breakpoint("wf.train")
    assert engine.set_breakpoint("wf.train") is bp  # re-running the cell
    engine.run("wf")
    assert len(engine.paused()) == 3
    engine.delete_breakpoint(bp)
    assert engine.paused() == [] and engine.breakpoints() == []
    assert engine.instance("wf").status.value == "SUCCEEDED"
