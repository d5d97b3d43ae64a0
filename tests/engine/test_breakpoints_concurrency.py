"""Breakpoints while a background run drives on the threads executor: changes from the main
thread, push-based resume (no polling), a many-thread stress test, and a 1,000-iteration sweep."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.engine.executors import ThreadExecutor
from maestro_nb.errors import StateError

from .bp_support import Calls

WAIT = 60  # seconds: a bound on a hang, never a measurement


@pytest.fixture
def threaded(db_path, namespace):
    eng = Engine(db_path, namespace, executor="threads")
    yield eng
    eng.close()


class RecordingInbox(queue.SimpleQueue):
    """The scheduler's inbox, recording how the driver waits on it and what wakes it."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []
        self.blocking = threading.Event()  # set when the driver waits with no timeout

    def put(self, item, *args, **kwargs) -> None:
        self.log.append(("put", item[0]))
        super().put(item, *args, **kwargs)

    def get(self, *args, **kwargs):
        timeout = kwargs.get("timeout", args[1] if len(args) > 1 else None)
        self.log.append(("get", timeout))
        if timeout is None:
            self.blocking.set()
        return super().get(*args, **kwargs)


def on_pause(engine: Engine) -> threading.Event:
    """An event set each time an attempt pauses (the scheduler's listener hook)."""
    event = threading.Event()
    engine.scheduler.listeners.append(lambda kind, subject: kind == "paused" and event.set())
    return event


def serial_sweep(engine: Engine, namespace, calls: Calls, size: int, gate: threading.Event,
                 started: threading.Event) -> None:
    def work(i: int) -> int:
        if i == 0:
            started.set()
            assert gate.wait(WAIT)
        calls.add(i)
        return i

    namespace["work"] = work
    engine.define("bg", {"steps": [{"id": "work", "foreach": {"i": list(range(size))}, "concurrency": 1,
                                    "run": "work"}]})


# --------------------------------------------------------------------------- main-thread changes
def test_breakpoint_set_during_a_background_run_pauses_only_attempts_not_yet_checked(threaded, namespace):
    calls, gate, started = Calls(), threading.Event(), threading.Event()
    serial_sweep(threaded, namespace, calls, 10, gate, started)
    instance = threaded.run("bg", background=True)
    assert started.wait(WAIT)  # iteration 0 is running: it passed the check
    bp = threaded.set_breakpoint("bg.work")  # applied by the driver, between two of its steps
    gate.set()
    assert threaded.wait(WAIT)
    assert calls.counts == Counter({0: 1})
    assert sorted(a.index for a in threaded.paused()) == list(range(1, 10))  # a pause frees its slot
    threaded.delete_breakpoint(bp, background=True)
    assert threaded.wait(WAIT)
    assert calls.counts == Counter(range(10)) and instance.status.value == "SUCCEEDED"


def test_after_breakpoint_set_while_the_step_runs_pauses_it_when_it_returns(threaded, namespace):
    calls, gate, started = Calls(), threading.Event(), threading.Event()
    serial_sweep(threaded, namespace, calls, 3, gate, started)
    threaded.run("bg", background=True)
    assert started.wait(WAIT)
    threaded.set_breakpoint("bg.work", pause="after", iteration=0)
    gate.set()
    assert threaded.wait(WAIT)
    (a,) = threaded.paused()
    assert a.index == 0 and a.pause_point == "after" and a.output == 0
    assert calls.counts == Counter(range(3))  # the pause freed its slot for iterations 1 and 2
    threaded.resume(a)
    assert calls.counts == Counter(range(3))


def test_breakpoint_deleted_during_a_background_run_stops_pausing(threaded, namespace):
    calls, gate, started = Calls(), threading.Event(), threading.Event()
    serial_sweep(threaded, namespace, calls, 5, gate, started)
    threaded.set_breakpoint("bg.work", when="i >= 3")
    threaded.run("bg", background=True)
    assert started.wait(WAIT)
    threaded.delete_breakpoint("bg.work")  # nothing paused yet: i=3 and i=4 are not checked
    gate.set()
    assert threaded.wait(WAIT)
    assert threaded.paused() == [] and calls.counts == Counter(range(5))


# --------------------------------------------------------------------------- push, not poll
def test_resume_wakes_the_driver_through_its_inbox(threaded, namespace):
    """`hold` keeps the driver waiting on its inbox; only the resumed `fast` releases it. If the
    resume were noticed by polling (or not at all), wait() would not see the run finish."""
    release, hold_started = threading.Event(), threading.Event()
    ran = []

    def hold() -> str:
        hold_started.set()
        assert release.wait(WAIT)
        return "held"

    def fast() -> str:
        ran.append("fast")
        release.set()
        return "fast"

    namespace.update(hold=hold, fast=fast)
    threaded.define("push", {"steps": [{"id": "hold", "run": "hold"}, {"id": "fast", "run": "fast"}]})
    threaded.set_breakpoint("push.fast")
    inbox = threaded.scheduler.inbox = RecordingInbox()
    paused = on_pause(threaded)
    instance = threaded.run("push", background=True)
    assert paused.wait(WAIT) and hold_started.wait(WAIT)
    # While `fast` is paused the driver sleeps on its inbox with no timeout: a polling loop
    # would never get here.
    assert inbox.blocking.wait(WAIT)
    (a,) = threaded.paused()
    assert ran == []
    threaded.resume(a)  # the message that wakes the driver; returns once it was applied
    assert threaded.wait(WAIT)
    assert ran == ["fast"] and instance.status.value == "SUCCEEDED"
    call = inbox.log.index(("put", "call"))
    assert [entry for entry in inbox.log[:call] if entry[0] == "get"][-1] == ("get", None)


# --------------------------------------------------------------------------- stress
def test_many_threads_resuming_mutating_and_deleting_never_lose_or_double_run(threaded, namespace):
    size, workers = 2000, 4
    calls = Calls()

    def work(i: int, x: int) -> int:
        calls.add(i, x)
        return x

    namespace["work"] = work
    namespace["total"] = lambda work: calls.add("total") or sum(work)
    threaded.define("stress", {"steps": [
        {"id": "work", "foreach": {"i": list(range(size))}, "run": "work", "params": {"x": "${i}"}},
        {"id": "total", "after": ["work"], "run": "total"},
    ]})
    bp = threaded.set_breakpoint("stress.work")
    instance = threaded.run("stress")
    paused = sorted(threaded.paused(), key=lambda a: a.index)
    assert len(paused) == size and calls.total() == 0
    mutated: dict[int, bool] = {}
    progress = threading.Semaphore(0)
    errors: list[BaseException] = []

    def worker(share) -> None:
        try:
            for a in share:
                i = a.index
                if i % 3 == 0:
                    try:
                        threaded.set_param(a, "x", -i)
                        mutated[i] = True
                    except StateError:
                        mutated[i] = False  # the deletion released it first
                try:
                    threaded.resume(a)
                except StateError:
                    pass  # released by the deletion meanwhile
                progress.release()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def deleter() -> None:
        try:
            for _ in range(size // 2):
                progress.acquire()
            threaded.delete_breakpoint(bp)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(paused[k::workers],)) for k in range(workers)]
    threads.append(threading.Thread(target=deleter))
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert threaded.wait(WAIT)
    assert all(calls[i] == 1 for i in range(size)), "an iteration ran twice or never"
    assert calls["total"] == 1
    by_iteration = {a.index: a.output for a in paused}
    for i in range(size):
        expected = -i if mutated.get(i) else i
        assert by_iteration[i] == expected, i
    assert threaded.paused() == [] and bp.paused == set() and threaded.breakpoints() == []
    rows = threaded.sql(
        "SELECT iteration, count(*) n, count(*) FILTER (WHERE status = 'SUCCEEDED') ok, max(attempt) top"
        " FROM attempts WHERE workflow = 'stress' AND step_id = 'work' GROUP BY iteration")
    assert len(rows) == size and set(rows.n) == {1} and set(rows.ok) == {1} and set(rows.top) == {1}
    assert instance.status.value == "SUCCEEDED"
    assert threaded.sql("SELECT status FROM instances WHERE workflow = 'stress'").status[0] == "SUCCEEDED"


# --------------------------------------------------------------------------- a big sweep
def test_thousand_iterations_resume_a_subset_by_condition_then_delete(engine, namespace):
    calls = Calls()
    namespace["work"] = lambda x, y: calls.add((x, y)) or x * y
    namespace["total"] = lambda work: calls.add("total") or sum(work)
    engine.define("big", {"steps": [
        {"id": "work", "foreach": {"x": "${range(100)}", "y": list(range(10))}, "run": "work"},
        {"id": "total", "after": ["work"], "run": "total"},
    ]})
    engine.set_breakpoint("big.work")
    instance = engine.run("big")
    assert len(engine.paused("big", "work")) == 1000 and calls.total() == 0
    engine.resume(engine.paused("big", "work", y=3))
    engine.resume([a for a in engine.paused("big", "work") if a.params["x"] % 7 == 0])
    expected = {(x, y) for x in range(100) for y in range(10) if y == 3 or x % 7 == 0}
    assert set(calls.counts) == expected and calls.total() == len(expected)
    assert len(engine.paused()) == 1000 - len(expected) and calls["total"] == 0
    released = engine.delete_breakpoint("big.work")
    assert len(released) == 1000 - len(expected)
    assert calls.counts == Counter({(x, y): 1 for x in range(100) for y in range(10)} | {"total": 1})
    assert instance.status.value == "SUCCEEDED"
    assert a_total(engine) == sum(x * y for x in range(100) for y in range(10))


def a_total(engine: Engine) -> int:
    return int(engine.sql("SELECT output FROM attempts WHERE step_id = 'total'").output[0])


def overlap_counting_work(namespace) -> dict[str, int]:
    """Puts `work(i)` in the namespace; the dict it returns counts calls and the peak overlap."""
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "calls": 0}

    def work(i):
        with lock:
            state["now"] += 1
            state["calls"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)  # room to overlap: attempts released or queued at once would show it
        with lock:
            state["now"] -= 1
        return i

    namespace["work"] = work
    return state


@pytest.mark.parametrize("release", ["resume_all", "delete_breakpoint"])
def test_foreach_concurrency_limit_holds_for_released_attempts(db_path, namespace, release):
    state = overlap_counting_work(namespace)
    # More threads than the limit, so that the limit is what binds (not the CPU count).
    with Engine(db_path, namespace, executor=ThreadExecutor(workers=8)) as engine:
        engine.define("wf", {"steps": [{"id": "w", "foreach": {"i": list(range(12))}, "concurrency": 2,
                                        "run": "work"}]})
        bp = engine.set_breakpoint("wf.w")
        instance = engine.run("wf")
        assert len(engine.paused()) == 12 and state["calls"] == 0
        if release == "resume_all":
            engine.resume(engine.paused())
        else:
            engine.delete_breakpoint(bp)
        assert instance.status.value == "SUCCEEDED"
        assert engine.paused() == []
    assert state["calls"] == 12
    assert 1 <= state["peak"] <= 2


def test_retry_of_paused_attempts_respects_the_foreach_concurrency_limit(db_path, namespace):
    state = overlap_counting_work(namespace)
    with Engine(db_path, namespace, executor=ThreadExecutor(workers=8)) as engine:
        engine.define("wf", {"steps": [{"id": "w", "foreach": {"i": list(range(8))}, "concurrency": 2,
                                        "run": "work"}]})
        bp = engine.set_breakpoint("wf.w")
        instance = engine.run("wf")
        paused = engine.paused()
        assert len(paused) == 8 and state["calls"] == 0
        engine.delete_breakpoint(bp, keep_paused=True)
        engine.retry(paused)
        assert instance.status.value == "SUCCEEDED"
        assert engine.paused() == []
        numbers = engine.sql("SELECT attempt, status FROM iterations WHERE step_id = 'w'").values.tolist()
        assert sorted(map(tuple, numbers)) == [(2, "SUCCEEDED")] * 8
    assert state["calls"] == 8
    assert 1 <= state["peak"] <= 2


def test_resuming_an_attempt_released_already_says_so(threaded, namespace):
    """With concurrency 1, a resumed attempt waits for the running one: it is released, not
    paused, and resuming it again is refused with that reason (not "not paused; it is PAUSED")."""
    calls, gate, started = Calls(), threading.Event(), threading.Event()
    serial_sweep(threaded, namespace, calls, 3, gate, started)
    threaded.set_breakpoint("bg.work")
    instance = threaded.run("bg")
    first, second, third = sorted(threaded.paused(), key=lambda a: a.index)
    try:
        threaded.resume(first, background=True)
        assert started.wait(WAIT)  # iteration 0 runs and holds the only slot
        threaded.resume([second, second])  # applied by the driver: released, waiting for the slot
        assert threaded.paused() == [third]
        with pytest.raises(StateError, match="was released already"):
            threaded.resume(second)
        assert threaded.paused() == [third]
    finally:
        gate.set()
    assert threaded.wait(WAIT)
    assert calls.counts == Counter({0: 1, 1: 1})
    threaded.resume(third)
    assert instance.status.value == "SUCCEEDED"
    assert calls.counts == Counter(range(3))
