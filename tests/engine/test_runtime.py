"""The runtime through the Engine API: step kinds, foreach, binding, branches, retries,
failure modes, the status table, versions, results and the batched write path."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from textwrap import dedent
from typing import Any

import pandas as pd
import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.engine.executors import ThreadExecutor
from maestro_nb.models.status import ALLOWED_TRANSITIONS, InstanceStatus, StepStatus


def define(engine: Engine, name: str, yaml: str):
    return engine.define(name, dedent(yaml))


def attempts(engine: Engine, workflow: str, step: str | None = None) -> list[dict[str, Any]]:
    """Every attempt row of a workflow (optionally one step), in iteration and attempt order."""
    where = "workflow = ?" + (" AND step_id = ?" if step else "")
    frame = engine.sql(
        f"SELECT instance_id, run_id, step_id, iteration, attempt, status, output, error, error_type, traceback, transitions"
        f" FROM attempts WHERE {where} ORDER BY instance_id, run_id, step_id, iteration, attempt",
        [workflow] + ([step] if step else []),
    )
    return frame.to_dict("records")


def statuses(engine: Engine, workflow: str) -> dict[str, str]:
    """step id -> status of its latest attempt, for steps without iterations."""
    frame = engine.sql("SELECT step_id, status FROM iterations WHERE workflow = ?", [workflow])
    return dict(zip(frame.step_id, frame.status))


def assert_transitions_allowed(engine: Engine) -> int:
    """Every stored attempt's transitions follow ALLOWED_TRANSITIONS; returns how many were checked."""
    frame = engine.sql("SELECT step_id, iteration, attempt, transitions FROM attempts")
    checked = 0
    for row in frame.itertuples():
        history = [StepStatus(s) for s in row.transitions]
        if row.attempt == 0:  # what a restart marked as to be redone in its new run
            assert history == [StepStatus.NOT_CREATED], row
            continue
        assert history[0] is StepStatus.CREATED, row
        for old, new in zip(history, history[1:]):
            assert new in ALLOWED_TRANSITIONS[old], f"{row.step_id}[{row.iteration}] #{row.attempt}: {old} -> {new}"
            checked += 1
    return checked


# --- step kinds ------------------------------------------------------------------------------
def test_run_looks_up_the_callable_when_the_attempt_starts(engine, namespace):
    namespace["compute"] = lambda: "old"
    define(engine, "w", """
        steps:
          - id: a
            run: compute
    """)
    first = engine.run("w")
    namespace["compute"] = lambda: "new"
    second = engine.run("w")
    assert (first.status, second.status) == (InstanceStatus.SUCCEEDED, InstanceStatus.SUCCEEDED)
    rows = attempts(engine, "w")
    assert [(r["instance_id"], json.loads(r["output"])) for r in rows] == [(1, "old"), (2, "new")]


def test_sql_step_returns_rows_as_dicts_with_bound_params(engine, namespace):
    seen = {}
    namespace["consume"] = lambda rows, made: seen.update(rows=rows, made=made) or len(rows)
    define(engine, "w", """
        params: {n: 3, label: x}
        steps:
          - id: made
            sql: CREATE OR REPLACE TABLE user_numbers AS SELECT range AS i FROM range(5)
          - id: rows
            after: [made]
            sql: SELECT i, $label AS label FROM user_numbers WHERE i < $n ORDER BY i
          - id: use
            after: [rows]
            run: consume
    """)
    inst = engine.run("w", {"n": 2})
    assert inst.status is InstanceStatus.SUCCEEDED
    assert seen == {"rows": [{"i": 0, "label": "x"}, {"i": 1, "label": "x"}], "made": None}
    # The statement ran against the engine's own DuckDB file.
    assert engine.sql("SELECT count(*) AS n FROM user_numbers").n[0] == 5


def test_noop_and_sleep_steps_succeed(engine):
    define(engine, "w", """
        steps:
          - id: nothing
            noop: true
          - id: nap
            after: [nothing]
            sleep: 0.01
    """)
    inst = engine.run("w")
    assert inst.status is InstanceStatus.SUCCEEDED
    assert statuses(engine, "w") == {"nothing": "SUCCEEDED", "nap": "SUCCEEDED"}


def test_sub_workflow_runs_a_child_instance_whose_sink_outputs_are_the_step_output(engine, namespace):
    got = []
    namespace["double"] = lambda k: k * 2
    namespace["use"] = lambda sub: got.append(sub) or "used"
    define(engine, "child", """
        params: {k: 1}
        steps:
          - id: a
            run: double
          - id: b
            after: [a]
            sql: SELECT $k AS k
    """)
    define(engine, "parent", """
        steps:
          - id: sub
            workflow: child
            params: {k: 5}
          - id: use
            after: [sub]
            run: use
    """)
    inst = engine.run("parent")
    assert got == [{"b": [{"k": 5}]}]
    assert inst.status is InstanceStatus.SUCCEEDED
    children = engine.sql("SELECT workflow, instance_id, status, parent, params FROM instances WHERE workflow = 'child'")
    assert children.to_dict("records") == [
        {"workflow": "child", "instance_id": 1, "status": "SUCCEEDED", "parent": "parent#1/sub[]", "params": '{"k": 5}'}
    ]
    assert statuses(engine, "child") == {"a": "SUCCEEDED", "b": "SUCCEEDED"}


# --- foreach ---------------------------------------------------------------------------------
def test_foreach_over_a_list_a_range_and_a_list_of_dicts(engine, namespace):
    namespace["echo"] = lambda **kw: kw
    define(engine, "w", """
        params: {n: 4}
        steps:
          - id: listed
            foreach: {x: [a, b, c]}
            run: echo
          - id: ranged
            foreach:
              i: ${range(n)}
            run: echo
          - id: dicts
            foreach:
              - {lr: 0.1, depth: 3}
              - {lr: 0.2, depth: 5}
            run: echo
    """)
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    outputs = lambda step: [json.loads(r["output"]) for r in attempts(engine, "w", step)]  # noqa: E731
    assert outputs("listed") == [{"x": "a"}, {"x": "b"}, {"x": "c"}]
    assert outputs("ranged") == [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 3}]
    assert outputs("dicts") == [{"lr": 0.1, "depth": 3}, {"lr": 0.2, "depth": 5}]


def test_cross_product_iterates_with_the_first_loop_outermost(engine, namespace):
    order = []
    namespace["f"] = lambda a, b: order.append((a, b)) or f"{a}{b}"
    namespace["gather"] = lambda f: f
    define(engine, "w", """
        steps:
          - id: f
            foreach:
              a: [1, 2]
              b: [x, y, z]
            run: f
          - id: gather
            after: [f]
            run: gather
    """)
    engine.run("w")
    expected = [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]
    assert order == expected
    frame = engine.results("w", "f")
    assert list(zip(frame.a, frame.b)) == expected
    assert list(frame.iteration) == ["0", "1", "2", "3", "4", "5"]
    assert json.loads(attempts(engine, "w", "gather")[0]["output"]) == ["1x", "1y", "1z", "2x", "2y", "2z"]


def test_nested_foreach_inner_loop_depends_on_the_outer_one(engine, namespace):
    namespace["mul"] = lambda i, x: i * x
    define(engine, "w", """
        steps:
          - id: outer
            foreach: {i: [1, 2, 3]}
            steps:
              - id: inner
                foreach:
                  x: ${range(1, i + 1)}
                run: mul
    """)
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    frame = engine.results("w", "inner")
    assert list(frame.iteration) == ["0/0", "1/0", "1/1", "2/0", "2/1", "2/2"]
    assert list(zip(frame.i, frame.x, frame.output)) == [
        (1, 1, 1), (2, 1, 2), (2, 2, 4), (3, 1, 3), (3, 2, 6), (3, 3, 9),
    ]


def test_concurrency_limit_is_respected_with_the_threads_executor(db_path, namespace):
    changed = threading.Condition()
    state = {"now": 0, "max": 0, "calls": 0}

    def work(x):
        with changed:
            state["now"] += 1
            state["calls"] += 1
            state["max"] = max(state["max"], state["now"])
            changed.notify_all()
            # Stay running until the limit is reached (or every iteration has started): on a busy
            # machine a sleep could end before the next attempt is dispatched.
            changed.wait_for(lambda: state["now"] >= 3 or state["calls"] == 12, timeout=60)
            state["now"] -= 1
        return x

    namespace["work"] = work
    # More threads than the limit, so that the limit is what binds (not the CPU count).
    with Engine(db_path, namespace, executor=ThreadExecutor(workers=8)) as engine:
        define(engine, "w", """
            steps:
              - id: f
                foreach:
                  x: ${range(12)}
                concurrency: 3
                run: work
        """)
        assert engine.run("w").status is InstanceStatus.SUCCEEDED
    assert state["calls"] == 12
    assert state["max"] == 3


def test_threads_executor_by_name_runs_a_foreach(db_path, namespace):
    namespace["f"] = lambda x: threading.current_thread().name
    with Engine(db_path, namespace, executor="threads") as engine:
        define(engine, "w", """
            steps:
              - id: f
                foreach:
                  x: ${range(6)}
                concurrency: 2
                run: f
        """)
        assert engine.run("w").status is InstanceStatus.SUCCEEDED
        names = engine.results("w", "f").output.tolist()
    assert len(names) == 6 and all(n.startswith("maestro-step") for n in names)


def test_iteration_outputs_reach_the_downstream_step_in_iteration_order(db_path, namespace):
    def slow_first(x):
        time.sleep(0.01 * (5 - x))  # later iterations finish first
        return x * 10

    got = []
    namespace["f"] = slow_first
    namespace["collect"] = lambda f: got.append(f)
    with Engine(db_path, namespace, executor=ThreadExecutor(workers=5)) as engine:
        define(engine, "w", """
            steps:
              - id: f
                foreach:
                  x: ${range(5)}
                run: f
              - id: collect
                after: [f]
                run: collect
        """)
        assert engine.run("w").status is InstanceStatus.SUCCEEDED
    assert got == [[0, 10, 20, 30, 40]]


# --- binding ---------------------------------------------------------------------------------
def test_binding_precedence_step_then_loop_then_upstream_then_workflow(engine, namespace):
    namespace["up"] = lambda: "upstream"
    namespace["f"] = lambda p, loop, u, w: {"p": p, "loop": loop, "u": u, "w": w}
    define(engine, "w", """
        params: {p: workflow, loop: workflow, u: workflow, w: workflow}
        steps:
          - id: p
            run: up
          - id: loop
            run: up
          - id: u
            run: up
          - id: s
            after: [p, loop, u]
            foreach:
              p: [loop-p]
              loop: [loop-loop]
            params:
              p: step
            run: f
    """)
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    [row] = attempts(engine, "w", "s")
    assert json.loads(row["output"]) == {"p": "step", "loop": "loop-loop", "u": "upstream", "w": "workflow"}


def test_a_missing_argument_fails_fatally_naming_it_and_where_it_looked(engine, namespace):
    calls = []
    namespace["f"] = lambda present, absent: calls.append(1)
    define(engine, "w", """
        params: {present: 1}
        steps:
          - id: s
            run: f
            retry: {limit: 3}
    """)
    inst = engine.run("w")
    assert inst.status is InstanceStatus.FAILED
    assert calls == []
    [row] = attempts(engine, "w", "s")  # fatal: not retried
    assert row["status"] == "FATALLY_FAILED"
    assert "'absent'" in row["error"]
    for place in ("step params", "loop params", "upstream outputs", "workflow params (present)"):
        assert place in row["error"]
    assert "\n" not in row["error"]


# --- branches and joins ----------------------------------------------------------------------
def test_false_condition_skips_and_unsatisfied_propagates_while_a_join_still_runs(engine, namespace):
    ran = []
    for name in ("a", "b", "c", "d", "e", "join"):
        namespace[name] = (lambda n: lambda: ran.append(n) or n)(name)
    define(engine, "w", """
        params: {go: false}
        steps:
          - id: a
            run: a
          - id: b
            after: [a]
            if: ${go}
            run: b
          - id: c
            after: [b]
            run: c
          - id: d
            after: [c]
            run: d
          - id: e
            after: [a]
            run: e
          - id: join
            after: [b, e]
            run: join
    """)
    inst = engine.run("w")
    assert inst.status is InstanceStatus.SUCCEEDED
    assert ran == ["a", "e", "join"]
    assert statuses(engine, "w") == {
        "a": "SUCCEEDED", "b": "SKIPPED", "c": "UNSATISFIED", "d": "UNSATISFIED",
        "e": "SUCCEEDED", "join": "SUCCEEDED",
    }


def test_true_condition_runs_the_step(engine, namespace):
    namespace["f"] = lambda: "ran"
    define(engine, "w", """
        params: {go: 1}
        steps:
          - id: b
            if: ${go > 0}
            run: f
    """)
    engine.run("w")
    assert statuses(engine, "w") == {"b": "SUCCEEDED"}


# --- retries and failure modes ---------------------------------------------------------------
def test_retry_policy_fails_twice_then_succeeds_on_attempt_three(engine, namespace):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(f"boom {len(calls)}")
        return "ok"

    namespace["flaky"] = flaky
    define(engine, "w", """
        steps:
          - id: s
            run: flaky
            retry: {limit: 2}
    """)
    inst = engine.run("w")
    assert inst.status is InstanceStatus.SUCCEEDED
    rows = attempts(engine, "w", "s")
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "USER_FAILED"), (2, "USER_FAILED"), (3, "SUCCEEDED")]
    assert (rows[0]["error_type"], rows[0]["error"]) == ("RuntimeError", "boom 1")
    assert rows[0]["traceback"].startswith("Traceback (most recent call last):")
    assert rows[0]["traceback"].endswith("RuntimeError: boom 1") and "in flaky" in rows[0]["traceback"]
    assert engine.results("w", "s").attempt.tolist() == [3]


def test_retry_limit_exhausted_fails_the_instance(engine, namespace):
    namespace["bad"] = lambda: 1 / 0
    define(engine, "w", """
        steps:
          - id: s
            run: bad
            retry: 1
    """)
    assert engine.run("w").status is InstanceStatus.FAILED
    assert [r["status"] for r in attempts(engine, "w", "s")] == ["USER_FAILED", "USER_FAILED"]


def _failure_workflow(engine: Engine, namespace: dict, mode: str) -> list[str]:
    ran: list[str] = []

    def make(name):
        def fn():
            ran.append(name)
            if name == "bad":
                raise ValueError("bad step")
            return name
        return fn

    for name in ("bad", "other", "other2", "after_bad"):
        namespace[name] = make(name)
    define(engine, "w", f"""
        steps:
          - id: bad
            run: bad
            failure_mode: {mode}
          - id: other
            run: other
          - id: other2
            after: [other]
            run: other2
          - id: after_bad
            after: [bad]
            run: after_bad
    """)
    return ran


def test_fail_immediately_fails_the_instance_and_starts_nothing_else(engine, namespace):
    ran = _failure_workflow(engine, namespace, "fail_immediately")
    inst = engine.run("w")
    assert inst.status is InstanceStatus.FAILED
    assert ran == ["bad"]
    found = statuses(engine, "w")
    assert found["bad"] == "USER_FAILED"
    assert "SUCCEEDED" not in found.values()
    assert set(found) <= {"bad", "other"}
    assert found.get("other", "STOPPED") == "STOPPED"


def test_ignore_completes_with_error_and_successors_run(engine, namespace):
    ran = _failure_workflow(engine, namespace, "ignore")
    inst = engine.run("w")
    assert inst.status is InstanceStatus.SUCCEEDED
    assert sorted(ran) == ["after_bad", "bad", "other", "other2"]
    assert inst.root.nodes["bad"].status is StepStatus.COMPLETED_WITH_ERROR
    assert statuses(engine, "w")["after_bad"] == "SUCCEEDED"


def test_fail_after_running_lets_other_branches_finish(engine, namespace):
    ran = _failure_workflow(engine, namespace, "fail_after_running")
    inst = engine.run("w")
    assert inst.status is InstanceStatus.FAILED
    assert sorted(ran) == ["bad", "other", "other2"]
    found = statuses(engine, "w")
    assert found["other2"] == "SUCCEEDED"
    assert found["bad"] == "USER_FAILED"
    assert "after_bad" not in found or found["after_bad"] not in ("SUCCEEDED", "RUNNING")


def test_foreach_with_ignore_completes_with_error_and_keeps_the_other_iterations(engine, namespace):
    def f(x):
        if x == 2:
            raise ValueError("two")
        return x

    got = []
    namespace["f"] = f
    namespace["g"] = lambda f: got.append(f)
    define(engine, "w", """
        steps:
          - id: f
            foreach:
              x: ${range(4)}
            run: f
            failure_mode: ignore
          - id: g
            after: [f]
            run: g
    """)
    inst = engine.run("w")
    assert inst.status is InstanceStatus.SUCCEEDED
    assert got == [[0, 1, None, 3]]
    assert list(engine.results("w", "f").status) == ["SUCCEEDED", "SUCCEEDED", "USER_FAILED", "SUCCEEDED"]


# --- the status table ------------------------------------------------------------------------
def test_stored_transitions_never_leave_the_status_table(engine, namespace):
    state = {"n": 0}

    def flaky(x):
        state["n"] += 1
        if x == 1 and state["n"] < 4:
            raise RuntimeError("again")
        return x

    namespace["flaky"] = flaky
    namespace["missing_arg"] = lambda nope: nope
    namespace["bad"] = lambda: 1 / 0
    define(engine, "w", """
        params: {go: false}
        steps:
          - id: a
            foreach: {x: [0, 1, 2]}
            run: flaky
            retry: 3
          - id: skipped
            after: [a]
            if: ${go}
            noop: true
          - id: unsat
            after: [skipped]
            noop: true
          - id: fatal
            after: [a]
            run: missing_arg
            failure_mode: ignore
          - id: failing
            after: [a]
            run: bad
            failure_mode: fail_after_running
          - id: never
            after: [failing]
            noop: true
    """)
    engine.run("w")
    engine.run("w", {"go": True})
    engine.restart("w", 2)
    assert assert_transitions_allowed(engine) > 40
    found = set(engine.sql("SELECT DISTINCT status FROM attempts").status)
    assert {"SUCCEEDED", "USER_FAILED", "FATALLY_FAILED", "SKIPPED", "UNSATISFIED"} <= found


# --- versions --------------------------------------------------------------------------------
def test_versions_unchanged_body_keeps_changed_body_bumps_and_instances_keep_theirs(engine, namespace):
    ran = []
    namespace["one"] = lambda: ran.append("one") or 1
    namespace["two"] = lambda: ran.append("two") or 2
    body1 = """
        steps:
          - id: s
            run: one
    """
    first = define(engine, "w", body1)
    again = define(engine, "w", body1)
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created) == (1, False)
    namespace["gate"] = lambda: 1 / 0
    define(engine, "v", """
        steps:
          - id: s
            run: one
          - id: gate
            after: [s]
            run: gate
    """)
    old = engine.run("v")
    assert old.status is InstanceStatus.FAILED
    changed = define(engine, "v", """
        steps:
          - id: s
            run: two
          - id: gate
            after: [s]
            run: gate
    """)
    assert (changed.version, changed.created) == (2, True)
    namespace["gate"] = lambda: "open"
    again = engine.restart("v", old.instance_id, from_step="s")
    assert again.version == 1 and again.status is InstanceStatus.SUCCEEDED
    assert ran == ["one", "one"]  # the restart ran version 1's code
    new = engine.run("v")
    assert new.version == 2 and ran[-1] == "two"
    versions = engine.sql("SELECT instance_id, version FROM instances WHERE workflow = 'v' ORDER BY 1")
    assert versions.values.tolist() == [[1, 1], [2, 2]]
    assert engine.sql("SELECT latest_version, versions FROM workflows WHERE workflow = 'v'").values.tolist() == [[2, 2]]


# --- results ---------------------------------------------------------------------------------
def test_results_one_row_per_iteration_with_loop_params_flattened_output_status_attempt(engine, namespace):
    tries = {}

    def train(lr, depth):
        tries[(lr, depth)] = tries.get((lr, depth), 0) + 1
        if (lr, depth) == (0.2, 5) and tries[(lr, depth)] == 1:
            raise RuntimeError("flaky")
        return {"score": lr * depth, "meta": {"depth2": depth * 2}}

    namespace["train"] = train
    define(engine, "w", """
        steps:
          - id: train
            foreach:
              lr: [0.1, 0.2]
              depth: [3, 5]
            run: train
            retry: 1
    """)
    engine.run("w")
    frame = engine.results("w", "train")
    assert list(frame.columns) == ["iteration", "lr", "depth", "status", "attempt", "score", "meta.depth2"]
    assert frame.to_dict("records") == [
        {"iteration": "0", "lr": 0.1, "depth": 3, "status": "SUCCEEDED", "attempt": 1, "score": pytest.approx(0.3),
         "meta.depth2": 6},
        {"iteration": "1", "lr": 0.1, "depth": 5, "status": "SUCCEEDED", "attempt": 1, "score": pytest.approx(0.5),
         "meta.depth2": 10},
        {"iteration": "2", "lr": 0.2, "depth": 3, "status": "SUCCEEDED", "attempt": 1, "score": pytest.approx(0.6),
         "meta.depth2": 6},
        {"iteration": "3", "lr": 0.2, "depth": 5, "status": "SUCCEEDED", "attempt": 2, "score": pytest.approx(1.0),
         "meta.depth2": 10},
    ]


def test_results_of_a_plain_step_is_one_row(engine, namespace):
    namespace["f"] = lambda: 7
    define(engine, "w", """
        steps:
          - id: s
            run: f
    """)
    engine.run("w")
    frame = engine.results("w", "s")
    assert frame.to_dict("records") == [{"iteration": "", "status": "SUCCEEDED", "attempt": 1, "output": 7}]


def test_results_show_the_params_an_iteration_ran_with_and_mark_changed_ones(engine, namespace):
    namespace["fit"] = lambda alpha, degree: {"score": round(alpha * degree, 3)}
    define(engine, "w", """
        steps:
          - id: fit
            foreach: {alpha: [0.1, 1.0], degree: [2]}
            run: fit
    """)
    engine.set_breakpoint("w.fit", iteration=1)
    engine.run("w")
    (a,) = engine.paused()
    engine.set_param(a, "alpha", 0.9)
    engine.resume(a)
    frame = engine.results("w", "fit")
    assert list(frame.columns) == ["iteration", "alpha", "degree", "status", "attempt", "changed", "score"]
    assert frame.alpha.tolist() == [0.1, 0.9]  # the value iteration 1 ran with, not its loop value 1.0
    assert frame.changed.tolist() == ["", "alpha"] and frame.score.tolist() == [0.2, 1.8]
    assert engine.sql("SELECT changed FROM iterations WHERE iteration = '1'").changed[0].tolist() == ["alpha"]


def test_results_leave_no_empty_output_column_and_keep_whole_numbers(engine, namespace):
    def count(i):
        if i == 1:
            raise ValueError("no count for one")
        return {"n": i * 10, "label": f"#{i}"}

    namespace["count"] = count
    define(engine, "w", """
        steps:
          - id: count
            foreach: {i: [0, 1, 2]}
            run: count
            failure_mode: ignore
    """)
    engine.run("w")
    frame = engine.results("w", "count")
    assert list(frame.columns) == ["iteration", "i", "status", "attempt", "n", "label"]  # no `output`
    assert str(frame.n.dtype) == "Int64" and frame.n.tolist()[0] == 0 and frame.n.isna().tolist() == [
        False, True, False]
    assert frame.n[2] == 20 and frame.label[0] == "#0" and frame.label.isna().tolist() == [False, True, False]


def test_results_of_a_foreach_of_steps_give_a_row_per_iteration_and_body_step(engine, namespace):
    namespace["inner"] = lambda i, j: i * 10 + j
    namespace["total"] = lambda inner: sum(inner)
    define(engine, "w", """
        steps:
          - id: outer
            foreach: {i: [1, 2]}
            steps:
              - id: inner
                foreach: {j: "${range(i)}"}
                run: inner
              - id: total
                after: [inner]
                run: total
    """)
    engine.run("w")
    frame = engine.results("w", "outer")
    assert list(frame.columns) == ["iteration", "step", "i", "j", "status", "attempt", "output"]
    rows = [(r.iteration, r.step, r.i, r.output) for r in frame.itertuples()]
    assert rows == [("0/0", "inner", 1, 10), ("0", "total", 1, 10),
                    ("1/0", "inner", 2, 20), ("1/1", "inner", 2, 21), ("1", "total", 2, 41)]
    assert str(frame.j.dtype) == "Int64" and frame.j.isna().tolist() == [False, True, False, False, True]


# --- the write path --------------------------------------------------------------------------
class _CountingConnection:
    """Stands in for the store's DuckDB connection and counts the statements run through it."""

    def __init__(self, conn):
        self._conn = conn
        self.statements: list[str] = []

    def execute(self, sql, *args, **kwargs):
        self.statements.append(" ".join(str(sql).split())[:80])
        # DuckDB's replacement scan reads Arrow tables and DataFrames from the calling frame,
        # which is now this one: register the caller's for the length of the statement.
        import sys

        import pandas as pd
        import pyarrow as pa

        caller = sys._getframe(1).f_locals
        views = [k for k, v in caller.items() if isinstance(v, (pa.Table, pd.DataFrame))]
        for name in views:
            self._conn.register(name, caller[name])
        try:
            return self._conn.execute(sql, *args, **kwargs)
        finally:
            for name in views:
                self._conn.unregister(name)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_hot_path_batches_writes_instead_of_one_statement_per_transition(engine, monkeypatch):
    define(engine, "w", """
        steps:
          - id: sweep
            foreach:
              i: ${range(2000)}
            noop: true
    """)
    appended: list[tuple[str, int]] = []
    real_append = engine.store.append_together

    def counting_append(batches):
        appended.extend((table, len(rows)) for table, rows in batches if rows)
        return real_append(batches)

    monkeypatch.setattr(engine.store, "append_together", counting_append)
    counter = _CountingConnection(engine.store.conn)
    monkeypatch.setattr(engine.store, "conn", counter)
    inst = engine.run("w")
    monkeypatch.undo()
    assert inst.status is InstanceStatus.SUCCEEDED
    transitions = int(engine.sql("SELECT sum(len(transitions)) - count(*) AS n FROM attempts").n[0])
    assert transitions >= 2000 * 4
    assert len(counter.statements) < 20, counter.statements
    assert len([a for a in appended if a[0] == "attempt_log"]) < 10
    assert sum(n for table, n in appended if table == "attempt_log") >= 2000
    assert engine.sql("SELECT count(*) AS n FROM attempts WHERE status = 'SUCCEEDED'").n[0] == 2000


def test_sub_workflow_in_a_foreach_gets_loop_params_and_a_failed_child_fails_the_iteration(engine, namespace):
    def child_step(k):
        if k == 2:
            raise ValueError("k is 2")
        return k * 100

    namespace["child_step"] = child_step
    namespace["gather"] = lambda sub: sub
    define(engine, "child", """
        params: {k: 0}
        steps:
          - id: a
            run: child_step
    """)
    define(engine, "parent", """
        steps:
          - id: sub
            foreach: {k: [1, 2, 3]}
            workflow: child
            failure_mode: ignore
          - id: gather
            after: [sub]
            run: gather
    """)
    inst = engine.run("parent")
    assert inst.status is InstanceStatus.SUCCEEDED
    frame = engine.results("parent", "sub")
    assert frame.status.tolist() == ["SUCCEEDED", "USER_FAILED", "SUCCEEDED"]
    assert "child#2 ended FAILED" in attempts(engine, "parent", "sub")[1]["error"]
    assert json.loads(attempts(engine, "parent", "gather")[0]["output"]) == [{"a": 100}, None, {"a": 300}]
    children = engine.sql("SELECT params, status FROM instances WHERE workflow = 'child' ORDER BY instance_id")
    assert [(json.loads(p), s) for p, s in children.values.tolist()] == [
        ({"k": 1}, "SUCCEEDED"), ({"k": 2}, "FAILED"), ({"k": 3}, "SUCCEEDED"),
    ]


def _failing_at_one(namespace: dict[str, Any]) -> list[int]:
    """`f(x)`, which raises for x = 1; returns the list of the x it was called with."""
    seen: list[int] = []

    def f(x):
        seen.append(x)
        if x == 1:
            raise ValueError("one")
        return x

    namespace["f"] = f
    return seen


def test_by_default_a_failing_iteration_lets_its_siblings_run_and_their_breakpoints_fire(engine, namespace):
    seen = _failing_at_one(namespace)
    namespace["g"] = lambda f: f
    define(engine, "w", """
        steps:
          - id: f
            foreach:
              x: ${range(5)}
            run: f
          - id: g
            after: [f]
            run: g
    """)
    engine.set_breakpoint("w.f", when="x == 3")
    inst = engine.run("w")
    assert seen == [0, 1, 2, 4]  # the failure of x=1 stopped nothing; x=3 waits at its breakpoint
    assert [a.loop_params for a in engine.paused()] == [{"x": 3}]
    assert inst.status is InstanceStatus.IN_PROGRESS
    engine.resume(engine.paused())
    assert seen == [0, 1, 2, 4, 3] and inst.status is InstanceStatus.FAILED
    assert engine.results("w", "f").status.tolist() == ["SUCCEEDED", "USER_FAILED"] + ["SUCCEEDED"] * 3
    steps = engine.sql("SELECT step_id, status FROM steps WHERE workflow = 'w'")
    assert dict(zip(steps.step_id, steps.status)) == {"f": "USER_FAILED"}  # g, behind f, never ran


def test_fail_immediately_in_a_foreach_starts_no_further_iteration(engine, namespace):
    seen = _failing_at_one(namespace)
    define(engine, "w", """
        steps:
          - id: f
            foreach:
              x: ${range(10)}
            run: f
            failure_mode: fail_immediately
    """)
    assert engine.run("w").status is InstanceStatus.FAILED
    assert seen == [0, 1]
    found = engine.results("w", "f").status.tolist()
    assert found[:2] == ["SUCCEEDED", "USER_FAILED"]
    assert set(found[2:]) <= {"STOPPED"}


def test_background_run_returns_at_once_and_wait_reaches_quiescence(engine):
    define(engine, "w", """
        steps:
          - id: s
            foreach: {k: [1, 2, 3]}
            sleep: 0.05
    """)
    inst = engine.run("w", background=True)
    assert engine.busy and inst.status is InstanceStatus.IN_PROGRESS
    assert engine.wait(30)
    assert inst.status is InstanceStatus.SUCCEEDED and not engine.busy
    assert engine.results("w", "s").status.tolist() == ["SUCCEEDED"] * 3


def test_sql_step_binds_loop_params_and_upstream_values_and_a_bad_query_fails_the_attempt(engine, namespace):
    namespace["up"] = lambda: 5
    define(engine, "w", """
        steps:
          - id: up
            run: up
          - id: q
            after: [up]
            foreach: {n: [1, 2]}
            sql: SELECT $n * $m AS v
            params:
              m: ${up}
          - id: broken
            sql: SELECT * FROM no_such_table
            failure_mode: ignore
    """)
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    assert [json.loads(r["output"]) for r in attempts(engine, "w", "q")] == [[{"v": 5}], [{"v": 10}]]
    [broken] = attempts(engine, "w", "broken")
    assert broken["status"] == "USER_FAILED" and "no_such_table" in broken["error"]


def test_an_undefined_callable_fails_fatally_with_a_hint(engine, namespace):
    namespace["train"] = lambda: 1
    define(engine, "w", """
        steps:
          - id: s
            run: trian
            retry: 2
    """)
    assert engine.run("w").status is InstanceStatus.FAILED
    [row] = attempts(engine, "w", "s")
    assert row["status"] == "FATALLY_FAILED"
    assert "'trian' is not defined" in row["error"] and "did you mean 'train'" in row["error"]


def test_keyboard_interrupt_in_a_step_stops_the_instance_and_reaches_the_caller(engine, namespace):
    calls = []

    def step(i):
        calls.append(i)
        if i == 2:
            raise KeyboardInterrupt

    namespace["step"] = step
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": list(range(6))}, "run": "step",
                                   "retry": {"limit": 2}}]})
    with pytest.raises(KeyboardInterrupt):
        engine.run("w")
    assert calls == [0, 1, 2]  # no retry, no further iteration
    engine.recover()  # the next drive settles the instance
    instance = engine.instance("w", 1)
    assert instance.status is InstanceStatus.STOPPED and calls == [0, 1, 2]
    stored = dict(engine.sql("SELECT iteration, status FROM iterations").values.tolist())
    assert stored["2"] == "INTERRUPTED" and stored["0"] == stored["1"] == "SUCCEEDED"


# --- regressions ------------------------------------------------------------------------------
@pytest.mark.parametrize("first_use_b", [True, False], ids=["b-ran-first", "b-skipped-first"])
def test_binding_is_resolved_per_attempt_when_an_optional_upstream_is_skipped(engine, namespace, first_use_b):
    namespace["fa"] = lambda: 1
    namespace["fb"] = lambda: 2
    namespace["fc"] = lambda a=None, b="default": {"a": a, "b": b}
    define(engine, "w", """
        params: {use_b: true}
        steps:
          - id: a
            run: fa
          - id: b
            if: ${use_b}
            run: fb
          - id: c
            after: [a, b]
            run: fc
    """)
    for number, use_b in enumerate([first_use_b, not first_use_b], start=1):
        inst = engine.run("w", {"use_b": use_b})  # no KeyError escapes: binding is per attempt
        assert inst.status is InstanceStatus.SUCCEEDED
        (c,) = [r for r in attempts(engine, "w", "c") if r["instance_id"] == number]
        assert json.loads(c["output"]) == {"a": 1, "b": 2 if use_b else "default"}


def test_an_upstream_step_that_did_not_run_reads_as_none_in_expressions(engine, namespace):
    namespace["fa"] = lambda: 1
    namespace["fb"] = lambda: 2
    namespace["report"] = lambda seen, b="default": {"seen": seen, "b": b}
    namespace["inner"] = lambda v, x: [v, x]
    define(engine, "w", """
        params: {use_b: false}
        steps:
          - id: a
            run: fa
          - id: b
            if: ${use_b}
            run: fb
          - id: u
            after: [b]
            noop: true
          - id: join
            after: [a, b, u]
            if: ${b is None and u is None}
            run: report
            params: {seen: "${[a, b, u]}"}
          - id: fan
            after: [a, b]
            foreach: {x: "${[1] if b is None else [1, 2]}"}
            steps:
              - id: inner
                run: inner
                params: {v: "${b}"}
    """)
    inst = engine.run("w")
    assert inst.status is InstanceStatus.SUCCEEDED
    assert statuses(engine, "w")["u"] == "UNSATISFIED"
    # In expressions b (SKIPPED) and u (UNSATISFIED) are None; the argument b keeps its default.
    assert engine.results("w", "join").to_dict("records")[0] | {"iteration": ""} == {
        "iteration": "", "status": "SUCCEEDED", "attempt": 1, "seen": [1, None, None], "b": "default"}
    assert json.loads(attempts(engine, "w", "inner")[0]["output"]) == [None, 1]


def test_fail_after_running_blocks_a_join_of_a_failed_and_a_succeeded_step(engine, namespace):
    ran = []

    def bad():
        raise RuntimeError("x")

    namespace["bad"] = bad
    namespace["ok"] = lambda: 1
    namespace["join"] = lambda a=None, b=None: ran.append("join")
    define(engine, "w", """
        failure_mode: fail_after_running
        steps:
          - id: a
            run: bad
          - id: b
            run: ok
          - id: c
            after: [a, b]
            run: join
    """)
    inst = engine.run("w")
    assert inst.status is InstanceStatus.FAILED
    assert ran == []
    found = statuses(engine, "w")
    assert found["a"] == "USER_FAILED" and found["b"] == "SUCCEEDED"
    assert "c" not in found
    blocked = engine.sql("SELECT step_id, detail->>'status' AS s FROM events WHERE kind = 'step'")
    assert ["c", "BLOCKED"] in blocked.values.tolist()


def test_ignore_covers_a_failing_condition_and_a_failing_foreach_expansion(engine, namespace):
    ran = []
    namespace["ok"] = lambda: 1
    namespace["nxt"] = lambda: ran.append("nxt")
    engine.define("w", {"failure_mode": "ignore", "steps": [
        {"id": "a", "run": "ok", "if": "${1/0}"},
        {"id": "b", "after": ["a"], "run": "nxt"},
        {"id": "f", "foreach": {"x": "${[1][5]}"}, "run": "ok"},
        {"id": "g", "after": ["f"], "run": "nxt"},
    ]})
    inst = engine.run("w")
    assert inst.status is InstanceStatus.SUCCEEDED
    assert ran == ["nxt", "nxt"]
    steps = dict(engine.sql("SELECT step_id, status FROM steps").values.tolist())
    assert steps == {"a": "COMPLETED_WITH_ERROR", "b": "SUCCEEDED", "f": "COMPLETED_WITH_ERROR", "g": "SUCCEEDED"}


# --- regressions: a foreach iteration ends once; interrupts; stops; conditions ----------------
@pytest.mark.parametrize("concurrency", [1, None], ids=["concurrency-1", "unlimited"])
def test_an_iteration_whose_last_step_is_skipped_at_once_is_finished_once(engine, namespace, concurrency):
    """The body's last step ends at once (an `if:` that is false): the iteration was counted
    finished twice, once by the step and once by the frame."""
    order: list[Any] = []
    namespace["a"] = lambda i: order.append(("a", i)) or i
    namespace["z"] = lambda loop: order.append(("z", loop)) or 0
    loop: dict[str, Any] = {"id": "loop", "foreach": {"i": [0, 1, 2, 3]}, "steps": [
        {"id": "a", "run": "a"},
        {"id": "b", "after": ["a"], "if": "${a > 100}", "noop": None},
    ]}
    if concurrency:
        loop["concurrency"] = concurrency
    engine.define("w", {"steps": [loop, {"id": "z", "after": ["loop"], "run": "z"}]})
    instance = engine.run("w")
    assert instance.status is InstanceStatus.SUCCEEDED
    assert sorted(order[:4]) == [("a", 0), ("a", 1), ("a", 2), ("a", 3)]
    assert order[4:] == [("z", [None, None, None, None])]
    node = instance.root.nodes["loop"]
    assert (node.finished, node.total, node.active) == (4, 4, 0)


def test_an_if_with_no_truth_value_fails_the_step_with_one_line(engine, namespace):
    ran = []
    namespace["load"] = lambda: pd.DataFrame({"a": [1, 2]})
    namespace["g"] = lambda: ran.append("g") or 1
    engine.define("w", {"steps": [
        {"id": "load", "run": "load"},
        {"id": "t", "after": ["load"], "if": '${load["a"] > 1}', "run": "g"},
    ]})
    instance = engine.run("w")  # nothing raised out of run
    assert instance.status is InstanceStatus.FAILED
    assert ran == [] and engine.paused() == [] and not engine.scheduler.ready
    [t] = attempts(engine, "w", "t")
    assert t["status"] == "FATALLY_FAILED"
    assert t["error"].startswith("if: ") and "truth value" in t["error"] and "\n" not in t["error"]
    assert statuses(engine, "w") == {"load": "SUCCEEDED", "t": "FATALLY_FAILED"}


def test_keyboard_interrupt_in_a_step_stops_the_queued_iterations_too(engine, namespace, db_path):
    def f(i):
        if i == 1:
            raise KeyboardInterrupt
        return i

    namespace["f"] = f
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": list(range(5))}, "run": "f"}]})
    with pytest.raises(KeyboardInterrupt):
        engine.run("w")
    instance = engine.instance("w")
    assert instance.status is InstanceStatus.STOPPED
    assert engine.paused() == [] and not engine.scheduler.ready
    stored = dict(engine.sql("SELECT iteration, status FROM iterations").values.tolist())
    assert stored == {"0": "SUCCEEDED", "1": "INTERRUPTED", "2": "STOPPED", "3": "STOPPED", "4": "STOPPED"}
    engine.close()
    with Engine(db_path, namespace) as again:
        assert again.recovery_report == []  # nothing left INITIALIZED to be marked INTERRUPTED
        assert again.instance("w", 1).status is InstanceStatus.STOPPED


def test_keyboard_interrupt_in_a_sub_workflow_stops_the_parent_without_retrying(engine, namespace):
    child_calls = []

    def boom():
        child_calls.append("boom")
        raise KeyboardInterrupt

    namespace.update(boom=boom, ok=lambda: 1)
    engine.define("child", {"steps": [{"id": "x", "run": "boom"}]})
    engine.define("parent", {"steps": [{"id": "sub", "workflow": "child", "retry": {"limit": 1}},
                                       {"id": "after", "after": ["sub"], "run": "ok"}]})
    with pytest.raises(KeyboardInterrupt):
        engine.run("parent")
    assert engine.instance("parent").status is InstanceStatus.STOPPED
    assert engine.instance("child").status is InstanceStatus.STOPPED
    assert engine.paused() == [] and not engine.scheduler.ready
    sub = attempts(engine, "parent", "sub")
    assert [(r["attempt"], r["status"]) for r in sub] == [(1, "STOPPED")]
    # Running something else afterwards does not retry the sub step (no second child).
    namespace["boom"] = lambda: child_calls.append("child ran again") or 1
    engine.define("other", {"steps": [{"id": "o", "run": "ok"}]})
    assert engine.run("other").status is InstanceStatus.SUCCEEDED
    assert child_calls == ["boom"]
    assert [i.label for i in engine.instances("child")] == ["child#1"]
    assert engine.instance("parent").status is InstanceStatus.STOPPED
    assert [(r["attempt"], r["status"]) for r in attempts(engine, "parent", "sub")] == [(1, "STOPPED")]
    assert attempts(engine, "parent", "after") == []


def test_stopping_a_parent_stops_its_child_running_on_threads(db_path, namespace):
    started, gate = threading.Event(), threading.Event()
    ran = []

    def work(i):
        if i == 0:
            started.set()
            assert gate.wait(60)
        ran.append(i)
        return i

    namespace["work"] = work
    with Engine(db_path, namespace, executor="threads") as engine:
        engine.define("child", {"steps": [{"id": "s", "foreach": {"i": list(range(10))}, "concurrency": 1,
                                           "run": "work"}]})
        engine.define("parent", {"steps": [{"id": "sub", "workflow": "child"}]})
        parent = engine.run("parent", background=True)
        assert started.wait(60)  # child iteration 0 is running on a worker thread
        engine.stop("parent")
        gate.set()
        assert engine.wait(60) and not engine.busy
        assert ran == [0], "child iterations that had not started ran after the stop"
        assert parent.status is InstanceStatus.STOPPED
        assert engine.instance("child").status is InstanceStatus.STOPPED
        assert [(r["attempt"], r["status"]) for r in attempts(engine, "parent", "sub")] == [(1, "STOPPED")]
        assert set(statuses_by_iteration(engine, "child", "s")) <= {"SUCCEEDED", "STOPPED"}


def statuses_by_iteration(engine: Engine, workflow: str, step: str) -> list[str]:
    frame = engine.sql("SELECT status FROM iterations WHERE workflow = ? AND step_id = ?", [workflow, step])
    return frame.status.tolist()


INTERRUPT_THREADS = dedent('''
    import _thread, faulthandler, json, signal, sys, threading

    from maestro_nb.engine.engine import Engine

    faulthandler.dump_traceback_later(50, exit=True)  # a hang fails with a traceback
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job starts with it ignored
    both_running, interrupted = threading.Barrier(3), threading.Event()

    def slow(i):
        if i < 2:
            both_running.wait(50)
            interrupted.wait(50)  # still running when the interrupt arrives
        return i

    def interrupt_when_both_run():
        both_running.wait(50)
        _thread.interrupt_main()
        interrupted.set()

    engine = Engine(sys.argv[1], {"slow": slow}, executor="threads")
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": list(range(6))}, "concurrency": 2,
                                   "run": "slow"}]})
    engine.define("v", {"steps": [{"id": "n", "noop": None}]})
    threading.Thread(target=interrupt_when_both_run, daemon=True).start()
    try:
        engine.run("w")
        raised = False
    except KeyboardInterrupt:
        raised = True
    instance = engine.instance("w")
    engine.define("v2", {"steps": [{"id": "n", "noop": None}]})  # the next action
    out = {
        "raised": raised,
        "status": instance.status.value,
        "inflight": engine.scheduler.inflight,
        "stored": engine.sql("SELECT iteration, status FROM iterations WHERE workflow = 'w'"
                             " ORDER BY iteration").values.tolist(),
    }
    out["other"] = engine.run("v").status.value  # returns: nothing in flight was lost
    out["final"] = engine.instance("w").status.value
    engine.close()
    print(json.dumps(out))
''')


@pytest.mark.slow
def test_keyboard_interrupt_on_the_threads_executor_keeps_finished_results(tmp_path):
    """A KeyboardInterrupt in the driving thread while steps run on workers: the results that
    arrive are not lost, the instance ends STOPPED, and a later run does not hang."""
    done = subprocess.run([sys.executable, "-c", INTERRUPT_THREADS, str(tmp_path / "state.duckdb")],
                          capture_output=True, text=True, timeout=60, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["raised"] is True
    assert out["status"] == "STOPPED" and out["final"] == "STOPPED"
    assert out["inflight"] == 0
    assert out["other"] == "SUCCEEDED"
    # The iterations in flight (0 and 1) finished and were kept; none was left RUNNING or queued.
    stored = dict(out["stored"])
    assert stored["0"] == stored["1"] == "SUCCEEDED"
    assert set(stored.values()) <= {"SUCCEEDED", "STOPPED"}, stored
