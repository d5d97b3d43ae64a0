"""The executor setting (%config MaestroMagics.executor, .workers) and background runs, in an
in-process shell."""

from __future__ import annotations

import threading

from maestro_nb.engine.executors import ThreadExecutor
from maestro_nb.magics.kernel import session_for


def test_config_executor_applies_at_once_and_workers_size_the_pool(sweep):
    engine = session_for(sweep).engine
    assert engine.scheduler.executor.inline
    sweep.run_line_magic("config", "MaestroMagics.executor = 'threads'")
    assert isinstance(engine.scheduler.executor, ThreadExecutor)
    sweep.run_line_magic("config", "MaestroMagics.workers = 3")
    assert engine.scheduler.executor.workers == 3
    sweep.run_line_magic("breakpoint", "sweep.fit --on-error")
    sweep.run_line_magic("workflow", "run sweep")
    assert [a.iteration for a in sweep.user_ns["paused"]] == ["2"]  # on the pool, the same pause
    sweep.run_line_magic("config", "MaestroMagics.executor = 'inline'")
    assert engine.scheduler.executor.inline


def test_config_executor_is_refused_in_one_line_while_a_run_goes_on(sweep, caplog):
    gate = threading.Event()
    sweep.user_ns["fit"] = lambda x: gate.wait(60) and x
    engine = session_for(sweep).engine
    sweep.run_line_magic("workflow", "run sweep --background")
    try:
        sweep.run_line_magic("config", "MaestroMagics.executor = 'threads'")  # %config logs what it refused
        (record,) = caplog.records
        assert record.getMessage() == ("a run is going on in the background; wait for it (engine.wait()) "
                                       "before changing the executor")
        magics = sweep.magics_manager.registry["MaestroMagics"]
        assert magics.executor == "inline" and engine.scheduler.executor.inline
    finally:
        gate.set()
    assert engine.wait(60)


def test_a_background_run_returns_while_its_first_step_runs_inline(sweep):
    gate, reached = threading.Event(), threading.Event()

    def held(x):
        reached.set()
        assert gate.wait(60)
        return x

    sweep.user_ns["fit"] = held
    returned = threading.Event()
    starter = threading.Thread(target=lambda: sweep.run_line_magic("workflow", "run sweep --background")
                               or returned.set())
    starter.start()
    try:
        assert reached.wait(60)
        assert returned.wait(60), "the cell waited for the run"
        assert session_for(sweep).engine.busy
    finally:
        gate.set()
        starter.join(60)
    assert session_for(sweep).engine.wait(60)
