"""The index of paused attempts: walks that survive the caller resuming what it is given,
positions found by counts, and lookups by key for nested iterations."""

from __future__ import annotations

import pytest

from maestro_nb.readmodel import ReadModel
from maestro_nb.readmodel.model import attempt_key

NESTED = {"steps": [
    {"id": "outer", "foreach": {"i": [0, 1, 2]}, "steps": [
        {"id": "inner", "foreach": {"j": [0, 1]}, "run": "inner"},
    ]},
]}


@pytest.fixture
def sweep(engine, namespace):
    namespace["work"] = lambda i: i * 2
    namespace["first"] = lambda: 1
    engine.define("sweep", {"steps": [
        {"id": "first", "run": "first"},
        {"id": "work", "after": ["first"], "foreach": {"i": "${range(12)}"}, "run": "work"},
    ]})
    return engine


def test_resuming_each_attempt_while_walking_the_index_resumes_every_one_once(sweep):
    sweep.set_breakpoint("sweep.work")
    instance = sweep.run("sweep")
    index = sweep.scheduler.paused
    given = []
    for a in index.ordered("sweep"):
        given.append(a.loop_params["i"])
        sweep.resume(a)
    assert given == list(range(12))
    assert len(index) == 0 and instance.status.value == "SUCCEEDED"


def test_a_walk_gives_attempts_paused_behind_it_during_the_walk_and_never_one_twice(sweep):
    sweep.set_breakpoint("sweep.work", pause="after")
    sweep.run("sweep")
    index = sweep.scheduler.paused
    walk = index.ordered("sweep", step="work")
    first = next(walk)
    sweep.resume(index.nth(5, "sweep", step="work"))  # removed ahead of the walk: not given
    rest = [a.loop_params["i"] for a in walk]
    assert first.loop_params["i"] == 0 and rest == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]


def test_nth_counts_across_steps_in_display_order(engine, namespace):
    namespace.update(a=lambda i: i, b=lambda i: i)
    engine.define("two", {"steps": [
        {"id": "a", "foreach": {"i": "${range(3)}"}, "run": "a"},
        {"id": "b", "foreach": {"i": "${range(4)}"}, "run": "b"},
    ]})
    engine.set_breakpoint("two.a")
    engine.set_breakpoint("two.b")
    engine.run("two")
    index = engine.scheduler.paused
    shown = list(index.ordered())
    assert [index.nth(k) for k in range(len(shown))] == shown
    assert index.nth(len(shown)) is None
    assert index.nth(1, "two", step="b") is shown[4]


def test_paused_k_in_the_notebook_is_the_kth_shown_for_a_step_and_for_a_filter(shell):
    shell.user_ns["work"] = lambda i: i
    shell.run_cell_magic("workflow", "sweep", "steps:\n  - id: work\n    foreach: {i: '${range(30)}'}\n    run: work\n")
    shell.run_line_magic("breakpoint", "sweep.work")
    shell.run_line_magic("workflow", "run sweep")
    paused = shell.user_ns["paused"]
    assert [paused[k].loop_params["i"] for k in (0, 7, 29)] == [0, 7, 29]
    assert paused.where(step="work")[12].loop_params["i"] == 12
    assert paused.where(i=4)[0].loop_params["i"] == 4
    with pytest.raises(IndexError, match=r"there are 30 paused attempts"):
        paused[30]


def test_the_first_attempt_paused_at_its_error_is_found_without_a_walk(engine, namespace):
    def work(i):
        if i % 4 == 3:
            raise ValueError(f"bad {i}")
        return i

    namespace["work"] = work
    engine.define("sweep", {"steps": [{"id": "work", "foreach": {"i": "${range(12)}"}, "run": "work"}]})
    engine.set_breakpoint("sweep.work", pause="error")
    engine.set_breakpoint("sweep.work", pause="after")
    instance = engine.run("sweep")
    index = engine.scheduler.paused
    first = index.first_at_error_in([("sweep", instance.instance_id)])
    assert first.pause_point == "error" and first.loop_params["i"] == 3
    assert index.first_at_error_in([("other", 1)]) is None


def test_find_paused_finds_nested_iterations_by_key_and_nothing_for_a_bad_key(engine, namespace):
    namespace["inner"] = lambda i, j: i + j
    engine.define("nested", NESTED)
    engine.set_breakpoint("nested.inner")
    engine.run("nested")
    model = ReadModel(engine)
    for a in engine.paused():
        assert "/" in a.iteration and model.find_paused(attempt_key(a)) is a
    for bad in ("nested#1", "nested#1/1/inner", "nested#x/1/inner[0/0]/1", "nested#1/1/inner[9/9]/1"):
        assert model.find_paused(bad) is None
    page = model.paused("nested", limit=2, j=1)
    assert page.total == 3 and [view.loop_params["j"] for view in page.items] == [1, 1]


def test_an_action_on_many_paused_attempts_leaves_the_index_whole(engine, namespace):
    namespace["work"] = lambda i: i
    engine.define("sweep", {"steps": [{"id": "work", "foreach": {"i": "${range(300)}"}, "run": "work"}]})
    engine.set_breakpoint("sweep.work")
    instance = engine.run("sweep")
    index = engine.scheduler.paused
    every = engine.paused()
    engine.skip(every[10:20])
    engine.resume(every[100:250:3])
    left = [a for a in every[:10] + every[20:100] + every[100:] if a not in every[100:250:3]]
    assert list(index.ordered()) == left == index.listed() and len(index) == len(left)
    assert [index.nth(k) for k in (0, 10, len(left) - 1)] == [left[0], left[10], left[-1]]
    with index.batch():  # within a batch, removed attempts leave holes that no walk shows
        for a in left[5:50]:
            index.discard(a)
        assert list(index.ordered()) == left[:5] + left[50:]
        assert index.count_matching(step="work") == len(left) - 45
    for a in left[5:50]:
        index.add(a)
    assert list(index.ordered()) == left
    engine.resume(left)
    assert len(index) == 0 and list(index.ordered()) == [] and instance.status.value == "SUCCEEDED"
