"""Break on failure, param kinds, repeated breakpoints and a rebound `paused`, in an in-process shell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from maestro_nb.magics.kernel import session_for


def plain(obj) -> str:
    bundle = obj._repr_mimebundle_() if hasattr(obj, "_repr_mimebundle_") else {"text/plain": repr(obj)}
    return bundle["text/plain"]


def test_on_error_pauses_the_failing_iteration_and_retry_runs_the_fixed_function(sweep):
    said = plain(sweep.run_line_magic("breakpoint", "sweep.fit --on-error"))
    assert said == "breakpoint 1 on sweep.fit: error, all instances; paused attempts go in `bp_fit`"
    summary = plain(sweep.run_line_magic("workflow", "run sweep"))
    assert summary.splitlines() == [
        "sweep#1 (version 1, run 1): paused",
        "  fit     4 iterations: 1 PAUSED, 3 SUCCEEDED",
        "  report  not started",
        "paused (1):",
        "  sweep#1 fit[2]  attempt 1  error  x=2  (bp_fit)  ZeroDivisionError: division by zero",
        "at an error: fix the step, then paused.where(step='fit').retry(); .debug() opens the debugger on one,"
        " .fail() lets them fail",
    ]
    a = sweep.user_ns["bp_fit"][0]
    assert repr(a).splitlines() == [
        "sweep#1 fit[2]  attempt 1  paused error  (bp_fit)",
        "  loop params: x=2",
        "  params: 'x': 2",
        "  error: ZeroDivisionError: division by zero",
        "  fix the step, then .retry(); .call() tries it by hand, .debug() opens the debugger, .fail() lets it fail",
    ]
    assert (a.error.type, a.error.message) == ("ZeroDivisionError", "division by zero")
    assert "in fit" in a.error.traceback and isinstance(a.error.exception, ZeroDivisionError)
    table = plain(sweep.user_ns["paused"]).splitlines()
    assert table[1].split() == ["where", "attempt", "pause", "loop", "params", "held", "by", "error"]
    assert table[2].endswith("ZeroDivisionError: division by zero")
    with pytest.raises(ZeroDivisionError):
        a.call()
    sweep.run_cell("def fit(x):\n    return x * 10")
    assert a.call() == 20  # the current function, nothing recorded
    assert len(sweep.user_ns["paused"]) == 1
    done = plain(a.retry())
    assert done.splitlines()[:3] == ["sweep#1 (version 1, run 1): SUCCEEDED",
                                     "  fit     4 iterations: 4 SUCCEEDED", "  report  SUCCEEDED"]
    assert sweep.run_line_magic("workflow", "results sweep.fit").attempt.tolist() == [1, 1, 2, 1]


def test_on_error_for_every_step_of_a_workflow_and_fail(sweep):
    said = plain(sweep.run_line_magic("breakpoint", "sweep --on-error"))
    assert said == "breakpoint 1 on every step of sweep: error, all instances; paused attempts go in `bp_sweep`"
    listed = plain(sweep.run_line_magic("breakpoint", "list")).splitlines()
    assert listed[2].split()[:4] == ["1", "bp_sweep", "every", "step"]
    sweep.run_line_magic("workflow", "run sweep")
    summary = plain(sweep.user_ns["bp_sweep"].fail())
    assert summary.splitlines()[:3] == ["sweep#1 (version 1, run 1): FAILED",
                                        "  fit     4 iterations: 3 SUCCEEDED, 1 USER_FAILED",
                                        "          error: ZeroDivisionError: division by zero"]
    assert "deleted breakpoint 1 (bp_sweep)" in plain(sweep.run_line_magic("breakpoint", "delete sweep"))


@pytest.mark.parametrize("line, message", [
    ("sweep", "name a step as WORKFLOW.STEP, e.g. tune.train (or break on failure at every step of a "
              "workflow: %breakpoint sweep --on-error)"),
    ("sweep.fit --after --on-error", "--after and --on-error are two pause points; give one"),
    ("sweep --on-error --iteration 1", "an iteration scope needs a step: WORKFLOW.STEP"),
    ("swep --on-error", "unknown workflow 'swep'; did you mean 'sweep'?"),
])
def test_on_error_usage_errors_are_one_line(sweep, line, message):
    with pytest.raises(UsageError) as info:
        sweep.run_line_magic("breakpoint", line)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert session_for(sweep).engine.breakpoints() == []


def test_resume_and_fail_at_the_wrong_pause_are_one_line_usage_errors(sweep):
    sweep.run_line_magic("breakpoint", "sweep.fit --on-error")
    sweep.run_line_magic("workflow", "run sweep")
    with pytest.raises(UsageError, match=r"^sweep#1 fit\[2\] is paused at its error \(ZeroDivisionError"):
        sweep.run_line_magic("resume", "sweep.fit")
    sweep.run_line_magic("breakpoint", "sweep.report")
    sweep.run_line_magic("skip", "sweep.fit")
    with pytest.raises(UsageError, match="paused before its step, not at an error"):
        sweep.user_ns["bp_report"][0].fail()


def test_rerunning_a_breakpoint_cell_returns_the_same_breakpoint(sweep):
    first = plain(sweep.run_line_magic("breakpoint", 'sweep.fit --when "x > 1"'))
    again = plain(sweep.run_line_magic("breakpoint", 'sweep.fit --when "x>1"'))
    assert first == 'breakpoint 1 on sweep.fit: before when x > 1, all instances; paused attempts go in `bp_fit`'
    assert again == 'breakpoint 1 on sweep.fit: before when x > 1, all instances; set already, paused attempts go in `bp_fit`'
    assert "bp_sweep_fit" not in sweep.user_ns and len(session_for(sweep).engine.breakpoints()) == 1
    with pytest.raises(UsageError, match="breakpoint 1 on sweep.fit has these settings already, named 'bp_fit'"):
        sweep.run_line_magic("breakpoint", 'sweep.fit --when "x > 1" --as other')
    sweep.run_line_magic("workflow", "run sweep")
    sweep.run_line_magic("breakpoint", "delete bp_fit")
    assert len(sweep.user_ns["paused"]) == 0


def test_a_param_keeps_its_kind_unless_forced(sweep):
    sweep.run_line_magic("breakpoint", "sweep.fit --iteration 1")
    sweep.run_line_magic("workflow", "run sweep")
    a = sweep.user_ns["bp_fit"][0]
    with pytest.raises(UsageError) as info:
        a.params["x"] = "abc"
    assert str(info.value) == ("sweep#1 fit[1]: param 'x' is a number (1), not text; give a number, "
                               "or force the change: set_param('x', value, force=True)")
    a.params["x"] = 1.5  # an int to a float is fine
    a.set_param("x", "3", force=True)
    assert a.params["x"] == "3"


def test_a_rebound_paused_is_not_named_in_messages(sweep):
    sweep.run_line_magic("breakpoint", "sweep.fit --iteration 1 --on-error")
    sweep.run_line_magic("breakpoint", "sweep.fit --iteration 3")
    sweep.user_ns["paused"] = "my own value"
    summary = plain(sweep.run_line_magic("workflow", "run sweep"))
    assert "inspect them in `maestro_paused`" in summary
    assert sweep.user_ns["paused"] == "my own value" and len(sweep.user_ns["maestro_paused"]) == 1
    with pytest.raises(UsageError, match="1 paused attempts are in `maestro_paused`"):
        sweep.run_line_magic("resume", "sweep.fit --iteration 9")
