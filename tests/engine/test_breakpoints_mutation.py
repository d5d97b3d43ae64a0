"""Mutating a paused attempt: validated, persisted, recorded in the timeline, and exactly what
the resumed attempt sees."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import MaestroError, ParamError, StateError, UnknownNameError

from .bp_support import LINE, SWEEP, Calls, line_steps, row_counts, sweep_steps


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def sweep(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    return engine


def mutations(engine: Engine) -> list[dict]:
    frame = engine.sql("SELECT iteration, detail FROM events WHERE kind = 'mutate' ORDER BY recorded_at")
    return [dict(json.loads(d), iteration=it) for it, d in zip(frame.iteration, frame.detail)]


# --------------------------------------------------------------------------- before: params
def test_set_param_is_what_the_resumed_attempt_sees(sweep, calls):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (a,) = sweep.paused(lr=0.2)
    sweep.set_param(a, "lr", 0.02)
    sweep.set_param(a, "load", [7, 8])
    assert a.params == {"load": [7, 8], "lr": 0.02}
    sweep.resume(a)
    assert calls[("train", 0.02)] == 1 and calls[("train", 0.2)] == 0
    assert calls.seen[-1] == {"lr": 0.02, "load": [7, 8]}
    assert a.output == {"lr": 0.02, "score": 0.2}
    assert a.loop_params == {"lr": 0.2}  # identity of the iteration does not change


def test_mutation_is_recorded_in_the_timeline_with_old_and_new(sweep):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (a,) = sweep.paused(lr=0.1)
    sweep.set_param(a, "lr", 0.5)
    recorded = mutations(sweep)
    assert len(recorded) == 1
    assert recorded[0]["param"] == "lr" and recorded[0]["iteration"] == "1"
    assert json.loads(recorded[0]["old"]) == 0.1 and json.loads(recorded[0]["new"]) == 0.5


def test_set_param_survives_a_new_engine_and_resumes_there(engine, namespace, calls, db_path):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    engine.set_breakpoint("wf.train")
    engine.run("wf")
    (a,) = engine.paused(lr=0.1)
    engine.set_param(a, "lr", 0.3)
    engine.close()
    with Engine(db_path, namespace) as again:
        held = sorted(again.paused(), key=lambda x: x.index)
        assert [x.params["lr"] for x in held] == [0.01, 0.3, 0.2]
        assert held[1].loop_params == {"lr": 0.1}
        again.delete_breakpoint("wf.train")
        assert again.instance("wf", 1).status.value == "SUCCEEDED"
        assert [calls[("train", lr)] for lr in (0.01, 0.1, 0.3, 0.2)] == [1, 0, 1, 1]


def test_dataframe_param_changed_in_place_is_honoured(engine, namespace):
    seen = []
    namespace["make"] = lambda: pd.DataFrame({"x": [1, 2, 3]})
    namespace["use"] = lambda make: seen.append(make["x"].tolist()) or int(make["x"].sum())
    engine.define("df", {"steps": [{"id": "make", "run": "make"}, {"id": "use", "after": ["make"], "run": "use"}]})
    engine.set_breakpoint("df.use")
    instance = engine.run("df")
    (a,) = engine.paused()
    a.params["make"].loc[0, "x"] = 100  # the notebook edits the frame it was given
    engine.resume(a)
    assert seen == [[100, 2, 3]] and a.output == 105 and instance.status.value == "SUCCEEDED"


def test_dataframe_value_set_as_param_is_persisted(engine, namespace, db_path):
    seen = []
    namespace["make"] = lambda: [1]
    namespace["use"] = lambda make: seen.append(make) or 0
    engine.define("df", {"steps": [{"id": "make", "run": "make"}, {"id": "use", "after": ["make"], "run": "use"}]})
    engine.set_breakpoint("df.use")
    engine.run("df")
    with pytest.raises(ParamError, match="param 'make' is a list, not a table; give a list, or force"):
        engine.set_param(engine.paused()[0], "make", pd.DataFrame({"y": [4, 5]}))
    engine.set_param(engine.paused()[0], "make", pd.DataFrame({"y": [4, 5]}), force=True)
    engine.close()
    with Engine(db_path, namespace) as again:
        (a,) = again.paused()
        pd.testing.assert_frame_equal(a.params["make"], pd.DataFrame({"y": [4, 5]}))
        again.resume(a)
    assert seen[0]["y"].tolist() == [4, 5]


# --------------------------------------------------------------------------- after: output
def test_set_output_is_what_successors_see_and_is_recorded(engine, namespace, calls, db_path):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.set_breakpoint("line.b", pause="after")
    engine.run("line")
    (b,) = engine.paused()
    engine.set_output(b, 500)
    (recorded,) = mutations(engine)
    assert recorded["output"] is True
    assert json.loads(recorded["old"]) == 11 and json.loads(recorded["new"]) == 500
    engine.close()
    with Engine(db_path, namespace) as again:
        (b,) = again.paused()
        assert b.pause_point == "after" and b.output == 500
        again.resume(b)
        assert again.instance("line", 1).status.value == "SUCCEEDED"
    assert calls["b"] == 1 and calls.seen[-1] == 500


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("action, error, text", [
    (lambda e, a: e.set_param(a, "lrr", 0.5), UnknownNameError, "did you mean 'lr'?"),
    (lambda e, a: e.set_param(a, "lr", lambda: 1), ParamError, "cannot take a"),
    (lambda e, a: e.set_param(a, "lr", object()), ParamError, "cannot take a"),
    (lambda e, a: e.set_output(a, 1), StateError, "change its params"),
], ids=["unknown-name", "lambda", "object", "output-at-before"])
def test_bad_mutation_at_before_changes_nothing(sweep, action, error, text):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (a,) = sweep.paused(lr=0.1)
    before = (dict(a.params), a.output, row_counts(sweep))
    with pytest.raises(error, match=text) as info:
        action(sweep, a)
    assert isinstance(info.value, MaestroError) and "\n" not in info.value.message
    assert (dict(a.params), a.output, row_counts(sweep)) == before
    assert mutations(sweep) == []


@pytest.mark.parametrize("action, error, text", [
    (lambda e, a: e.set_output(a, lambda: 1), ParamError, "cannot take a"),
    (lambda e, a: e.set_param(a, "a", 5), StateError, "change its output"),
], ids=["lambda-output", "param-at-after"])
def test_bad_mutation_at_after_changes_nothing(engine, namespace, calls, action, error, text):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.set_breakpoint("line.b", pause="after")
    engine.run("line")
    (b,) = engine.paused()
    before = (dict(b.params), b.output, row_counts(engine))
    with pytest.raises(error, match=text):
        action(engine, b)
    assert (dict(b.params), b.output, row_counts(engine)) == before


def test_mutating_an_attempt_that_is_not_paused_is_refused(sweep):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (a,) = sweep.paused(lr=0.1)
    sweep.resume(a)
    counts = row_counts(sweep)
    with pytest.raises(StateError, match="is not paused; it is SUCCEEDED"):
        sweep.set_param(a, "lr", 0.7)
    assert a.params["lr"] == 0.1 and row_counts(sweep) == counts


def test_params_of_a_paused_attempt_change_only_through_set_param(sweep):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (a,) = sweep.paused(lr=0.1)
    before = row_counts(sweep)
    for change in (lambda: a.params.__setitem__("lr", 9), lambda: a.params.update(lr=9),
                   lambda: a.params.pop("lr"), lambda: a.params.clear()):
        with pytest.raises(StateError, match="engine.set_param"):
            change()
    assert a.params["lr"] == 0.1 and row_counts(sweep) == before


# --------------------------------------------------------------------------- a param keeps its kind
@pytest.mark.parametrize("value, kind", [("abc", "text"), ([0.1], "a list"), (True, "a boolean"), ({"v": 1}, "a mapping")])
def test_a_change_of_kind_is_refused_in_one_line_and_changes_nothing(sweep, value, kind):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (a,) = sweep.paused(lr=0.1)
    before = row_counts(sweep)
    with pytest.raises(ParamError) as info:
        sweep.set_param(a, "lr", value)
    assert str(info.value) == (f"wf#1 train[1]: param 'lr' is a number (0.1), not {kind}; give a number, "
                               "or force the change: set_param('lr', value, force=True)")
    assert a.params["lr"] == 0.1 and a.changed == frozenset() and row_counts(sweep) == before


@pytest.mark.parametrize("value", [1, 0.25, None])
def test_numbers_are_numbers_and_none_fits_any_kind(sweep, value):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (a,) = sweep.paused(lr=0.1)
    sweep.set_param(a, "lr", value)  # an int for a float (and back) is no change of kind
    assert a.params["lr"] == value and a.changed == {"lr"}


def test_force_changes_the_kind_and_is_recorded(sweep, calls):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (a,) = sweep.paused(lr=0.1)
    sweep.set_param(a, "lr", "0.3", force=True)
    assert mutations(sweep)[0]["new"] == '"0.3"'
    with pytest.raises(ParamError, match="force is True or False, not 'yes'"):
        sweep.set_param(a, "lr", 0.3, force="yes")
