"""The read model: views of live instances agree with the state file, and paused attempts are
listed in display order with their holders and value previews."""

from __future__ import annotations

import math
import threading
from typing import Any

import pandas as pd
import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.readmodel import BLOCKED, NOT_STARTED, ReadModel, ValuePreview

SWEEP = {"params": {"n": 3}, "steps": [
    {"id": "load", "run": "load"},
    {"id": "train", "after": ["load"], "foreach": {"lr": [0.1, 0.2, 0.9], "depth": [1, 2]},
     "run": "train", "failure_mode": "ignore"},
    {"id": "best", "after": ["train"], "run": "best"},
]}

NESTED = {"steps": [
    {"id": "outer", "foreach": {"i": [1, 2, 3]}, "steps": [
        {"id": "inner", "foreach": {"j": "${range(i)}"}, "run": "inner"},
        {"id": "total", "after": ["inner"], "run": "total"},
    ]},
    {"id": "report", "after": ["outer"], "run": "report"},
]}

BRANCHES = {"steps": [
    {"id": "start", "run": "start"},
    {"id": "broken", "after": ["start"], "run": "broken"},
    {"id": "after_broken", "after": ["broken"], "noop": True},
    {"id": "skipped", "after": ["start"], "if": "${start < 0}", "noop": True},
    {"id": "unreached", "after": ["skipped"], "noop": True},
], "failure_mode": "fail_after_running"}


def sweep_code(namespace: dict[str, Any]) -> None:
    def load(n: int) -> int:
        return n

    def train(load: int, lr: float, depth: int) -> dict[str, float]:
        if lr > 0.5:
            raise ValueError(f"lr {lr} is too big")
        return {"score": lr * depth}

    def best(train: list) -> int:
        return len(train)

    def inner(i: int, j: int) -> int:
        return i * 10 + j

    def total(inner: list) -> int:
        return sum(inner)

    def report(outer: list) -> list:
        return outer

    def start() -> int:
        return 1

    def broken(start: int) -> None:
        raise RuntimeError("broken on purpose\nsecond line")

    namespace.update(load=load, train=train, best=best, inner=inner, total=total, report=report,
                     start=start, broken=broken)


def progress(view: Any) -> dict[str, tuple]:
    return {s.id: (s.status, dict(s.counts), s.total, s.error) for s in view.steps}


def reopened(db_path: str, namespace: dict[str, Any]) -> Engine:
    return Engine(db_path, namespace)


def test_a_sweep_paused_by_a_condition_shows_counts_holders_and_the_lowest_failed_error(engine, namespace):
    sweep_code(namespace)
    engine.define("tune", SWEEP)
    engine.set_breakpoint("tune.train", when="depth == 2", name="deep")
    engine.run("tune")
    model = ReadModel(engine)
    view = model.instance("tune")
    assert view.label == "tune#1" and view.word == "paused" and view.paused == 3
    assert progress(view) == {
        "load": ("SUCCEEDED", {"SUCCEEDED": 1}, 1, None),
        "train": ("PAUSED", {"SUCCEEDED": 2, "USER_FAILED": 1, "PAUSED": 3}, 6, "ValueError: lr 0.9 is too big"),
        "best": (NOT_STARTED, {}, None, None),
    }
    assert [s.breakpoints for s in view.steps] == [(), (1,), ()]
    page = model.paused(limit=2)
    assert page.total == 3 and [p.label for p in page.items] == ["tune#1 train[1]", "tune#1 train[3]"]
    first = page.items[0]
    assert first.held_by == ("deep",) and first.pause_point == "before"
    assert first.loop_params == {"lr": 0.1, "depth": 2}
    assert first.params["lr"] == ValuePreview("float", "0.1", True, 0.1)
    assert model.find_paused(first.key) is engine.paused()[0]
    assert model.paused(lr=0.2).total == 1 and model.paused(step="load").total == 0
    [bp] = model.breakpoints()
    assert (bp.name, bp.target, bp.when, bp.paused, bp.scope) == ("deep", "tune.train", "depth == 2", 3, "all instances")


def test_after_resume_the_key_no_longer_finds_the_attempt_and_counts_move(engine, namespace):
    sweep_code(namespace)
    engine.define("tune", SWEEP)
    engine.set_breakpoint("tune.train", when="depth == 2")
    engine.run("tune")
    model = ReadModel(engine)
    key = model.paused().items[0].key
    before = model.revision
    engine.resume(model.find_paused(key))
    assert model.find_paused(key) is None and model.revision > before
    assert progress(model.instance("tune"))["train"][1] == {"SUCCEEDED": 3, "USER_FAILED": 1, "PAUSED": 2}


def test_listed_rows_are_kept_while_their_attempts_show_the_same_and_rebuilt_when_they_move(engine, namespace):
    sweep_code(namespace)
    engine.define("tune", SWEEP)
    engine.set_breakpoint("tune.train", when="depth == 2", name="deep")
    wide = engine.set_breakpoint("tune.train", when="lr < 0.5", name="wide")
    engine.set_breakpoint("tune.train", pause="after", when="depth == 1", name="spent")
    engine.run("tune")
    model = ReadModel(engine)

    def listed() -> dict[str, Any]:
        return {p.key: p for p in model.paused(previews=False).items}

    def fresh() -> dict[str, Any]:
        return {p.key: p for p in (model.paused_view(a, previews=False) for a in engine.paused())}

    first = listed()
    assert len(first) == 5 and listed() == first and all(listed()[k] is v for k, v in first.items())
    (held_by_both,) = {p.held_by for p in first.values() if len(p.held_by) == 2}
    assert held_by_both == ("deep", "wide")

    resumed = next(p for p in first.values() if p.held_by == ("wide",))
    engine.resume(model.find_paused(resumed.key))  # it runs, and the same attempt pauses after
    second = listed()
    assert second == fresh() and (second[resumed.key].pause_point, second[resumed.key].held_by) == ("after", ("spent",))
    assert all(second[k] is v for k, v in first.items() if k != resumed.key)

    engine.delete_breakpoint(wide.id)  # what both held is held by one: its rows say so
    third = listed()
    assert third == fresh()
    for key, row in first.items():
        if row.held_by == held_by_both:
            assert third[key].held_by == ("deep",)
        elif row.held_by == ("deep",):
            assert third[key] is row


@pytest.mark.parametrize("definition, breakpoint", [
    (SWEEP, ("tune.train", "depth == 2")),
    (SWEEP, None),
    (NESTED, ("tune.total", None)),
    (NESTED, None),
    (BRANCHES, None),
])
def test_a_live_instance_reads_the_same_as_the_state_file_after_reopening(db_path, namespace, definition, breakpoint):
    sweep_code(namespace)
    engine = Engine(db_path, namespace)
    engine.define("tune", definition)
    if breakpoint is not None:
        engine.set_breakpoint(breakpoint[0], when=breakpoint[1])
    engine.run("tune")
    live = ReadModel(engine).instance("tune")
    live_summaries = ReadModel(engine).instances()
    engine.close()
    with Engine(db_path, namespace) as again:
        model = ReadModel(again)
        assert model.instances() == live_summaries
        assert progress(model.instance("tune")) == progress(live)


def test_a_failed_branch_blocks_its_successor_and_a_false_condition_skips(engine, namespace):
    sweep_code(namespace)
    engine.define("tune", BRANCHES)
    engine.run("tune")
    steps = progress(ReadModel(engine).instance("tune"))
    assert steps["broken"] == ("USER_FAILED", {"USER_FAILED": 1}, 1, "RuntimeError: broken on purpose")
    assert steps["after_broken"][0] == BLOCKED
    assert steps["skipped"][:2] == ("SKIPPED", {"SKIPPED": 1})
    assert steps["unreached"][:2] == ("UNSATISFIED", {"UNSATISFIED": 1})
    assert ReadModel(engine).instances()[0].word == "FAILED"


def test_steps_inside_a_foreach_body_sum_their_iterations(engine, namespace):
    sweep_code(namespace)
    engine.define("tune", NESTED)
    engine.set_breakpoint("tune.total", when="i == 2")
    engine.run("tune")
    view = ReadModel(engine).instance("tune")
    steps = {s.id: s for s in view.steps}
    assert (steps["inner"].depth, steps["inner"].parent, steps["inner"].iterations) == (1, "outer", True)
    assert dict(steps["inner"].counts) == {"SUCCEEDED": 6}
    assert dict(steps["total"].counts) == {"SUCCEEDED": 2, "PAUSED": 1}
    assert dict(steps["outer"].counts) == {"SUCCEEDED": 2, "PAUSED": 1} and steps["outer"].total == 3
    assert steps["outer"].status == "PAUSED" and steps["report"].status == NOT_STARTED


def test_instances_list_every_top_level_instance_with_live_statuses(engine, namespace):
    sweep_code(namespace)
    engine.define("tune", SWEEP)
    engine.define("parent", {"steps": [{"id": "child", "workflow": "tune"}]})
    engine.run("tune")
    engine.set_breakpoint("tune.best")
    engine.run("parent")
    engine.run("tune")
    rows = [(s.label, s.status, s.word, s.paused) for s in ReadModel(engine).instances()]
    assert rows == [
        ("parent#1", "IN_PROGRESS", "paused", 1),  # its sub-workflow's pause counts for it
        ("tune#1", "SUCCEEDED", "SUCCEEDED", 0),
        ("tune#3", "IN_PROGRESS", "paused", 1),
    ]
    assert [s.label for s in ReadModel(engine).instances("parent")] == ["parent#1"]


def test_workflows_show_the_latest_definition_with_breakpoint_marks(engine, namespace):
    engine.define("tune", SWEEP)
    engine.define("tune", {**SWEEP, "description": "second"})
    engine.set_breakpoint("tune.best", pause="after")
    [workflow] = ReadModel(engine).workflows()
    assert (workflow.name, workflow.version, workflow.description) == ("tune", 2, "second")
    assert [(s.id, s.status, s.breakpoints) for s in workflow.steps] == [
        ("load", NOT_STARTED, ()), ("train", NOT_STARTED, ()), ("best", NOT_STARTED, (1,))]
    assert workflow.to_json()["steps"][1]["label"] == "foreach lr, depth: run train"


@pytest.mark.parametrize("value, kind, editable", [
    (3, "int", True), (0.5, "float", True), (math.nan, "float", False), ("x", "str", True),
    (True, "bool", True), (None, "null", True), ([1, [2]], "list", True), ({"a": 1}, "dict", True),
    (list(range(2000)), "list", False), (pd.DataFrame({"a": [1, 2]}), "DataFrame", False),
    (object(), "object", False),
])
def test_value_previews_offer_small_json_values_for_editing(value, kind, editable):
    preview = ValuePreview.of(value)
    assert (preview.kind, preview.editable) == (kind, editable)
    assert "0x" not in preview.text
    assert ("value" in preview.to_json()) is editable


def test_reading_while_a_background_run_drives_never_fails_and_ends_exact(db_path, namespace):
    namespace["work"] = lambda i: i
    engine = Engine(db_path, namespace, executor="threads")
    engine.define("big", {"steps": [{"id": "work", "foreach": {"i": "${range(3000)}"}, "run": "work"}]})
    model = ReadModel(engine)
    engine.run("big", background=True)
    errors: list[BaseException] = []
    reads = 0

    def read() -> None:
        nonlocal reads
        while engine.busy:
            try:
                model.instance("big")
                model.instances()
                model.paused(limit=20)
                reads += 1
            except BaseException as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    assert engine.wait(timeout=300)
    reader.join(timeout=60)
    assert not errors
    [work] = model.instance("big").steps
    assert (work.status, dict(work.counts), work.total) == ("SUCCEEDED", {"SUCCEEDED": 3000}, 3000)
    engine.close()


CRASHING = '''
import os, sys, time
from maestro_nb.engine.engine import Engine

db, marker = sys.argv[1:3]
engine = Engine(db, {})

def work(i):
    if i == 5:
        engine.flush()  # what ran so far is in the file: the crash comes after it
        open(marker, "w").close()
        time.sleep(600)
    return i

engine.namespace["work"] = work
engine.define("sweep", {"steps": [{"id": "work", "foreach": {"i": "${range(10)}"}, "run": "work"},
                                  {"id": "after", "after": ["work"], "noop": True}]})
engine.run("sweep")
'''


@pytest.mark.slow
def test_after_a_crash_the_recovered_instance_shows_its_interrupted_attempts_as_stored(tmp_path, namespace):
    import signal
    import subprocess
    import sys
    import time

    script, db, marker = tmp_path / "crash.py", str(tmp_path / "state.duckdb"), tmp_path / "blocked"
    script.write_text(CRASHING)
    child = subprocess.Popen([sys.executable, str(script), db, str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline, "the sweep never reached iteration 5"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    namespace["work"] = lambda i: i
    with Engine(db, namespace) as engine:
        model = ReadModel(engine)
        steps = {s.id: s for s in model.instance("sweep").steps}
        stored = {status: n for step, status, n, _ in engine.store.step_progress("sweep", 1) if step == "work"}
        assert dict(steps["work"].counts) == stored == {"SUCCEEDED": 5, "INTERRUPTED": 5}
        assert steps["after"].status == NOT_STARTED
        engine.recover()
        steps = {s.id: s for s in model.instance("sweep").steps}
        assert dict(steps["work"].counts) == {"SUCCEEDED": 10} and steps["after"].status == "SUCCEEDED"


def test_an_attempt_paused_at_its_error_shows_the_failure_as_plain_data(engine, namespace):
    sweep_code(namespace)
    engine.define("tune", SWEEP)
    engine.set_breakpoint("tune.train", pause="error")
    engine.run("tune")
    model = ReadModel(engine)
    page = model.paused()
    failed = page.items[0]
    assert page.total == 2 and [p.pause_point for p in page.items] == ["error", "error"]
    assert (failed.label, failed.pause_point, failed.error) == ("tune#1 train[4]", "error", "ValueError: lr 0.9 is too big")
    assert (failed.error_type, failed.error_message) == ("ValueError", "lr 0.9 is too big")
    assert failed.traceback.startswith("Traceback (most recent call last):") and "in train" in failed.traceback
    as_json = failed.to_json()
    assert (as_json["error_type"], as_json["error_message"], as_json["traceback"]) == (
        "ValueError", "lr 0.9 is too big", failed.traceback)
    assert progress(model.instance("tune"))["train"][:2] == ("PAUSED", {"SUCCEEDED": 4, "PAUSED": 2})


def test_after_a_restart_a_stored_instance_shows_what_it_redoes_as_not_started(db_path, namespace):
    sweep_code(namespace)
    engine = Engine(db_path, namespace)
    engine.define("tune", SWEEP)
    engine.run("tune")
    engine.set_breakpoint("tune.train", iteration=0)
    engine.restart("tune", from_step="train")
    engine.stop("tune")  # run 2 ends before `best` runs again: its run-1 result is not its result
    engine.close()
    with reopened(db_path, namespace) as again:
        view = ReadModel(again).instance("tune")
        assert [(s.id, s.status) for s in view.steps] == [
            ("load", "SUCCEEDED"), ("train", "STOPPED"), ("best", NOT_STARTED)]
        assert again.step_status("tune", "best") == "NOT_CREATED"
