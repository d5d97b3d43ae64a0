"""What can be done to paused attempts: resume one or all, delete breakpoints (and keep
paused), several breakpoints on one attempt, step, skip, stop, retry; no stale pause record."""

from __future__ import annotations

import pytest

import maestro_nb.engine.scheduler as scheduler_module
from maestro_nb.errors import StateError
from maestro_nb.models.status import StepStatus

from .bp_support import (
    LINE, NESTED, SWEEP, Calls, instance_status, labels, line_steps, nested_steps, stored, sweep_steps,
)

S = StepStatus


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def sweep(engine, namespace, calls):
    sweep_steps(namespace, calls)
    engine.define("wf", SWEEP)
    return engine


@pytest.fixture
def line(engine, namespace, calls):
    line_steps(namespace, calls)
    engine.define("line", LINE)
    return engine


def assert_not_paused(engine, attempt, bp=None, status: str | None = None) -> None:
    """No pause record anywhere: the live collection, the breakpoint, the store."""
    assert attempt not in engine.paused()
    assert attempt.paused_by == set()
    for each in engine.breakpoints() + ([bp] if bp is not None else []):
        assert attempt not in each.paused
    rows = stored(engine, attempt.workflow, attempt.step_id, attempt.instance.instance_id)
    if status is not None:
        assert rows[(attempt.iteration, attempt.number)] == status
    assert rows[(attempt.iteration, attempt.number)] != "PAUSED"


# --------------------------------------------------------------------------- resume
def test_resume_one_attempt_leaves_the_others_paused_and_runs_it_once(sweep, calls):
    bp = sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    sweep.run("wf")
    target = sweep.paused(instance=2, lr=0.1)
    assert len(target) == 1
    sweep.resume(target)
    assert calls[("train", 0.1)] == 1 and calls["best"] == 0
    assert len(sweep.paused()) == 5 and target[0] not in sweep.paused()
    assert_not_paused(sweep, target[0], bp, "SUCCEEDED")
    assert len(bp.paused) == 5


def test_resume_every_attempt_at_a_step(sweep, calls):
    sweep.set_breakpoint("wf.train")
    instance = sweep.run("wf")
    sweep.resume(sweep.paused(step="train"))
    assert [calls[("train", lr)] for lr in (0.01, 0.1, 0.2)] == [1, 1, 1]
    assert calls["best"] == 1 and instance.status.value == "SUCCEEDED"
    assert sweep.paused() == []


def test_resume_uses_the_code_redefined_while_paused(line, namespace, calls):
    line.set_breakpoint("line.b")
    instance = line.run("line")
    namespace["step_b"] = lambda a: a * 1000  # the fix, made in the notebook while paused
    line.resume(line.paused())
    assert calls["b"] == 0 and calls.seen[-1] == 1000
    assert instance.status.value == "SUCCEEDED"


# --------------------------------------------------------------------------- delete
def test_deleting_a_breakpoint_resumes_every_attempt_it_paused(sweep, calls):
    bp = sweep.set_breakpoint("wf.train")
    first, second = sweep.run("wf"), sweep.run("wf")
    released = sweep.delete_breakpoint("wf.train")
    assert len(released) == 6 and sweep.paused() == [] and sweep.breakpoints() == []
    assert all(a.status is S.SUCCEEDED for a in released)
    assert [calls[("train", lr)] for lr in (0.01, 0.1, 0.2)] == [2, 2, 2]
    assert first.status.value == second.status.value == "SUCCEEDED"
    assert bp.paused == set()
    assert len(sweep.sql("SELECT * FROM breakpoints")) == 0


def test_delete_with_keep_paused_does_not_resume(sweep, calls):
    sweep.set_breakpoint("wf.train")
    instance = sweep.run("wf")
    assert sweep.delete_breakpoint("wf.train", keep_paused=True) == []
    assert sweep.breakpoints() == [] and len(sweep.sql("SELECT * FROM breakpoints")) == 0
    held = sweep.paused()
    assert len(held) == 3 and calls.total() == 1
    assert set(stored(sweep, "wf", "train").values()) == {"PAUSED"}
    sweep.resume(held)
    assert calls.total() == 5 and instance.status.value == "SUCCEEDED"


def test_attempt_held_by_several_breakpoints_resumes_when_the_last_is_deleted(sweep, calls):
    everything = sweep.set_breakpoint("wf.train")
    high = sweep.set_breakpoint("wf.train", when="lr > 0.05")
    sweep.run("wf")
    assert {a.params["lr"]: a.paused_by for a in sweep.paused()} == {
        0.01: {everything.id}, 0.1: {everything.id, high.id}, 0.2: {everything.id, high.id}}
    released = sweep.delete_breakpoint(everything)
    assert [a.params["lr"] for a in released] == [0.01]  # Maestro would release all three here
    assert sorted(a.params["lr"] for a in sweep.paused()) == [0.1, 0.2]
    assert all(a.paused_by == {high.id} for a in sweep.paused())
    assert calls[("train", 0.1)] == 0
    paused_by = sweep.sql("SELECT paused_by FROM attempts WHERE status = 'PAUSED'").paused_by
    assert [list(p) for p in paused_by] == [[high.id], [high.id]]
    assert len(sweep.delete_breakpoint(high)) == 2
    assert calls[("train", 0.1)] == calls[("train", 0.2)] == 1 and sweep.paused() == []


def test_keep_paused_applies_to_what_that_deletion_would_release(sweep, calls):
    """`other` still holds the attempt when `one` goes with keep_paused; deleting `other`
    (resume=true) is then the last deletion, and it releases the attempt."""
    one = sweep.set_breakpoint("wf.train", iteration=1)
    other = sweep.set_breakpoint("wf.train", when="lr == 0.1")
    sweep.run("wf")
    (a,) = sweep.paused()
    sweep.delete_breakpoint(one, keep_paused=True)
    assert sweep.paused() == [a] and a.paused_by == {other.id}
    assert sweep.delete_breakpoint(other) == [a]
    assert calls[("train", 0.1)] == 1 and sweep.paused() == []


def test_keep_paused_then_a_new_breakpoint_deleted_does_not_release_the_kept(sweep, calls):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    sweep.delete_breakpoint("wf.train", keep_paused=True)
    later = sweep.set_breakpoint("wf.train")
    assert sweep.delete_breakpoint(later) == []
    assert len(sweep.paused()) == 3 and calls.total() == 1


# --------------------------------------------------------------------------- step
def test_step_pauses_again_at_the_next_step_of_the_same_instance(line, calls):
    line.set_breakpoint("line.a")
    instance = line.run("line")
    line.run("line")
    (a,) = line.paused(instance=1)
    line.resume(a, step=True)
    assert calls["a"] == 1 and calls["b"] == 0
    assert labels(line.paused()) == ["line#1 b", "line#2 a"]
    (b,) = line.paused(instance=1)
    assert b.pause_point == "before" and b.params == {"a": 1}
    line.resume(b, step=True)
    (c,) = line.paused(instance=1)
    assert c.step_id == "c" and calls["b"] == 1 and calls["c"] == 0
    line.resume(c)
    assert instance.status.value == "SUCCEEDED" and calls.total() == 3
    (other,) = line.paused()
    line.resume(other)  # instance 2 was never stepped: it runs through
    assert line.paused() == [] and calls.total() == 6


def test_step_from_a_foreach_iteration_pauses_at_the_join(sweep, calls):
    sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    first, *rest = sorted(sweep.paused(), key=lambda a: a.index)
    sweep.resume(first, step=True)
    assert sorted(a.index for a in sweep.paused()) == [1, 2]
    sweep.resume(rest)
    (best,) = sweep.paused()
    assert best.step_id == "best" and calls["best"] == 0
    assert [r["lr"] for r in best.params["train"]] == [0.01, 0.1, 0.2]


def test_step_into_a_foreach_pauses_each_iteration_once_not_its_retries(engine, namespace):
    seen, failed = [], []

    def t(x):
        seen.append(x)
        if x == 1 and not failed:
            failed.append(x)
            raise RuntimeError("first try of x=1 fails")
        return x

    namespace.update(a=lambda: 0, t=t, b=lambda t: sum(t))
    engine.define("w", {"steps": [
        {"id": "a", "run": "a"},
        {"id": "t", "after": ["a"], "foreach": {"x": [0, 1, 2]}, "run": "t", "retry": {"limit": 1}},
        {"id": "b", "after": ["t"], "run": "b"},
    ]})
    engine.set_breakpoint("w.a")
    instance = engine.run("w")
    engine.resume(engine.paused(), step=True)
    assert sorted(a.iteration for a in engine.paused()) == ["0", "1", "2"] and seen == []
    engine.resume(engine.paused())
    assert engine.paused() == []  # attempt 2 of t[1] is a retry, not the next step
    assert seen == [0, 1, 2, 1] and instance.status.value == "SUCCEEDED"


def test_step_into_a_nested_foreach_pauses_at_the_entry_steps_of_its_body(engine, namespace, calls):
    nested_steps(namespace, calls)
    namespace["prep"] = lambda: 0
    steps = [{"id": "prep", "run": "prep"}] + [
        dict(s, after=["prep"]) if s["id"] == "outer" else s for s in NESTED["steps"]]
    engine.define("n", {"steps": steps})
    engine.set_breakpoint("n.prep")
    instance = engine.run("n")
    engine.resume(engine.paused(), step=True)
    assert sorted(a.iteration for a in engine.paused()) == ["0/0", "1/0", "1/1", "2/0", "2/1", "2/2"]
    assert {a.step_id for a in engine.paused()} == {"inner"} and calls.total() == 0
    engine.resume(engine.paused())
    assert engine.paused() == [] and calls["report"] == 1 and instance.status.value == "SUCCEEDED"


def test_a_step_hold_outlives_the_deletion_of_a_breakpoint_on_the_same_attempt(line, calls):
    line.set_breakpoint("line.a")
    b_bp = line.set_breakpoint("line.b")
    line.run("line")
    line.resume(line.paused(), step=True)
    (b,) = line.paused()
    assert b_bp.id in b.paused_by and len(b.paused_by) == 2
    assert line.delete_breakpoint(b_bp) == []
    assert line.paused() == [b] and calls["b"] == 0
    line.resume(b)
    assert calls["c"] == 1


# --------------------------------------------------------------------------- skip, stop, retry
def test_skip_without_output(line, calls):
    bp = line.set_breakpoint("line.b")
    instance = line.run("line")
    (b,) = line.paused()
    line.skip(b)
    assert_not_paused(line, b, bp, "SKIPPED")
    assert calls["b"] == calls["c"] == 0
    assert stored(line, "line", "c") == {("", 1): "UNSATISFIED"}
    assert instance.status.value == "SUCCEEDED"


def test_skip_with_output_feeds_the_successors(line, calls):
    bp = line.set_breakpoint("line.b")
    instance = line.run("line")
    (b,) = line.paused()
    line.skip(b, output=42)
    assert_not_paused(line, b, bp, "SKIPPED")
    assert calls["b"] == 0 and calls.seen[-1] == 42
    assert instance.status.value == "SUCCEEDED"


def test_skip_a_foreach_iteration_with_output(sweep, calls):
    bp = sweep.set_breakpoint("wf.train")
    sweep.run("wf")
    (mid,) = sweep.paused(lr=0.1)
    sweep.skip(mid, output={"lr": 0.1, "score": 99})
    assert_not_paused(sweep, mid, bp, "SKIPPED")
    sweep.delete_breakpoint(bp)
    assert calls["best"] == 1 and [r["score"] for r in calls.seen[-1]] == [0.1, 99, 2.0]


def test_stop_a_paused_attempt(line, calls):
    bp = line.set_breakpoint("line.b")
    instance = line.run("line")
    (b,) = line.paused()
    line.stop_attempts(b)
    assert_not_paused(line, b, bp, "STOPPED")
    assert calls["b"] == calls["c"] == 0
    assert instance.status.value == "STOPPED" == instance_status(line, "line")


def test_retry_a_paused_attempt_is_checked_again(line, calls):
    bp = line.set_breakpoint("line.b")
    instance = line.run("line")
    (b1,) = line.paused()
    line.retry(b1)
    (b2,) = line.paused()
    assert b2.number == 2 and b2 is not b1 and bp.paused == {b2}
    assert_not_paused(line, b1, bp, "STOPPED")
    assert stored(line, "line", "b") == {("", 1): "STOPPED", ("", 2): "PAUSED"}
    line.delete_breakpoint(bp)
    assert calls["b"] == 1 and instance.status.value == "SUCCEEDED"


def test_stopping_the_instance_ends_its_paused_attempts(line, calls):
    bp = line.set_breakpoint("line.b")
    instance = line.run("line")
    (b,) = line.paused()
    line.stop("line", 1)
    assert_not_paused(line, b, bp, "STOPPED")
    assert instance.status.value == "STOPPED" == instance_status(line, "line")
    assert len(line.sql("SELECT * FROM steps WHERE paused > 0")) == 0


def test_step_from_the_last_step_of_a_foreach_body_pauses_after_the_foreach(engine, namespace, calls):
    nested_steps(namespace, calls)
    engine.define("n", NESTED)
    bp = engine.set_breakpoint("n.total")
    engine.run("n")
    engine.delete_breakpoint(bp, keep_paused=True)
    first, *rest = engine.paused()
    engine.resume(first, step=True)
    engine.resume(rest)
    assert [a.label for a in engine.paused()] == ["n#1 report"] and calls["report"] == 0


# --------------------------------------------------------------------------- released attempts run from the loop
def test_fail_immediately_holds_after_resuming_every_attempt(engine, namespace):
    seen = []

    def work(i):
        seen.append(i)
        if i == 0:
            raise RuntimeError("bad")
        return i

    namespace["work"] = work
    engine.define("wf", {"failure_mode": "fail_immediately",
                         "steps": [{"id": "w", "foreach": {"i": [0, 1, 2, 3]}, "run": "work"}]})
    engine.set_breakpoint("wf.w")
    instance = engine.run("wf")
    assert len(engine.paused()) == 4 and seen == []
    engine.resume(engine.paused())
    assert seen == [0], "a failing released iteration stops the others"
    assert instance.status.value == "FAILED" == instance_status(engine, "wf")
    assert stored(engine, "wf", "w") == {
        ("0", 1): "USER_FAILED", ("1", 1): "STOPPED", ("2", 1): "STOPPED", ("3", 1): "STOPPED"}
    assert engine.paused() == []


def test_a_long_resumed_sweep_flushes_successes_at_the_flush_interval(engine, namespace, monkeypatch):
    namespace["work"] = lambda i: i
    engine.define("wf", {"steps": [{"id": "w", "foreach": {"i": list(range(20))}, "run": "work"}]})
    engine.set_breakpoint("wf.w")
    instance = engine.run("wf")
    monkeypatch.setattr(scheduler_module, "FLUSH_INTERVAL", 0)
    succeeded_per_append: list[int] = []

    def counting(real):
        def append(batches):
            succeeded_per_append.append(sum(
                1 for table, rows in batches if table == "attempt_log" for row in rows if row[8] == "SUCCEEDED"))
            return real(batches)
        return append

    # Flushes while busy are written behind the run, the last one in place: count both.
    monkeypatch.setattr(engine.store, "append_together", counting(engine.store.append_together))
    monkeypatch.setattr(engine.store, "append_behind", counting(engine.store.append_behind))
    engine.resume(engine.paused())
    monkeypatch.undo()
    assert instance.status.value == "SUCCEEDED"
    assert sum(succeeded_per_append) == 20
    assert len([n for n in succeeded_per_append if n]) > 1, "every success waited for the end of the sweep"


# --------------------------------------------------------------------------- sub-workflows of an ending parent
@pytest.fixture
def child_calls(engine, namespace) -> list[str]:
    """`child` (c1 -> c2) with a breakpoint on c2; the list records the calls of c1 and c2."""
    ran: list[str] = []

    def c1():
        ran.append("c1")
        return 1

    def c2(c1):
        ran.append("c2")
        return c1 + 1

    def boom():
        raise RuntimeError("x")

    namespace.update(c1=c1, c2=c2, boom=boom)
    engine.define("child", {"steps": [{"id": "c1", "run": "c1"}, {"id": "c2", "after": ["c1"], "run": "c2"}]})
    engine.set_breakpoint("child.c2")
    return ran


def assert_child_stopped(engine) -> None:
    assert engine.paused() == []
    assert instance_status(engine, "child") == "STOPPED"
    assert stored(engine, "child", "c2") == {("", 1): "STOPPED"}
    assert len(engine.sql("SELECT * FROM steps WHERE paused > 0")) == 0


def test_a_parent_failing_fast_stops_its_paused_sub_workflow(engine, child_calls):
    engine.define("parent", {"failure_mode": "fail_immediately",
                             "steps": [{"id": "sub", "workflow": "child"}, {"id": "other", "run": "boom"}]})
    instance = engine.run("parent")
    assert instance.status.value == "FAILED" == instance_status(engine, "parent")
    assert_child_stopped(engine)
    assert child_calls == ["c1"]


def test_stopping_a_parent_stops_its_paused_sub_workflow(engine, child_calls):
    engine.define("parent", {"steps": [{"id": "sub", "workflow": "child"},
                                       {"id": "after_sub", "after": ["sub"], "run": "c1"}]})
    instance = engine.run("parent")
    assert labels(engine.paused()) == ["child#1 c2"]
    engine.stop("parent")
    assert instance.status.value == "STOPPED" == instance_status(engine, "parent")
    assert_child_stopped(engine)
    assert child_calls == ["c1"]


# --------------------------------------------------------------------------- regressions
def test_the_step_after_a_foreach_waits_for_paused_iterations_whose_last_step_is_skipped(engine, namespace):
    """Iterations 0 and 1 end at once (their last step's `if:` is false): each was counted
    finished twice, so `z` ran while iterations 2 and 3 were still paused."""
    order: list = []
    namespace["a"] = lambda i: order.append(("a", i)) or i
    namespace["z"] = lambda loop: order.append(("z", loop)) or 0
    engine.define("w", {"steps": [
        {"id": "loop", "foreach": {"i": [0, 1, 2, 3]}, "steps": [
            {"id": "a", "run": "a"},
            {"id": "b", "after": ["a"], "if": "${a > 100}", "noop": None},
        ]},
        {"id": "z", "after": ["loop"], "run": "z"},
    ]})
    engine.set_breakpoint("w.a", when="i >= 2")
    instance = engine.run("w")
    assert labels(engine.paused()) == ["w#1 a[2]", "w#1 a[3]"]
    assert order == [("a", 0), ("a", 1)], "z ran while iterations were paused"
    node = instance.root.nodes["loop"]
    assert (node.finished, node.total) == (2, 4)
    assert engine.status_word(instance) == "paused"
    engine.resume(engine.paused())
    assert instance.status.value == "SUCCEEDED" == instance_status(engine, "w")
    assert order[2:] == [("a", 2), ("a", 3), ("z", [None, None, None, None])]
    assert (node.finished, node.total, node.active) == (4, 4, 0)
    assert stored(engine, "w", "z") == {("", 1): "SUCCEEDED"}


def test_the_step_after_a_foreach_waits_for_paused_iterations_beside_empty_inner_loops(engine, namespace):
    """Iterations 0 and 2 run an empty inner foreach (it ends at once)."""
    order: list = []
    namespace["f"] = lambda j: order.append(("f", j)) or j
    namespace["z"] = lambda loop: order.append(("z", loop)) or 0
    engine.define("w", {"steps": [
        {"id": "loop", "foreach": {"i": [0, 1, 2, 3]}, "steps": [
            {"id": "inner", "foreach": {"j": "${range(i % 2)}"}, "run": "f"},
        ]},
        {"id": "z", "after": ["loop"], "run": "z"},
    ]})
    engine.set_breakpoint("w.inner")
    instance = engine.run("w")
    assert labels(engine.paused()) == ["w#1 inner[1/0]", "w#1 inner[3/0]"]
    assert order == [], "z ran while iterations were paused"
    node = instance.root.nodes["loop"]
    assert (node.finished, node.total) == (2, 4)
    assert instance.status.value == "IN_PROGRESS"
    engine.resume(engine.paused())
    assert instance.status.value == "SUCCEEDED" == instance_status(engine, "w")
    assert order == [("f", 0), ("f", 0), ("z", [[], [0], [], [0]])]
    assert (node.finished, node.total, node.active) == (4, 4, 0)


def test_stopping_a_parent_ends_its_sub_step_stopped_and_does_not_retry_it(engine, child_calls):
    engine.define("parent", {"steps": [{"id": "sub", "workflow": "child", "retry": {"limit": 2}}]})
    instance = engine.run("parent")
    assert labels(engine.paused()) == ["child#1 c2"]
    engine.stop("parent")
    assert instance.status.value == "STOPPED" == instance_status(engine, "parent")
    assert_child_stopped(engine)
    rows = engine.sql("SELECT attempt, status, error FROM attempts WHERE workflow = 'parent'")
    assert rows.values.tolist() == [[1, "STOPPED", None]], "the sub step failed (or was retried)"
    assert [i.label for i in engine.instances("child")] == ["child#1"]
    assert child_calls == ["c1"]


def test_resuming_the_same_attempt_twice_in_one_action_resumes_it_once(engine, namespace, calls):
    namespace["f"] = lambda i: calls.add(("f", i)) or i
    namespace["g"] = lambda s: calls.add("g") or 1
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": [1, 2]}, "run": "f"},
                                  {"id": "t", "after": ["s"], "run": "g"}]})
    engine.set_breakpoint("w.s")
    instance = engine.run("w")
    first, second = sorted(engine.paused(), key=lambda a: a.index)
    assert engine.resume([first, first]) == [first]
    assert calls.counts == {("f", 1): 1}
    assert_not_paused(engine, first, status="SUCCEEDED")
    assert engine.paused() == [second] and not engine.scheduler.ready  # nothing half done
    assert engine.status_word(instance) == "paused"
    with pytest.raises(StateError, match="is not paused; it is SUCCEEDED"):
        engine.resume(first)
    engine.resume(second)
    assert instance.status.value == "SUCCEEDED"
    assert calls.counts == {("f", 1): 1, ("f", 2): 1, "g": 1}
