"""Break on failure: the `error` pause point, the actions it allows, and calling or debugging the
step by hand. Through the Engine API, on a real state file."""

from __future__ import annotations

import hashlib
import io
import json
import pdb
from pathlib import Path

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.engine.executors import ThreadExecutor
from maestro_nb.errors import ParamError, StateError
from maestro_nb.models.status import InstanceStatus, StepStatus

from .bp_support import Calls, instance_status, row_counts, stored

S = StepStatus

SWEEP = {"steps": [
    {"id": "fit", "foreach": {"x": [0, 1, 2, 3]}, "run": "fit", "retry": {"limit": 1}},
    {"id": "report", "after": ["fit"], "run": "report"},
]}


def broken_fit(calls: Calls):
    def fit(x):
        calls.add(("fit", x))
        scale = 10 - 2 * x
        return round(scale / (x - 2), 3)  # the bug: it divides by zero at x = 2
    return fit


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def sweep(engine, namespace, calls):
    namespace["fit"] = broken_fit(calls)
    namespace["report"] = lambda fit: [v for v in fit if v is not None]
    engine.define("wf", SWEEP)
    return engine


def test_a_failing_iteration_pauses_at_its_error_once_its_retries_are_spent(sweep, calls):
    bp = sweep.set_breakpoint("wf.fit", pause="error")
    instance = sweep.run("wf")
    (a,) = sweep.paused()
    assert (a.label, a.number, a.status, a.pause_point) == ("wf#1 fit[2]", 2, S.PAUSED, "error")
    assert calls[("fit", 2)] == 2  # its one retry was spent first
    assert [calls[("fit", x)] for x in (0, 1, 3)] == [1, 1, 1]  # its siblings went on
    assert instance.status is InstanceStatus.IN_PROGRESS and sweep.status_word(instance) == "paused"
    assert a.paused_by == {bp.id} and bp.paused == {a}
    assert (a.error.type, a.error.message) == ("ZeroDivisionError", "division by zero")
    assert str(a.error) == a.error.line == "ZeroDivisionError: division by zero"
    assert a.error.traceback.startswith("Traceback (most recent call last):") and "in fit" in a.error.traceback
    assert isinstance(a.error.exception, ZeroDivisionError)  # the live exception, while paused
    assert a.params == {"x": 2}
    row = sweep.sql("SELECT status, pause_point, error_type, error, traceback FROM attempts"
                    " WHERE step_id = 'fit' AND iteration = '2' AND attempt = 2").to_dict("records")[0]
    assert row["status"] == "PAUSED" and row["pause_point"] == "error"
    assert (row["error_type"], row["error"]) == ("ZeroDivisionError", "division by zero")
    assert row["traceback"] == a.error.traceback
    assert stored(sweep, "wf", "fit")[("2", 1)] == "USER_FAILED"


def test_retry_runs_the_redefined_function_and_the_instance_goes_on(sweep, namespace, calls):
    sweep.set_breakpoint("wf.fit", pause="error")
    instance = sweep.run("wf")
    (a,) = sweep.paused()
    namespace["fit"] = lambda x: x * 10  # the fix, defined after the failure
    sweep.retry(a)
    assert sweep.paused() == [] and instance.status is InstanceStatus.SUCCEEDED
    assert stored(sweep, "wf", "fit")[("2", 2)] == "USER_FAILED"  # it did fail
    assert stored(sweep, "wf", "fit")[("2", 3)] == "SUCCEEDED"
    assert json.loads(sweep.sql("SELECT output FROM iterations WHERE step_id = 'report'").output[0]) == [
        -5.0, -8.0, 20, 4.0]
    retry = sweep.sql("SELECT attempt, detail FROM events WHERE kind = 'retry' AND iteration = '2'")
    assert retry.attempt.tolist() == [1, 2]


def test_retry_with_a_changed_param_keeps_the_change(sweep, calls):
    sweep.set_breakpoint("wf.fit", pause="error")
    sweep.run("wf")
    (a,) = sweep.paused()
    sweep.set_param(a, "x", 2.5)
    assert a.changed == {"x"}
    sweep.retry(a)
    assert sweep.paused() == [] and calls.seen[-1] == ("fit", 2.5)
    frame = sweep.results("wf", "fit")
    assert frame.x.tolist() == [0, 1, 2.5, 3] and frame.changed.tolist() == ["", "", "x", ""]
    assert frame.output.tolist() == [-5.0, -8.0, 10.0, 4.0]


def test_a_retry_that_fails_again_pauses_again(sweep, calls):
    bp = sweep.set_breakpoint("wf.fit", pause="error")
    sweep.run("wf")
    (a,) = sweep.paused()
    sweep.retry(a)
    (b,) = sweep.paused()
    assert (b.number, b.pause_point, b.paused_by) == (3, "error", {bp.id})
    assert calls[("fit", 2)] == 3


@pytest.mark.parametrize("mode, instance_ends, step_ends, report_ran", [
    ("fail_after_running", "FAILED", "USER_FAILED", False),
    ("ignore", "SUCCEEDED", "COMPLETED_WITH_ERROR", True),
    ("fail_immediately", "FAILED", "USER_FAILED", False),
])
def test_fail_ends_it_as_its_failure_mode_says(engine, namespace, calls, mode, instance_ends, step_ends,
                                               report_ran):
    namespace["fit"] = broken_fit(calls)
    namespace["report"] = lambda fit: calls.add("report", fit) or 0
    engine.define("wf", {**SWEEP, "failure_mode": mode})
    engine.set_breakpoint("wf.fit", pause="error")
    instance = engine.run("wf")
    (a,) = engine.paused()
    engine.fail(a)
    assert engine.paused() == [] and instance.status.value == instance_ends == instance_status(engine, "wf")
    assert stored(engine, "wf", "fit")[("2", 2)] == "USER_FAILED"
    steps = engine.sql("SELECT step_id, status FROM steps WHERE workflow = 'wf'")
    assert dict(zip(steps.step_id, steps.status))["fit"] == step_ends
    assert (calls["report"] == 1) is report_ran
    assert engine.sql("SELECT count(*) AS n FROM events WHERE kind = 'fail'").n[0] == 1


def test_skip_and_stop_at_an_error_pause(sweep, calls):
    sweep.set_breakpoint("wf.fit", pause="error")
    sweep.run("wf")
    (a,) = sweep.paused()
    sweep.skip(a, output=0.0)
    assert sweep.instance("wf", 1).status is InstanceStatus.SUCCEEDED
    assert json.loads(sweep.sql("SELECT output FROM iterations WHERE step_id = 'report'").output[0]) == [
        -5.0, -8.0, 0.0, 4.0]
    second = sweep.run("wf")
    (b,) = sweep.paused()
    sweep.stop_attempts(b)
    assert second.status is InstanceStatus.STOPPED and stored(sweep, "wf", "fit", 2)[("2", 2)] == "STOPPED"


def test_resume_and_step_are_refused_at_an_error_pause_and_change_nothing(sweep):
    sweep.set_breakpoint("wf.fit", pause="error")
    sweep.run("wf")
    (a,) = sweep.paused()
    before = row_counts(sweep)
    for action in (lambda: sweep.resume(a), lambda: sweep.resume([a], step=True),
                   lambda: sweep.set_output(a, 1)):
        with pytest.raises(StateError) as info:
            action()
        assert "\n" not in str(info.value) and "wf#1 fit[2]" in str(info.value)
    assert "paused at its error (ZeroDivisionError: division by zero); fix the step and retry it" in str(
        pytest.raises(StateError, sweep.resume, a).value)
    assert sweep.paused() == [a] and row_counts(sweep) == before


def test_fail_is_refused_for_an_attempt_paused_before_its_step(sweep):
    sweep.set_breakpoint("wf.fit", iteration=0)
    sweep.run("wf")
    (a,) = sweep.paused()
    before = row_counts(sweep)
    with pytest.raises(StateError, match=r"^wf#1 fit\[0\] is paused before its step, not at an error; stop\(\)"):
        sweep.fail(a)
    assert sweep.paused() == [a] and row_counts(sweep) == before


def test_deleting_the_breakpoint_lets_the_failure_go_on(sweep):
    bp = sweep.set_breakpoint("wf.fit", pause="error")
    instance = sweep.run("wf")
    (a,) = sweep.paused()
    assert sweep.delete_breakpoint(bp) == [a]
    assert sweep.paused() == [] and instance.status is InstanceStatus.FAILED
    assert stored(sweep, "wf", "fit")[("2", 2)] == "USER_FAILED"


def test_a_missing_argument_pauses_at_error_and_is_fixed_by_setting_it(engine, namespace, calls):
    namespace["first"] = lambda: 1
    namespace["second"] = lambda first, scale: calls.add("second", (first, scale)) or first * scale
    engine.define("w", {"steps": [{"id": "first", "run": "first"},
                                  {"id": "second", "after": ["first"], "run": "second"}]})
    engine.set_breakpoint("w", pause="error")  # every step of the workflow
    engine.run("w")
    (a,) = engine.paused()
    assert (a.step_id, a.pause_point, a.paused_from) == ("second", "error", S.EVALUATING_PARAMS)
    assert a.error.type == "ParamError" and "missing argument 'scale'" in a.error.message
    assert a.error.traceback is None and a.error.exception is None  # the engine's own finding
    engine.set_param(a, "scale", 7)
    assert engine.call(a) == 7  # bound afresh for the call: first from upstream, scale as set
    engine.retry(a)
    assert calls.seen == [(1, 7), (1, 7)]  # once by hand, once by the retry
    assert engine.instance("w").status is InstanceStatus.SUCCEEDED
    assert json.loads(engine.sql("SELECT output FROM iterations WHERE step_id = 'second'").output[0]) == 7


def test_letting_a_binding_failure_fail_ends_it_fatally_failed(engine, namespace):
    namespace["needs"] = lambda absent: absent
    engine.define("w", {"steps": [{"id": "s", "run": "needs"}]})
    engine.set_breakpoint("w.s", pause="error")
    instance = engine.run("w")
    engine.fail(engine.paused())
    assert instance.status is InstanceStatus.FAILED and stored(engine, "w", "s") == {("", 1): "FATALLY_FAILED"}


def test_a_breakpoint_on_every_step_pauses_failures_only_and_keeps_its_scope(engine, namespace, calls):
    namespace["a"] = lambda: 1
    namespace["b"] = lambda a, i: 1 / (i - 1)
    engine.define("w", {"steps": [{"id": "a", "run": "a"},
                                  {"id": "b", "after": ["a"], "foreach": {"i": [0, 1, 2]}, "run": "b"}]})
    bp = engine.set_breakpoint("w", pause="error", when="i == 1", instance=2)
    assert (bp.step, bp.target) == (None, "w")
    assert engine.run("w").status is InstanceStatus.FAILED  # instance 1 is out of its scope
    engine.run("w")
    (a,) = engine.paused()
    assert (a.instance.instance_id, a.step_id, a.iteration) == (2, "b", "1")
    assert engine.find_breakpoints("w") == [bp]
    assert engine.breakpoint_index.on_step("w", "b") == []
    listed = engine.sql("SELECT id, step_id, pause_point FROM breakpoints").to_dict("records")
    assert listed == [{"id": bp.id, "step_id": None, "pause_point": "error"}]


def test_a_failing_condition_keeps_the_steps_own_error(sweep):
    sweep.set_breakpoint("wf.fit", pause="error", when="1 / (x - x) > 0")
    sweep.run("wf")
    (a,) = sweep.paused()
    assert a.error.type == "ZeroDivisionError" and a.error.message == "division by zero"


def test_an_ending_instance_does_not_pause_at_errors(engine, namespace):
    namespace["bad"] = lambda i: 1 / 0
    engine.define("w", {"failure_mode": "fail_immediately", "steps": [
        {"id": "b", "foreach": {"i": [0, 1]}, "run": "bad"}]})
    engine.set_breakpoint("w.b", pause="error", iteration=1)
    assert engine.run("w").status is InstanceStatus.FAILED and engine.paused() == []


def test_the_thread_executor_pauses_at_errors_too(db_path, namespace, calls):
    namespace["fit"] = broken_fit(calls)
    namespace["report"] = lambda fit: fit
    with Engine(db_path, namespace, executor=ThreadExecutor(2)) as engine:
        engine.define("wf", SWEEP)
        engine.set_breakpoint("wf.fit", pause="error")
        engine.run("wf")
        (a,) = engine.paused()
        assert a.iteration == "2" and isinstance(a.error.exception, ZeroDivisionError)
        namespace["fit"] = lambda x: x
        engine.retry(a)
        assert engine.instance("wf").status is InstanceStatus.SUCCEEDED


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    for name in (path, path + ".wal"):
        if Path(name).exists():
            digest.update(Path(name).read_bytes())
    return digest.hexdigest()


def test_call_runs_the_current_function_and_records_nothing(sweep, namespace, db_path):
    sweep.set_breakpoint("wf.fit", pause="error")
    sweep.run("wf")
    (a,) = sweep.paused()
    sweep.flush()
    before = (_file_digest(db_path), row_counts(sweep))
    with pytest.raises(ZeroDivisionError):
        sweep.call(a)
    namespace["fit"] = lambda x: x * 100
    assert sweep.call(a) == 200
    assert _file_digest(db_path) == before[0]  # not a byte written
    assert row_counts(sweep) == before[1] and sweep.paused() == [a] and a.status is S.PAUSED


def test_call_and_debug_are_for_run_steps(engine, namespace):
    engine.define("w", {"steps": [{"id": "q", "sql": "SELECT nope"}]})
    engine.set_breakpoint("w.q", pause="error")
    engine.run("w")
    (a,) = engine.paused()
    with pytest.raises(StateError, match=r"^w#1 q: a sql step has no function to call"):
        engine.call(a)
    with pytest.raises(ParamError, match="expected a paused attempt"):
        engine.call("w#1 q")


def scripted(commands: str) -> tuple[io.StringIO, object]:
    """A pdb.Pdb factory that reads `commands` and writes to the returned buffer."""
    out = io.StringIO()
    feed = io.StringIO(commands)

    def make() -> pdb.Pdb:
        debugger = pdb.Pdb(stdin=feed, stdout=out, nosigint=True)
        debugger.use_rawinput = False
        return debugger

    return out, make


def test_debug_opens_the_post_mortem_debugger_on_the_live_traceback(sweep):
    sweep.set_breakpoint("wf.fit", pause="error")
    sweep.run("wf")
    (a,) = sweep.paused()
    out, make = scripted("p scale\np x\nwhere\nq\n")
    assert sweep.debug(a, make) is None
    text = out.getvalue()
    assert text.startswith("ZeroDivisionError: division by zero\n> ")
    assert "(Pdb) 6\n(Pdb) 2\n" in text  # scale and x, at the frame that raised
    where = text.split("(Pdb) ")[3]  # what `where` printed: one frame, the step's
    assert [line for line in where.splitlines() if line.startswith("> ")] == [where.splitlines()[0]]
    assert where.splitlines()[0].endswith("fit()")
    assert "maestro_nb" not in text
    assert sweep.paused() == [a]


def test_debug_after_a_restart_runs_the_function_under_the_debugger(sweep, namespace, calls, db_path):
    sweep.set_breakpoint("wf.fit", pause="error")
    sweep.run("wf")
    sweep.close()
    with Engine(db_path, namespace) as again:
        (a,) = again.paused()  # back paused at its error, with its stored traceback
        assert (a.pause_point, a.error.type, a.error.exception) == ("error", "ZeroDivisionError", None)
        assert "in fit" in a.error.traceback
        out, make = scripted("c\np scale\np x\nq\n")
        assert again.debug(a, make) is None  # it raised again: post-mortem where it did
        text = out.getvalue()
        assert text.startswith("> ") and "fit()" in text.splitlines()[0]  # stopped as the call began
        assert "ZeroDivisionError: division by zero\n" in text and "(Pdb) 6\n(Pdb) 2\n" in text
        namespace["fit"] = lambda x: -x
        out, make = scripted("c\n")
        assert again.debug(a, make) == -2  # the current function, run under the debugger
        again.retry(a)
        assert again.instance("wf").status is InstanceStatus.SUCCEEDED


def test_a_state_file_from_before_structured_errors_opens_and_runs_on(tmp_path, namespace):
    import duckdb

    from maestro_nb.store.store import _migrations

    path = str(tmp_path / "schema3.duckdb")
    conn = duckdb.connect(path)  # a file as the previous release left it: migrations 1 to 3
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    for version, sql in _migrations()[:3]:
        conn.execute(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, now())", [version])
    source = "steps:\n  - id: s\n    run: f\n"
    from maestro_nb.models.parse import parse_definition

    conn.execute("INSERT INTO workflow_versions VALUES ('w', 1, ?, ?, '', now())",
                 [parse_definition("w", source).digest, source])
    history = "['CREATED', 'INITIALIZED', 'EVALUATING_PARAMS', 'RUNNING', 'USER_FAILED'], [1.0, 1.0, 1.0, 1.0, 1.0]"
    conn.execute("INSERT INTO instance_log VALUES (1, 'w', 1, 1, 1, 'FAILED', '{}', NULL, now())")
    conn.execute(f"INSERT INTO attempt_log VALUES (2, 'w', 1, 1, 's', '', '{{}}', 1, 'USER_FAILED', NULL, NULL,"
                 f" '{{}}', 'null', ?, {history})", ["ValueError: old\nTraceback (most recent call last):\n  ..."])
    conn.execute("INSERT INTO instance_log VALUES (3, 'w', 2, 1, 1, 'IN_PROGRESS', '{}', NULL, now())")
    conn.execute("INSERT INTO attempt_log VALUES (4, 'w', 2, 1, 's', '', '{}', 1, 'PAUSED', 'before', [1], '{}',"
                 " 'null', NULL, ['CREATED', 'INITIALIZED', 'EVALUATING_PARAMS', 'PAUSED'], [1.0, 1.0, 1.0, 1.0])")
    conn.execute("INSERT INTO breakpoint_log VALUES (5, 1, 'bp_s', 'w', 's', NULL, NULL, NULL, NULL, 'before',"
                 " NULL, true, now())")
    conn.close()
    namespace["f"] = lambda: 1
    with Engine(path, namespace) as engine:
        assert engine.store.schema_version == _migrations()[-1][0]
        (bp,) = engine.breakpoints()
        (a,) = engine.paused()
        assert (bp.step, a.label, a.paused_by) == ("s", "w#2 s", {bp.id})
        old = engine.sql("SELECT error, error_type, traceback, changed FROM attempts WHERE instance_id = 1")
        assert old.to_dict("records") == [{"error": "ValueError: old\nTraceback (most recent call last):\n  ...",
                                           "error_type": None, "traceback": None, "changed": None}]
        assert engine.progress(engine.instance("w", 1)) == [("s", "USER_FAILED", 1, "ValueError: old")]
        engine.resume(a)
        engine.delete_breakpoint(bp)
        assert engine.restart("w", 1).status is InstanceStatus.SUCCEEDED
        assert engine.instance("w", 2).status is InstanceStatus.SUCCEEDED


def test_new_api_arguments_of_the_wrong_type_are_one_line_errors(sweep):
    sweep.set_breakpoint("wf.fit", pause="error")
    sweep.run("wf")
    (a,) = sweep.paused()
    before = row_counts(sweep)
    for action, message in [(lambda: sweep.fail(["wf#1 fit[2]"]), "attempts must be paused attempts"),
                            (lambda: sweep.debug(a, debugger="pdb"), "debugger makes a pdb.Pdb-like debugger"),
                            (lambda: sweep.step_status("wf", "fit", instance="1"), "instance is a whole number"),
                            (lambda: sweep.set_param(a, "x", 1, force=1), "force is True or False")]:
        with pytest.raises(ParamError, match=message) as info:
            action()
        assert "\n" not in str(info.value)
    assert row_counts(sweep) == before and sweep.paused() == [a]
