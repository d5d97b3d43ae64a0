"""Background runs: the driver answers actions while it works, even when it runs the steps itself;
the executor as a setting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import ParamError, StateError

DEADLINE = 60.0  # seconds: only ever reached when something is wrong


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds; fail, saying `what`, after DEADLINE."""
    end = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_an_inline_run_answers_an_action_between_attempts_not_at_the_end(engine, namespace):
    gates = [threading.Event() for _ in range(3)]
    started = [threading.Event() for _ in range(3)]

    def step(i):
        started[i].set()
        assert gates[i].wait(DEADLINE), f"iteration {i} was never released"
        return i

    namespace["step"] = step
    assert engine.scheduler.executor.inline  # the driver runs each step itself
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": [0, 1, 2]}, "run": "step"}]})
    engine.run("w", background=True)
    assert started[0].wait(DEADLINE)
    answered = threading.Event()
    added = []

    def act() -> None:  # a cell acting while the run goes on
        added.append(engine.set_breakpoint("w.s", iteration=2))
        answered.set()

    actor = threading.Thread(target=act)
    actor.start()
    wait_for(lambda: not engine.scheduler.inbox.empty(), "the action to reach the driver")
    gates[0].set()
    assert answered.wait(DEADLINE), "the action waited for the whole run"
    assert not gates[1].is_set() and engine.busy  # the run is still going on
    gates[1].set()
    assert engine.wait(DEADLINE)
    actor.join()
    assert [a.label for a in engine.paused()] == ["w#1 s[2]"]  # the breakpoint took effect mid-run
    assert added[0].paused == set(engine.paused())


def test_the_thread_pool_size_is_a_public_setting(db_path, namespace):
    with Engine(db_path, namespace, executor="threads", workers=3) as engine:
        assert engine.scheduler.executor.workers == 3
        engine.use_executor("inline")
        assert engine.scheduler.executor.inline
        engine.use_executor("threads", workers=2)
        assert engine.scheduler.executor.workers == 2
    for kwargs, message in [(dict(executor="threads", workers=0), "workers must be a whole number >= 1"),
                            (dict(executor="threads", workers="4"), "workers must be a whole number >= 1"),
                            (dict(workers=2), "workers is the size of the 'threads' executor's pool"),
                            (dict(executor="thread"), "unknown executor 'thread'")]:
        with pytest.raises(ParamError, match=message):
            Engine(db_path, namespace, **kwargs)


def test_the_executor_cannot_change_while_a_background_run_goes_on(engine, namespace):
    gate = threading.Event()
    namespace["held"] = lambda: gate.wait(DEADLINE)
    engine.define("w", {"steps": [{"id": "s", "run": "held"}]})
    engine.run("w", background=True)
    try:
        with pytest.raises(StateError, match="a run is going on in the background"):
            engine.use_executor("threads")
        assert engine.scheduler.executor.inline
    finally:
        gate.set()
    assert engine.wait(DEADLINE)
