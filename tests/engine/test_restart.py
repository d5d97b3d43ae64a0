"""Restart: from the failed steps, from a named step, one foreach iteration; always a new run."""

from __future__ import annotations

import functools
from collections import Counter
from textwrap import dedent

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import MaestroError, StateError
from maestro_nb.models.status import InstanceStatus


def define(engine: Engine, name: str, yaml: str):
    return engine.define(name, dedent(yaml))


@pytest.fixture
def calls() -> Counter:
    return Counter()


def _counting(namespace: dict, calls: Counter, name: str, fn):
    """Put `fn` in the namespace as `name`, counting its calls; binding sees fn's signature."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        calls[name] += 1
        return fn(*args, **kwargs)

    namespace[name] = wrapper


def _line_with_a_switch(engine: Engine, namespace: dict, calls: Counter, broken: dict) -> None:
    """w: a -> b -> c, where b raises while broken["yes"]."""
    def b(a):
        if broken["yes"]:
            raise RuntimeError("b is broken")
        return a + 1

    _counting(namespace, calls, "a", lambda: 1)
    _counting(namespace, calls, "b", b)
    _counting(namespace, calls, "c", lambda b: b * 10)
    define(engine, "w", """
        steps:
          - id: a
            run: a
          - id: b
            after: [a]
            run: b
          - id: c
            after: [b]
            run: c
    """)


def test_restart_from_failed_reruns_only_what_did_not_succeed(engine, namespace, calls):
    broken = {"yes": True}
    _line_with_a_switch(engine, namespace, calls, broken)
    first = engine.run("w")
    assert first.status is InstanceStatus.FAILED and first.run_id == 1
    assert calls == Counter(a=1, b=1)
    broken["yes"] = False
    second = engine.restart("w")
    assert second.status is InstanceStatus.SUCCEEDED
    assert (second.instance_id, second.run_id) == (1, 2)
    assert calls == Counter(a=1, b=2, c=1)
    latest = engine.sql("SELECT step_id, run_id, status, output FROM iterations ORDER BY step_id")
    assert latest.values.tolist() == [["a", 1, "SUCCEEDED", "1"], ["b", 2, "SUCCEEDED", "2"],
                                      ["c", 2, "SUCCEEDED", "20"]]
    assert engine.sql("SELECT run_id, status FROM instances").values.tolist() == [[2, "SUCCEEDED"]]


def test_restart_uses_the_function_redefined_in_the_namespace(engine, namespace):
    namespace["step"] = lambda: 1 / 0
    define(engine, "w", """
        steps:
          - id: s
            run: step
    """)
    assert engine.run("w").status is InstanceStatus.FAILED
    namespace["step"] = lambda: "fixed"
    again = engine.restart("w", 1)
    assert again.status is InstanceStatus.SUCCEEDED
    assert engine.results("w", "s").output.tolist() == ["fixed"]


def test_restart_from_failed_in_a_foreach_keeps_succeeded_iterations(engine, namespace, calls):
    bad = {3}

    def f(x):
        if x in bad:
            raise ValueError(f"x={x}")
        return x * x

    _counting(namespace, calls, "f", f)
    _counting(namespace, calls, "total", lambda f: sum(f))
    define(engine, "w", """
        steps:
          - id: f
            foreach:
              x: ${range(6)}
            run: f
            failure_mode: fail_after_running
          - id: total
            after: [f]
            run: total
    """)
    assert engine.run("w").status is InstanceStatus.FAILED
    assert calls == Counter(f=6)
    bad.clear()
    again = engine.restart("w")
    assert again.status is InstanceStatus.SUCCEEDED
    assert calls == Counter(f=7, total=1)  # only x=3 ran again
    assert engine.results("w", "total").output.tolist() == [sum(x * x for x in range(6))]
    frame = engine.sql("SELECT iteration, run_id FROM iterations WHERE step_id = 'f' ORDER BY iteration")
    assert dict(frame.values.tolist()) == {"0": 1, "1": 1, "2": 1, "3": 2, "4": 1, "5": 1}


def test_restart_from_a_named_step_reruns_it_and_downstream_keeping_upstream(engine, namespace, calls):
    _counting(namespace, calls, "a", lambda: 5)
    offset = {"b": 1}
    _counting(namespace, calls, "b", lambda a: a + offset["b"])
    _counting(namespace, calls, "c", lambda b: b * 2)
    _counting(namespace, calls, "side", lambda a: "side")
    define(engine, "w", """
        steps:
          - id: a
            run: a
          - id: b
            after: [a]
            run: b
          - id: c
            after: [b]
            run: c
          - id: side
            after: [a]
            run: side
    """)
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    offset["b"] = 100
    again = engine.restart("w", from_step="b")
    assert again.status is InstanceStatus.SUCCEEDED and again.run_id == 2
    assert calls == Counter(a=1, b=2, c=2, side=1)
    runs = dict(engine.sql("SELECT step_id, run_id FROM iterations").values.tolist())
    assert runs == {"a": 1, "side": 1, "b": 2, "c": 2}
    assert engine.results("w", "c").output.tolist() == [(5 + 100) * 2]  # b's new value, a's kept one


def test_restart_one_foreach_iteration_reruns_it_and_downstream_only(engine, namespace, calls):
    version = {"n": 0}
    _counting(namespace, calls, "f", lambda x: x * 10 + version["n"])
    _counting(namespace, calls, "gather", lambda f: list(f))
    define(engine, "w", """
        steps:
          - id: f
            foreach:
              x: ${range(4)}
            run: f
          - id: gather
            after: [f]
            run: gather
    """)
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    version["n"] = 1
    again = engine.restart("w", from_step="f", iteration=2)
    assert again.status is InstanceStatus.SUCCEEDED
    assert calls == Counter(f=5, gather=2)
    assert engine.results("w", "gather").output.tolist() == [[0, 10, 21, 30]]
    frame = engine.sql("SELECT iteration, run_id FROM iterations WHERE step_id = 'f' ORDER BY iteration")
    assert dict(frame.values.tolist()) == {"0": 1, "1": 1, "2": 2, "3": 1}


def test_restart_one_iteration_of_a_nested_foreach(engine, namespace, calls):
    _counting(namespace, calls, "mul", lambda i, x: i * x)
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
    assert calls["mul"] == 6
    again = engine.restart("w", from_step="outer", iteration=1)
    assert again.status is InstanceStatus.SUCCEEDED
    assert calls["mul"] == 8  # the two inner iterations of outer iteration 1
    frame = engine.sql("SELECT iteration, run_id FROM iterations WHERE step_id = 'inner' ORDER BY iteration")
    assert dict(frame.values.tolist()) == {"0/0": 1, "1/0": 2, "1/1": 2, "2/0": 1, "2/1": 1, "2/2": 1}


def test_restart_after_reopening_the_state_file_keeps_stored_outputs(db_path, namespace, calls):
    broken = {"yes": True}

    def b(a):
        if broken["yes"]:
            raise RuntimeError("broken")
        return {"got": a}

    _counting(namespace, calls, "a", lambda: [1, 2, 3])
    _counting(namespace, calls, "b", b)
    yaml = """
        steps:
          - id: a
            run: a
          - id: b
            after: [a]
            run: b
    """
    with Engine(db_path, namespace) as engine:
        define(engine, "w", yaml)
        assert engine.run("w").status is InstanceStatus.FAILED
    broken["yes"] = False
    with Engine(db_path, namespace) as engine:
        again = engine.restart("w", 1)
        assert again.status is InstanceStatus.SUCCEEDED and again.run_id == 2
        assert engine.results("w", "b").to_dict("records")[0]["got"] == [1, 2, 3]
    assert calls == Counter(a=1, b=2)


def test_restart_of_an_unfinished_instance_is_refused(engine, namespace):
    namespace["f"] = lambda: 1
    define(engine, "w", """
        steps:
          - id: a
            run: f
          - id: b
            after: [a]
            run: f
    """)
    engine.set_breakpoint("w.b")
    inst = engine.run("w")
    assert inst.status is InstanceStatus.IN_PROGRESS
    before = engine.sql("SELECT count(*) AS n FROM attempt_log").n[0]
    with pytest.raises(StateError, match=r"w#1 is paused; restart needs a finished instance") as info:
        engine.restart("w", 1)
    assert isinstance(info.value, MaestroError)
    assert engine.sql("SELECT count(*) AS n FROM attempt_log").n[0] == before
    assert engine.sql("SELECT run_id FROM instances").run_id.tolist() == [1]


def test_restart_of_a_succeeded_instance_without_a_step_reruns_nothing(engine, namespace, calls):
    _counting(namespace, calls, "f", lambda: 1)
    define(engine, "w", """
        steps:
          - id: a
            run: f
    """)
    engine.run("w")
    again = engine.restart("w")
    assert again.status is InstanceStatus.SUCCEEDED and again.run_id == 2
    assert calls == Counter(f=1)


def test_restart_one_inner_iteration_reruns_downstream_only_in_its_outer_iteration(engine, namespace, calls):
    _counting(namespace, calls, "mul", lambda i, x: i * x)
    _counting(namespace, calls, "post", lambda inner: sum(inner))
    _counting(namespace, calls, "fin", lambda outer: outer)
    define(engine, "w", """
        steps:
          - id: outer
            foreach: {i: [1, 2, 3]}
            steps:
              - id: inner
                foreach:
                  x: ${range(1, i + 1)}
                run: mul
              - id: post
                after: [inner]
                run: post
          - id: fin
            after: [outer]
            run: fin
    """)
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    assert calls == Counter(mul=6, post=3, fin=1)
    again = engine.restart("w", from_step="inner", iteration="1/1")
    assert again.status is InstanceStatus.SUCCEEDED
    assert calls == Counter(mul=7, post=4, fin=2)  # inner[1/1], post[1], fin
    runs = engine.sql("SELECT step_id, iteration, run_id FROM iterations ORDER BY step_id, iteration")
    assert {(s, it): r for s, it, r in runs.values.tolist() if r == 2} == {
        ("inner", "1/1"): 2, ("post", "1"): 2, ("fin", ""): 2,
    }
    assert engine.results("w", "fin").output.tolist() == [[1, 6, 18]]


def test_restart_from_a_step_inside_a_foreach_body_reruns_every_iteration_of_it(engine, namespace, calls):
    _counting(namespace, calls, "mul", lambda i, x: i * x)
    _counting(namespace, calls, "post", lambda inner: sum(inner))
    define(engine, "w", """
        steps:
          - id: outer
            foreach: {i: [1, 2]}
            steps:
              - id: inner
                foreach:
                  x: ${range(1, i + 1)}
                run: mul
              - id: post
                after: [inner]
                run: post
    """)
    engine.run("w")
    again = engine.restart("w", from_step="post")
    assert again.status is InstanceStatus.SUCCEEDED
    assert calls == Counter(mul=3, post=4)


# --- recovery in a new engine ----------------------------------------------------------------
def test_recovery_in_a_new_engine_keeps_iterations_that_ended_in_the_same_run(db_path, namespace):
    seen: list[int] = []
    gathered: list[list] = []

    def work(i):
        seen.append(i)
        if i == 1:
            raise RuntimeError("boom")
        return i

    namespace.update(work=work, gate=lambda w: gathered.append(w) or w)
    first = Engine(db_path, namespace)
    define(first, "wf", """
        steps:
          - id: w
            foreach: {i: [0, 1, 2, 3, 4]}
            run: work
            failure_mode: ignore
          - id: g
            after: [w]
            run: gate
    """)
    first.set_breakpoint("wf.w", when="i >= 2")
    first.run("wf")
    held = {a.loop_params["i"]: a for a in first.paused()}
    first.skip(held[2], output=99)
    first.set_param(held[3], "i", 30)
    first.close()
    assert seen == [0, 1]
    seen.clear()

    with Engine(db_path, namespace) as again:
        again.recover()
        assert seen == [], "an iteration that had ended ran again"
        latest = again.sql("SELECT iteration, attempt, status FROM iterations WHERE step_id = 'w'")
        assert sorted(latest.values.tolist()) == [
            ["0", 1, "SUCCEEDED"], ["1", 1, "USER_FAILED"], ["2", 1, "SKIPPED"], ["3", 1, "PAUSED"],
            ["4", 1, "PAUSED"]]
        assert again.results("wf", "w").output.tolist()[2] == 99
        again.resume(again.paused())
        assert again.instance("wf", 1).status is InstanceStatus.SUCCEEDED
    assert sorted(seen) == [4, 30]
    assert gathered == [[0, None, 99, 30, 4]]


def test_restart_one_iteration_of_a_step_inside_a_foreach_body(engine, namespace):
    calls = []
    namespace.update(f=lambda i, x: calls.append("f") or i * x,
                     g=lambda inner: calls.append("g") or sum(inner),
                     r=lambda outer: calls.append("r") or outer)
    define(engine, "n", """
        steps:
          - id: outer
            foreach: {i: [1, 2, 3]}
            steps:
              - id: inner
                foreach: {x: "${range(1, i + 1)}"}
                run: f
              - id: total
                after: [inner]
                run: g
          - id: report
            after: [outer]
            run: r
    """)
    engine.run("n")
    calls.clear()
    again = engine.restart("n", from_step="total", iteration=1)
    assert again.status is InstanceStatus.SUCCEEDED and again.run_id == 2
    assert calls == ["g", "r"]  # total of outer iteration 1, then what follows the foreach


def test_restart_of_a_foreach_with_hundreds_of_bodies_that_end_at_once(engine, namespace):
    # Every kept body iteration ends at once on restart: that must not grow the stack per iteration.
    namespace.update(f=lambda i: i, g=lambda loop: len(loop))
    engine.define("w", {"steps": [
        {"id": "loop", "foreach": {"i": list(range(600))}, "steps": [{"id": "f", "run": "f"}]},
        {"id": "g", "after": ["loop"], "run": "g"},
    ]})
    engine.run("w")
    again = engine.restart("w", from_step="g")
    assert again.status is InstanceStatus.SUCCEEDED
    assert engine.results("w", "g").output.tolist() == [600]


def test_steps_the_new_run_redoes_show_as_not_started_in_it(engine, namespace, calls):
    _counting(namespace, calls, "data", lambda: 2)
    _counting(namespace, calls, "fit", lambda data, k: data * k)
    _counting(namespace, calls, "report", lambda fit: sum(fit))
    define(engine, "w", """
        steps:
          - id: data
            run: data
          - id: fit
            after: [data]
            foreach: {k: [1, 2, 3]}
            run: fit
          - id: report
            after: [fit]
            run: report
    """)
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    assert engine.step_status("w", "report") == "SUCCEEDED"
    engine.set_breakpoint("w.fit", iteration=1)
    second = engine.restart("w", from_step="fit")
    assert second.run_id == 2 and [a.label for a in engine.paused()] == ["w#1 fit[1]"]
    # fit[1] is paused in run 2; report (and fit's other iterations, done again) are not run 1's
    assert [engine.step_status("w", s) for s in ("data", "fit", "report")] == ["SUCCEEDED", "PAUSED", "NOT_CREATED"]
    rows = engine.sql("SELECT step_id, iteration, run_id, attempt, status FROM iterations"
                      " ORDER BY step_id, iteration").values.tolist()
    assert rows == [["data", "", 1, 1, "SUCCEEDED"], ["fit", "0", 2, 1, "SUCCEEDED"], ["fit", "1", 2, 1, "PAUSED"],
                    ["fit", "2", 2, 1, "SUCCEEDED"], ["report", "", 2, 0, "NOT_CREATED"]]
    assert engine.results("w", "report").to_dict("records") == [
        {"iteration": "", "status": "NOT_CREATED", "attempt": 0, "output": None}]
    engine.delete_breakpoint("w.fit")
    assert second.status is InstanceStatus.SUCCEEDED and engine.step_status("w", "report") == "SUCCEEDED"
    assert calls == Counter(data=1, fit=6, report=2)
    assert engine.sql("SELECT attempt, status FROM attempts WHERE step_id = 'report' AND run_id = 2"
                      " ORDER BY attempt").values.tolist() == [[0, "NOT_CREATED"], [1, "SUCCEEDED"]]
    with pytest.raises(MaestroError, match="unknown step 'reprt'; did you mean 'report'"):
        engine.step_status("w", "reprt")


def test_a_redone_step_behind_a_new_failure_is_blocked_not_the_old_result(engine, namespace, calls):
    broken = {"yes": False}
    _line_with_a_switch(engine, namespace, calls, broken)
    engine.run("w")
    broken["yes"] = True
    assert engine.restart("w", from_step="b").status is InstanceStatus.FAILED
    assert [engine.step_status("w", s) for s in "abc"] == ["SUCCEEDED", "USER_FAILED", "BLOCKED"]
    assert engine.results("w", "c").status.tolist() == ["NOT_CREATED"]  # run 1's success is not shown
    broken["yes"] = False
    assert engine.restart("w").status is InstanceStatus.SUCCEEDED  # from the failed and unfinished steps
    assert engine.results("w", "c").output.tolist() == [20] and calls == Counter(a=1, b=3, c=2)
