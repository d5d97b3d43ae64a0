"""The magics in an in-process shell: parsing, variables, displays, one-line errors."""

from __future__ import annotations

import os

import pytest
from IPython.core.error import UsageError

from maestro_nb.magics.kernel import session_for

TUNE = """
params: {n_rows: 10}
steps:
  - id: load
    run: load
  - id: train
    after: [load]
    foreach: {lr: [0.1, 0.2], depth: [3, 5]}
    run: train
  - id: best
    after: [train]
    run: best
"""

CODE = '''
def load(n_rows):
    return {"n": n_rows}

def train(load, lr, depth):
    return {"score": round(lr * depth, 3), "n": load["n"]}

def best(train):
    return max(t["score"] for t in train if t is not None)
'''


@pytest.fixture
def tune(shell):
    shell.run_line_magic("workflow", "db :memory:")
    shell.run_cell(CODE)
    shell.run_cell_magic("workflow", "tune", TUNE)
    return shell


def plain(obj) -> str:
    bundle = obj._repr_mimebundle_() if hasattr(obj, "_repr_mimebundle_") else {"text/plain": repr(obj)}
    return bundle["text/plain"]


def test_define_shows_the_dag_as_mermaid_and_text(shell):
    shell.run_line_magic("workflow", "db :memory:")
    view = shell.run_cell_magic("workflow", "tune", TUNE)
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/vnd.mermaid", "application/vnd.maestro-nb.dag+json"}
    assert bundle["text/plain"].startswith("workflow tune, version 1 (new): 3 steps")
    assert "n0 --> n1" in bundle["text/vnd.mermaid"]
    again = shell.run_cell_magic("workflow", "tune", TUNE)
    assert "version 1 (unchanged)" in plain(again)
    changed = shell.run_cell_magic("workflow", "tune", TUNE.replace("n_rows: 10", "n_rows: 20"))
    assert "version 2 (new)" in plain(changed)


def test_break_inspect_mutate_resume(tune):
    assert "bp_train" in plain(tune.run_line_magic("breakpoint", "tune.train"))
    view = tune.run_line_magic("workflow", "run tune n_rows=20")
    assert "tune#1 (version 1, run 1): paused" in plain(view)
    paused = tune.user_ns["paused"]
    assert len(paused) == 4 and len(tune.user_ns["bp_train"]) == 4
    first = paused.where(lr=0.1, depth=3)[0]
    assert first.params["load"] == {"n": 20}
    first.params["lr"] = 0.5
    assert "lr: 0.1 -> 0.5" not in plain(first)  # reprs show values, not the history
    first.resume()
    assert len(paused) == 3
    tune.run_line_magic("resume", "tune.train --all")
    frame = tune.run_line_magic("workflow", "results tune.train")
    assert list(frame["score"]) == [1.5, 0.5, 0.6, 1.0]
    assert list(frame.columns[:3]) == ["iteration", "lr", "depth"]


def test_resume_needs_all_when_several_match(tune):
    tune.run_line_magic("breakpoint", "tune.train")
    tune.run_line_magic("workflow", "run tune")
    with pytest.raises(UsageError, match="4 paused attempts match tune.train; .*--all"):
        tune.run_line_magic("resume", "tune.train")
    tune.run_line_magic("resume", "tune.train --iteration 2")
    tune.run_line_magic("resume", "depth=5 --all")
    assert [a.iteration for a in tune.user_ns["paused"]] == ["0"]
    view = tune.run_line_magic("skip", 'tune.train --output \'{"score": 9}\'')
    assert "tune#1 (version 1, run 1): SUCCEEDED" in plain(view)
    frame = tune.run_line_magic("workflow", "results tune.best")
    assert frame["output"][0] == 9


def test_delete_breakpoint_resumes_or_keeps(tune):
    tune.run_line_magic("breakpoint", "tune.train --as gate")
    assert "gate" in tune.user_ns and "bp_train" not in tune.user_ns
    tune.run_line_magic("workflow", "run tune")
    out = plain(tune.run_line_magic("breakpoint", "delete gate --keep-paused"))
    assert "4 attempts stay paused" in out
    assert "gate" not in tune.user_ns and len(tune.user_ns["paused"]) == 4
    tune.run_line_magic("resume", "--all")
    assert "nothing is paused" in repr(tune.user_ns["paused"])


def test_breakpoint_list_and_after_pause_output(tune):
    tune.run_line_magic("breakpoint", 'tune.train --after --when "lr > 0.15"')
    assert "lr > 0.15" in plain(tune.run_line_magic("breakpoint", "list"))
    tune.run_line_magic("workflow", "run tune")
    paused = tune.user_ns["bp_train"]
    assert [a.loop_params["lr"] for a in paused] == [0.2, 0.2]
    paused[0].output = {"score": 0.0, "n": 0}
    paused.resume()
    assert list(tune.run_line_magic("workflow", "results tune.train")["score"]) == [0.3, 0.5, 0.0, 1.0]


def test_paused_never_overwrites_a_user_variable(tmp_path, monkeypatch, capsys):
    from IPython.core.history import HistoryManager
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(HistoryManager, "enabled", False)
    sh = InteractiveShell()
    sh.user_ns["paused"] = "mine"
    sh.user_ns["bp_train"] = "mine too"
    sh.run_line_magic("load_ext", "maestro_nb")
    assert sh.user_ns["paused"] == "mine" and "maestro_paused" in sh.user_ns
    assert "`paused` is your own variable" in capsys.readouterr().err
    sh.run_line_magic("workflow", "db :memory:")
    sh.run_cell(CODE)
    sh.run_cell_magic("workflow", "tune", TUNE)
    assert "bp_tune_train" in plain(sh.run_line_magic("breakpoint", "tune.train"))
    assert sh.user_ns["bp_train"] == "mine too"
    with pytest.raises(UsageError, match="one of your variables"):
        sh.run_line_magic("breakpoint", "tune.best --as bp_train")
    sh.run_line_magic("unload_ext", "maestro_nb")
    assert sh.user_ns["paused"] == "mine" and "maestro_paused" not in sh.user_ns


@pytest.mark.parametrize("line, message", [
    ("run tnue", "unknown workflow 'tnue'; did you mean 'tune'?"),
    ("run tune n_rows", "give a param as NAME=VALUE"),
    ("run tune 1x=2", "'1x' is not a param name"),
    ("run tune n_row=3", "has no param 'n_row'; did you mean 'n_rows'?"),
    ("results tune.trian", "unknown step 'trian'; did you mean 'train'?"),
    ("results tune", "name a step as WORKFLOW.STEP"),
    ("bogus", "unknown subcommand %workflow bogus"),
    ("sttus", "did you mean %workflow status?"),
    ("run", "%workflow run: the following arguments are required: name"),
    ("run tune --bogus", "unrecognized arguments: --bogus"),
    ("status tune --instance 9", "unknown instance '9'"),
])
def test_workflow_usage_errors_are_one_line(tune, line, message):
    with pytest.raises(UsageError) as info:
        tune.run_line_magic("workflow", line)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("magic, line, message", [
    ("resume", "", "nothing is paused"),
    ("skip", "--output 3", "nothing is paused"),
    ("breakpoint", "tune", "name a step as WORKFLOW.STEP"),
    ("breakpoint", "tune.nope", "unknown step 'nope'"),
    ("breakpoint", 'tune.train --when "lrr > 1"', "did you mean 'lr'?"),
    ("breakpoint", "delete tune.best", "no breakpoint on tune.best"),
    ("breakpoint", "tune.train --as 9x", "identifier"),
])
def test_breakpoint_and_resume_usage_errors(tune, magic, line, message):
    with pytest.raises(UsageError, match=None) as info:
        tune.run_line_magic(magic, line)
    assert message in str(info.value)


def test_definition_error_quotes_its_yaml_line(shell):
    shell.run_line_magic("workflow", "db :memory:")
    with pytest.raises(UsageError) as info:
        shell.run_cell_magic("workflow", "bad", "steps:\n  - id: a\n    runn: f\n")
    assert str(info.value) == "line 3, column 5: unknown key 'runn' in step 'a'; did you mean 'run'?  [line 3: runn: f]"


def test_paused_param_errors_are_one_line(tune):
    tune.run_line_magic("breakpoint", "tune.load")
    tune.run_line_magic("workflow", "run tune")
    attempt = tune.user_ns["bp_load"][0]
    with pytest.raises(UsageError, match="cannot take a builtins.object"):
        attempt.params["n_rows"] = object()
    with pytest.raises(UsageError, match="unknown param 'nrows'; did you mean 'n_rows'"):
        attempt.params["nrows"] = 3
    with pytest.raises(UsageError, match="paused before its step ran"):
        attempt.output = 1
    assert attempt.params["n_rows"] == 10
    attempt.stop()
    with pytest.raises(UsageError, match="is not paused"):
        attempt.resume()


def test_reprs_are_deterministic(tune):
    tune.run_line_magic("breakpoint", "tune.train")
    tune.run_line_magic("workflow", "run tune")
    paused = tune.user_ns["paused"]
    text = repr(paused) + repr(paused[0]) + paused._repr_html_() + paused[0]._repr_html_()
    assert "0x" not in text and "paused: 4 paused attempts" in text
    assert repr(paused[0]).splitlines()[0] == "tune#1 train[0]  attempt 1  paused before  (bp_train)"
    status = tune.run_line_magic("workflow", "status")
    assert plain(status).splitlines() == [
        "instances in :memory:", "  instance  version  run  status  paused", "  tune#1    1        1    paused  4"]


def test_overrides_parse_json_or_text(tune):
    tune.run_cell_magic("workflow", "echo", "params: {x: 0}\nsteps:\n  - id: s\n    run: echo\n")
    tune.run_cell("def echo(x):\n    return {'x': x}")
    for given, expected in [("1.5", 1.5), ("[1,2]", [1, 2]), ("hello", "hello"), ('"7"', 7), ("'\"7\"'", "7"),
                            ("true", True)]:
        tune.run_line_magic("workflow", f"run echo x={given}")
        assert tune.run_line_magic("workflow", "results echo.s")["x"][0] == expected


def test_db_fresh_starts_empty_and_a_fresh_shell_gets_a_fresh_engine(shell, tmp_path):
    shell.run_line_magic("workflow", "db state.duckdb")
    shell.run_cell(CODE)
    shell.run_cell_magic("workflow", "tune", TUNE)
    engine = session_for(shell).engine
    assert "1 workflow" in plain(shell.run_line_magic("workflow", "db"))
    assert "0 workflows" in plain(shell.run_line_magic("workflow", "db state.duckdb --fresh"))
    assert session_for(shell).engine is not engine
    assert os.path.exists(tmp_path / "state.duckdb")
    from IPython.core.interactiveshell import InteractiveShell

    other = InteractiveShell()
    assert session_for(other) is not session_for(shell)


def test_help_is_generated_from_the_arguments(shell):
    doc = shell.find_line_magic("workflow").__doc__
    for word in ("%workflow run", "%workflow restart", "--from STEP", "%workflow db", "--fresh", "%%workflow"):
        assert word in doc
    assert "--keep-paused" in shell.find_line_magic("breakpoint").__doc__
    assert "--all" in shell.find_line_magic("resume").__doc__


def test_background_run_lands_in_paused(tune):
    tune.run_line_magic("breakpoint", "tune.train --iteration 1")
    assert tune.run_line_magic("workflow", "run tune --background") is None
    engine = session_for(tune).engine
    assert engine.wait(10)
    assert [a.iteration for a in tune.user_ns["paused"]] == ["1"]
    tune.run_line_magic("resume", "")
    assert engine.status_word(engine.instance("tune")) == "SUCCEEDED"


def test_breakpoint_variable_cannot_take_the_name_of_the_paused_collection(tune):
    for name in ("paused", "maestro_paused"):
        with pytest.raises(UsageError, match="holds every paused attempt"):
            tune.run_line_magic("breakpoint", f"tune.train --as {name}")
    assert tune.run_line_magic("breakpoint", "list") is not None
    assert session_for(tune).engine.breakpoints() == []


def test_a_state_file_that_cannot_be_opened_leaves_the_current_one_in_use(tune):
    tune.run_line_magic("workflow", "run tune")
    with pytest.raises(UsageError, match="folder does not exist"):
        tune.run_line_magic("workflow", "db /no/such/folder/state.duckdb")
    assert "tune#1" in plain(tune.run_line_magic("workflow", "status"))


def test_run_summary_shows_the_first_paused_attempts_and_counts_the_rest(shell):
    shell.run_line_magic("workflow", "db :memory:")
    shell.run_cell("def f(i):\n    return i")
    shell.run_cell_magic("workflow", "wide", "steps:\n  - id: s\n    foreach:\n      i: ${range(50)}\n    run: f\n")
    shell.run_line_magic("breakpoint", "wide.s")
    view = shell.run_line_magic("workflow", "run wide")
    text = plain(view)
    assert "paused (50):" in text and "... and 30 more" in text
    assert text.count("wide#1 s[") == 20
    assert "... and 30 more" in view._repr_mimebundle_()["text/html"]


def test_recover_runs_on_what_a_crashed_kernel_left(shell, tmp_path):
    from maestro_nb.engine.engine import Engine

    path = str(tmp_path / "crashed.duckdb")
    calls = []
    crashed = Engine(path, {"f": lambda i: calls.append(i) or i})
    crashed.define("w", {"steps": [{"id": "s", "foreach": {"i": [0, 1, 2]}, "run": "f"}]})
    crashed.set_breakpoint("w.s", iteration=1)
    crashed.run("w")
    crashed.delete_breakpoint("w.s", keep_paused=True)
    crashed.close()  # iteration 1 is paused; the file is as a crash after the pause would leave it
    shell.run_line_magic("workflow", f"db {path}")
    recovered = plain(shell.run_line_magic("workflow", "recover"))
    assert recovered.startswith("w#1 (version 1, run 1): paused") and calls == [0, 2]
    shell.user_ns["f"] = lambda i: calls.append(i) or i
    shell.run_line_magic("resume", "w.s")
    assert calls == [0, 2, 1]
    assert "w#1 (version 1, run 1): SUCCEEDED" in plain(shell.run_line_magic("workflow", "status w"))


def test_a_paused_sub_workflow_shows_under_the_instance_it_runs_for(shell):
    shell.run_line_magic("workflow", "db :memory:")
    shell.run_cell("def f(x):\n    return x * 2")
    shell.run_cell_magic("workflow", "child", "params: {x: 1}\nsteps:\n  - id: f\n    run: f\n")
    shell.run_cell_magic("workflow", "parent", "steps:\n  - id: sub\n    workflow: child\n    params: {x: 3}\n")
    shell.run_line_magic("breakpoint", "child.f")
    summary = plain(shell.run_line_magic("workflow", "run parent"))
    assert summary.startswith("parent#1 (version 1, run 1): paused") and "child#1 f" in summary
    table = plain(shell.run_line_magic("workflow", "status"))
    assert "parent#1" in table and "no instance yet" not in table
    assert [line.split()[-1] for line in table.splitlines() if "parent#1" in line] == ["1"]


def test_after_restart_from_a_step_its_downstream_shows_not_started(tune):
    tune.run_line_magic("workflow", "run tune")
    tune.run_line_magic("breakpoint", "tune.train --iteration 1")
    view = plain(tune.run_line_magic("workflow", "restart tune --from train"))
    assert view.splitlines()[:4] == ["tune#1 (version 1, run 2): paused", "  load   SUCCEEDED",
                                     "  train  4 iterations: 1 PAUSED, 3 SUCCEEDED", "  best   not started"]
    view = plain(tune.run_line_magic("breakpoint", "delete tune.train"))
    assert view.splitlines()[-1] == "  best   SUCCEEDED"


def test_a_step_line_names_iterations_a_restart_will_redo_not_started():
    from maestro_nb.magics.display import StepLine

    assert StepLine("fit", 0, "run fit", {"SUCCEEDED": 3, "NOT_CREATED": 1}, True).text == \
        "4 iterations: 3 SUCCEEDED, 1 not started"
    assert StepLine("report", 0, "run report", {"NOT_CREATED": 1}, False).text == "not started"
