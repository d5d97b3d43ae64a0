"""Paused attempts survive a new Engine and a new process; a value that was not persisted is
reported, and resume refuses it rather than replace it silently."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import ParamError, StateError
from maestro_nb.store.values import NotPersisted

from .bp_support import (
    LINE, SWEEP, Calls, instance_status, labels, line_steps, row_counts, stored, sweep_steps,
)

ROOT = Path(__file__).resolve().parents[2]


class Model:
    """An object that is not JSON-native: kept in memory only."""

    def __init__(self, weight: int):
        self.weight = weight


@pytest.fixture
def calls() -> Calls:
    return Calls()


def test_paused_attempts_and_their_holds_survive_a_new_engine(engine, namespace, calls, db_path):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    everything = engine.set_breakpoint("wf.train")
    high = engine.set_breakpoint("wf.train", when="lr > 0.05")
    engine.run("wf")
    engine.run("wf")
    engine.close()
    with Engine(db_path, namespace) as again:
        assert [bp.id for bp in again.breakpoints()] == [everything.id, high.id]
        assert len(again.paused()) == 6
        assert again.status_word(again.instance("wf", 2)) == "paused"
        again.delete_breakpoint(everything.id)
        assert sorted((a.instance.instance_id, a.params["lr"]) for a in again.paused()) == [
            (1, 0.1), (1, 0.2), (2, 0.1), (2, 0.2)]
        again.resume(again.paused(instance=2))
        assert again.instance("wf", 2).status.value == "SUCCEEDED"
        assert again.status_word(again.instance("wf", 1)) == "paused"
    assert calls[("train", 0.01)] == 2 and calls[("train", 0.1)] == 1 and calls["best"] == 1


def test_keep_paused_and_step_holds_survive_a_new_engine(engine, namespace, calls, db_path):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    engine.set_breakpoint("line.a")
    engine.run("line")
    engine.run("line")
    engine.resume(engine.paused(instance=1), step=True)  # instance 1 now paused at b by the step
    engine.delete_breakpoint("line.a", keep_paused=True)  # instance 2 stays paused at a
    engine.close()
    with Engine(db_path, namespace) as again:
        assert labels(again.paused()) == ["line#1 b", "line#2 a"]
        assert again.breakpoints() == []
        again.resume(again.paused())
        assert [i.status.value for i in again.instances()] == ["SUCCEEDED", "SUCCEEDED"]
    assert [calls["a"], calls["b"], calls["c"]] == [2, 2, 2]


FIRST_HALF = """
import os, sys
from maestro_nb.engine.engine import Engine

def load(scale):
    return [scale]

def train(load, lr):
    assert lr == 0.01, "only the unpaused iteration runs in the first process"
    return {"lr": lr, "score": 0}

eng = Engine(sys.argv[1], {"load": load, "train": train})
eng.define("wf", SWEEP)
eng.set_breakpoint("wf.train", when="lr > 0.05")
eng.run("wf", {"scale": 3})
(a,) = eng.paused(lr=0.1)
eng.set_param(a, "lr", 0.7)
print(len(eng.paused()), flush=True)
os._exit(0)  # no close(): the pause and the mutation were flushed already
"""


@pytest.mark.slow
def test_pause_and_mutation_survive_the_process_and_resume_in_another(namespace, calls, db_path):
    script = "SWEEP = " + repr(SWEEP) + "\n" + textwrap.dedent(FIRST_HALF)
    done = subprocess.run([sys.executable, "-c", script, db_path], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    sweep_steps(namespace, calls)
    with Engine(db_path, namespace) as again:
        held = {a.loop_params["lr"]: a for a in again.paused()}
        assert sorted(held) == [0.1, 0.2]
        assert held[0.1].params == {"load": [3], "lr": 0.7}
        assert stored(again, "wf", "train")[("0", 1)] == "SUCCEEDED"
        again.delete_breakpoint("wf.train")
        assert again.instance("wf", 1).status.value == "SUCCEEDED"
    assert [calls[("train", lr)] for lr in (0.01, 0.1, 0.7, 0.2)] == [0, 0, 1, 1]
    assert calls["best"] == 1


def _object_output(engine, namespace, calls, db_path):
    """`make` returns an object; the breakpoint pauses after it, so its output is in memory only."""
    namespace["make"] = lambda: Model(3)
    namespace["use"] = lambda make: calls.add("use", getattr(make, "weight", make)) or 0
    engine.define("obj", {"steps": [{"id": "make", "run": "make"}, {"id": "use", "after": ["make"], "run": "use"}]})
    engine.set_breakpoint("obj.make", pause="after")
    engine.run("obj")
    (a,) = engine.paused()
    assert isinstance(a.output, Model)
    engine.close()
    return Engine(db_path, namespace)


def test_resume_refuses_an_output_that_was_not_persisted(engine, namespace, calls, db_path):
    with _object_output(engine, namespace, calls, db_path) as again:
        (a,) = again.paused()
        assert isinstance(a.output, NotPersisted)
        counts = row_counts(again)
        with pytest.raises(StateError, match=r"output \(.*Model\) was not persisted") as info:
            again.resume(a)
        assert "\n" not in info.value.message and "set its output" in info.value.message
        assert again.paused() == [a] and row_counts(again) == counts
        assert calls["use"] == 0
        with pytest.raises(ParamError, match="cannot take a"):
            again.set_output(a, Model(5))  # a mutation must be storable itself
        again.set_output(a, 5)  # the fix the message asks for
        again.resume(a)
        assert calls.seen == [5] and again.instance("obj", 1).status.value == "SUCCEEDED"


def test_deleting_the_breakpoint_keeps_an_unpersisted_attempt_paused(engine, namespace, calls, db_path):
    with _object_output(engine, namespace, calls, db_path) as again:
        (a,) = again.paused()
        assert again.delete_breakpoint("obj.make") == []
        assert again.paused() == [a] and calls["use"] == 0
        refused = again.sql("SELECT detail FROM events WHERE kind = 'resume_refused'")
        assert len(refused) == 1 and "not persisted" in refused.detail[0]
        again.retry(a)  # or start the step again: a new attempt computes a fresh output
        assert calls.seen == [3] and again.instance("obj", 1).status.value == "SUCCEEDED"


def test_resume_refuses_a_param_that_was_not_persisted(engine, namespace, calls, db_path):
    namespace["make"] = lambda: calls.add("make") or Model(4)
    namespace["use"] = lambda make: calls.add("use", make.weight) or make.weight
    engine.define("obj", {"steps": [{"id": "make", "run": "make"}, {"id": "use", "after": ["make"], "run": "use"}]})
    engine.set_breakpoint("obj.use")
    engine.run("obj")
    engine.close()
    with Engine(db_path, namespace) as again:
        assert again.recovery_report == ["obj#1: outputs of make were kept in memory only and will be computed again"]
        again.recover()  # `make` runs again; `use` is still paused, with the param it had
        assert calls["make"] == 2
        (a,) = again.paused()
        assert isinstance(a.params["make"], NotPersisted)
        with pytest.raises(StateError, match=r"param 'make' \(.*Model\) was not persisted"):
            again.resume(a)
        assert again.paused() == [a] and calls["use"] == 0
        again.flush()
    with Engine(db_path, namespace) as third:  # still named after what was lost, not NotPersisted
        third.recover()
        (a,) = third.paused()
        assert a.params["make"] == NotPersisted(f"{__name__}.Model")
        third.retry(a)  # bound afresh from the recomputed upstream, and checked again
        (b,) = third.paused()
        assert b.number == 2 and b.params["make"].weight == 4
        third.delete_breakpoint("obj.use")
        assert calls.seen[-1] == 4 and third.instance("obj", 1).status.value == "SUCCEEDED"


def _crash(script: str, db_path: str) -> subprocess.CompletedProcess[str]:
    """Run `script` (argv[1] = the state file) in a process that dies without close()."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), db_path], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


PAUSED_CHILD = """
import os, sys
from maestro_nb.engine.engine import Engine

eng = Engine(sys.argv[1], {"c1": lambda: 1, "c2": lambda c1: c1 + 1})
eng.define("child", {"steps": [{"id": "c1", "run": "c1"}, {"id": "c2", "after": ["c1"], "run": "c2"}]})
eng.define("parent", {"steps": [{"id": "sub", "workflow": "child"}]})
eng.set_breakpoint("child.c2")
eng.run("parent")
(a,) = eng.paused()
eng.set_param(a, "c1", 41)
eng.flush()
os._exit(0)  # the crash, while child#1 is paused
"""


@pytest.mark.slow
def test_a_paused_sub_workflow_survives_a_crash_with_its_mutation(namespace, db_path):
    done = _crash(PAUSED_CHILD, db_path)
    assert done.returncode == 0, done.stderr
    calls = Calls()
    namespace.update(c1=lambda: calls.add("c1") or 1, c2=lambda c1: calls.add("c2", c1) or c1 + 1)
    with Engine(db_path, namespace) as again:
        (a,) = again.paused()  # back at once, in the same child instance, with its changed param
        assert (a.instance.label, a.step_id, a.params["c1"]) == ("child#1", "c2", 41)
        again.recover()
        assert again.paused() == [a] and calls.total() == 0  # c1's success is not run again
        again.resume(a)
        assert calls.seen == [41] and calls.total() == 1
        assert again.instance("parent", 1).status.value == "SUCCEEDED"
        assert again.results("parent", "sub").c2.tolist() == [42]
        children = again.sql("SELECT instance_id, status FROM instances WHERE workflow = 'child'")
        assert children.values.tolist() == [[1, "SUCCEEDED"]]  # re-attached, not started again


DELETE_THEN_CRASH = """
import os, sys
from maestro_nb.engine.engine import Engine

crash = []

def work(i):
    if crash:
        os._exit(1)  # the crash: the deletion is stored, no released attempt has run
    return i

eng = Engine(sys.argv[1], {"work": work})
eng.define("wf", {"steps": [{"id": "w", "foreach": {"i": [0, 1, 2, 3]}, "run": "work"}]})
eng.set_breakpoint("wf.w")
eng.run("wf")
crash.append(True)
eng.delete_breakpoint("wf.w")
"""


@pytest.mark.slow
def test_attempts_released_by_a_deletion_before_a_crash_run_on_recover(namespace, calls, db_path):
    done = _crash(DELETE_THEN_CRASH, db_path)
    assert done.returncode == 1, done.stderr
    namespace["work"] = lambda i: calls.add(i) or i
    with Engine(db_path, namespace) as again:
        assert again.breakpoints() == []
        again.recover()
        assert again.paused() == [], "released attempts are held paused with no breakpoint"
        assert again.instance("wf", 1).status.value == "SUCCEEDED"
        latest = again.sql("SELECT iteration, status FROM iterations WHERE step_id = 'w'").values.tolist()
        assert sorted(latest) == [["0", "SUCCEEDED"], ["1", "SUCCEEDED"], ["2", "SUCCEEDED"], ["3", "SUCCEEDED"]]
    assert sorted(calls.seen) == [0, 1, 2, 3]


RELEASE_THEN_CRASH = """
import os, sys
from maestro_nb.engine.engine import Engine

class Model:  # not JSON-native: `use`'s param is kept in memory only
    pass

def use(load):
    os._exit(1)  # the crash, while the released attempt runs

eng = Engine(sys.argv[1], {"load": Model, "use": use})
eng.define("w", {"steps": [{"id": "load", "run": "load"}, {"id": "use", "after": ["load"], "run": "use"}]})
eng.set_breakpoint("w.use")
eng.run("w")
eng.delete_breakpoint("w.use")
"""


@pytest.mark.slow
def test_an_attempt_released_on_reopening_with_a_lost_param_stays_paused(namespace, calls, db_path):
    """Its breakpoint was deleted, so reopening releases it; but its param was not persisted:
    it must not run with the placeholder."""
    done = _crash(RELEASE_THEN_CRASH, db_path)
    assert done.returncode == 1, done.stderr
    namespace["load"] = lambda: "fresh model"
    namespace["use"] = lambda load: calls.add("use", load) or 1
    with Engine(db_path, namespace) as again:
        assert again.breakpoints() == []
        again.recover()
        assert calls["use"] == 0, "it ran with a placeholder for the lost param"
        (a,) = again.paused()
        assert a.step_id == "use" and isinstance(a.params["load"], NotPersisted)
        assert again.instance("w", 1).status.value == "IN_PROGRESS"
        refused = again.sql("SELECT step_id, detail FROM events WHERE kind = 'resume_refused'")
        assert refused.step_id.tolist() == ["use"] and "not persisted" in refused.detail[0]
        again.retry(a)  # a new attempt binds the recomputed value
        assert calls.seen == ["fresh model"] and again.instance("w", 1).status.value == "SUCCEEDED"


def test_a_failure_before_a_pause_still_counts_against_retries_after_reopening(namespace, db_path):
    seen = []

    def flaky(i):
        seen.append(i)
        raise ValueError("still broken")

    namespace["flaky"] = flaky
    engine = Engine(db_path, namespace)
    engine.define("wf", {"steps": [{"id": "s", "run": "flaky", "params": {"i": 1}, "retry": {"limit": 1}}]})
    engine.set_breakpoint("wf.s", when="i == 1")  # pauses every attempt, the retry too
    engine.run("wf")
    engine.resume(engine.paused())  # attempt 1 fails; its retry, attempt 2, pauses
    assert [a.number for a in engine.paused()] == [2]
    engine.close()
    with Engine(db_path, namespace) as again:
        again.delete_breakpoint("wf.s")  # attempt 2 runs and fails: the one retry is used up
        assert again.instance("wf", 1).status.value == "FAILED"
        stored = again.sql("SELECT attempt, status FROM attempts ORDER BY attempt").values.tolist()
    assert stored == [[1, "USER_FAILED"], [2, "USER_FAILED"]] and seen == [1, 1]
