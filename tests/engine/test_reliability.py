"""Regression tests for issue 9: inputs that once wedged the engine, corrupted the file or ran code."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import MaestroError
from maestro_nb.store.values import NotPersisted


def sweep(engine: Engine, foreach: str) -> None:
    engine.define("w", f"steps:\n  - id: f\n    foreach:\n      x: {foreach}\n    run: f\n")


# --- defect 1: a value that is not JSON-native in a foreach range ------------------------------
def test_numpy_loop_values_are_stored_as_numbers(engine, namespace, db_path):
    namespace["grid"] = list(np.arange(3))
    namespace["f"] = lambda x: x * 2
    engine.define("w", {"params": {"n": 3}, "steps": [
        {"id": "g", "run": "grid"},
        {"id": "f", "after": ["g"], "foreach": {"x": "${g}"}, "run": "f"},
    ]})
    namespace["grid"] = lambda: list(np.arange(3))
    assert engine.run("w").status.value == "SUCCEEDED"
    assert engine.sql("SELECT count(*) AS n FROM attempts").n[0] == 4
    engine.close()
    with Engine(db_path, namespace) as again:
        frame = again.results("w", "f")
        assert frame.x.tolist() == [0, 1, 2] and frame.output.tolist() == [0, 2, 4]


@pytest.mark.parametrize("foreach, problem", [
    ("${[range(3)]}", "a range"),
    ("${[{1, 2}]}", "a set"),
    ("'${[{1: 2}]}'", "a dict with the key 1"),
])
def test_a_loop_value_that_cannot_be_stored_fails_its_attempt_and_the_engine_keeps_working(
        engine, namespace, db_path, foreach, problem):
    namespace["f"] = lambda x: x
    sweep(engine, foreach)
    instance = engine.run("w")
    assert instance.status.value == "FAILED"
    error = engine.sql("SELECT error FROM attempts WHERE step_id = 'f'").error[0]
    assert "loop param 'x'" in error and problem in error and "cannot be stored" in error
    # The journal is not poisoned: everything after it still works.
    engine.define("ok", "steps:\n  - id: a\n    noop: true\n")
    assert engine.run("ok").status.value == "SUCCEEDED"
    assert engine.sql("SELECT count(*) AS n FROM instances").n[0] == 2
    engine.close()
    with Engine(db_path, namespace) as again:
        assert again.sql("SELECT status FROM instances ORDER BY workflow").status.tolist() == ["SUCCEEDED", "FAILED"]


def test_a_step_output_with_unpaired_surrogates_or_int_keys_never_stops_a_flush(engine, namespace, db_path):
    namespace["odd"] = lambda: {"text": "\ud800", 1: "one"}
    namespace["boom"] = lambda: (_ for _ in ()).throw(ValueError("bad \udcff byte"))
    engine.define("w", "steps:\n  - id: a\n    run: odd\n  - id: b\n    after: [a]\n    run: boom\n")
    assert engine.run("w").status.value == "FAILED"
    rows = engine.sql("SELECT step_id, status, output, error FROM attempts ORDER BY step_id")
    assert rows.status.tolist() == ["SUCCEEDED", "USER_FAILED"]
    assert "\\udcff" in rows.error[1]
    engine.close()
    with Engine(db_path, namespace) as again:
        again.instance("w", 1)
        output = again.codec.decode(again.sql("SELECT output FROM attempts WHERE step_id = 'a'").output[0])
        assert isinstance(output, NotPersisted)  # kept in memory only, and says so


# --- defect 3: ordinary JSON impersonating the codec's marker ----------------------------------
IMPOSTORS = [
    {"$maestro": "memory", "type": "int"},
    {"$maestro": "table", "name": "value_1", "type": "pandas.core.frame.DataFrame"},
    {"$maestro": "pickle", "data": "gASVCAAAAAAAAAB9lEsBSwJzLg==", "type": "dict"},
    {"$maestro": "dict", "items": [["a", 1]]},
    [{"nested": {"$maestro": "memory", "type": "x"}}],
]


@pytest.mark.parametrize("value", IMPOSTORS, ids=["memory", "table", "pickle", "escape", "nested"])
def test_user_json_with_the_marker_key_reads_back_as_itself(db_path, namespace, value):
    import pandas as pd

    namespace["make"] = lambda: value
    namespace["frame"] = lambda: pd.DataFrame({"a": [1]})
    namespace["use"] = lambda make: make
    with Engine(db_path, namespace, pickle_values=True) as engine:
        engine.define("w", "steps:\n  - id: t\n    run: frame\n  - id: make\n    after: [t]\n    run: make\n")
        engine.define("p", "params:\n  v: 0\nsteps:\n  - id: a\n    noop: true\n")
        assert engine.run("w").status.value == "SUCCEEDED"
        engine.run("p", {"v": value})
    calls = []
    namespace["make"] = lambda: calls.append(1) or "ran again"
    with Engine(db_path, namespace, pickle_values=True) as engine:
        stored = engine.sql("SELECT output FROM iterations WHERE step_id = 'make'").output[0]
        assert engine.codec.decode(stored) == value
        assert engine.instance("p", 1).params == {"v": value}
        engine.restart("w", 1)  # a kept success is not re-run: its output was not taken for "lost"
        assert calls == []


# --- guard: whatever the input, a failed write keeps nothing half-done ------------------------
def test_a_value_that_cannot_be_stored_as_a_run_param_is_refused_with_its_reason(engine):
    engine.define("p", "params:\n  v: 0\nsteps:\n  - id: a\n    noop: true\n")
    for value, reason in [({1: 2}, "the key 1"), ({1, 2}, "a set"), ("\ud800", "surrogate")]:
        with pytest.raises(MaestroError, match=reason):
            engine.run("p", {"v": value})
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(MaestroError, match="nested more than 100 levels"):
        engine.run("p", {"v": deep})
    assert engine.sql("SELECT count(*) AS n FROM instances").n[0] == 0


# --- defect 2: a huge foreach product ----------------------------------------------------------
HUGE = "steps:\n  - id: a\n    foreach:\n      x: ${range(n)}\n      y: ${range(n)}\n    run: f\n"


def test_a_huge_foreach_product_fails_its_step_before_anything_is_created(engine, namespace, db_path):
    namespace["f"] = lambda x, y: x
    engine.define("w", "params: {n: 1000000}\n" + HUGE)
    instance = engine.run("w")
    assert instance.status.value == "FAILED"
    rows = engine.sql("SELECT iteration, status, error FROM attempts")
    assert rows.status.tolist() == ["FATALLY_FAILED"] and rows.iteration.tolist() == [""]
    assert rows.error[0] == ("foreach: 1,000,000,000,000 iterations exceed the limit of 2,000,000 per foreach "
                             "(raise it with max_iterations: N on the step)")
    engine.close()
    with Engine(db_path, namespace) as again:
        assert again.recovery_report == []
        assert again.run("w", {"n": 2}).status.value == "SUCCEEDED"


def test_max_iterations_raises_or_lowers_the_limit_per_step(engine, namespace):
    namespace["f"] = lambda x, y: x
    engine.define("w", "params: {n: 2}\n" + HUGE.replace("    run: f\n", "    max_iterations: 4\n    run: f\n"))
    assert engine.run("w").status.value == "SUCCEEDED"
    assert "5 exceed" not in engine.sql("SELECT error FROM attempts").error.fillna("").str.cat()
    failed = engine.run("w", {"n": 3})
    assert failed.status.value == "FAILED"
    assert "9 iterations exceed the limit of 4 per foreach" in engine.sql(
        "SELECT error FROM attempts WHERE instance_id = 2").error[0]


def test_opening_a_file_never_expands_a_huge_product(db_path, namespace):
    """An unfinished instance whose foreach would now expand to 10^12 iterations (as a file from
    before the limit could hold) opens at once; recovering it fails the step, not the open."""
    namespace["f"] = lambda x, y: x
    with Engine(db_path, namespace) as engine:
        engine.define("w", "params: {n: 2}\nsteps:\n  - id: gate\n    noop: true\n  - id: a\n    after: [gate]\n"
                      "    foreach:\n      x: ${range(n)}\n      y: ${range(n)}\n    run: f\n")
        engine.set_breakpoint("w.gate")
        engine.run("w")
        engine.store.rows("UPDATE instance_log SET params = '{\"n\": 1000000}'")
    with Engine(db_path, namespace) as engine:
        assert engine.instance("w", 1).status.value == "IN_PROGRESS"
        engine.resume(engine.paused())
        assert engine.instance("w", 1).status.value == "FAILED"
        assert "exceed the limit of 2,000,000" in engine.sql(
            "SELECT error FROM attempts WHERE step_id = 'a'").error[0]


# --- old files: what a rule made since refuses still opens -------------------------------------
def test_a_file_whose_unfinished_instance_breaks_a_newer_rule_still_opens(db_path, namespace):
    """A definition stored by an older version (an unquoted date, refused now) and a breakpoint
    condition longer than the limit: the file opens, says what it left out, and works."""
    namespace["f"] = lambda d: d
    with Engine(db_path, namespace) as engine:
        engine.define("old", "params:\n  d: '2020-01-02'\nsteps:\n  - id: a\n    run: f\n")
        engine.set_breakpoint("old.a", when="d != 'x'")
        engine.run("old")
        assert len(engine.paused()) == 1
        engine.store.rows("UPDATE workflow_versions SET source = replace(source, ?, ?)", ["'2020-01-02'", "2020-01-02"])
        engine.store.rows("UPDATE breakpoint_log SET condition = ? ", [" or ".join(["d != 'x'"] * 200)])
    with Engine(db_path, namespace) as engine:
        report = " | ".join(engine.recovery_report)
        assert "old#1 cannot be recovered" in report and "a date" in report
        assert "breakpoint 1 on old.a is left out" in report and "1,000 characters" in report
        engine.define("new", "steps:\n  - id: a\n    noop: true\n")
        assert engine.run("new").status.value == "SUCCEEDED"
