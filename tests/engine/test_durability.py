"""The durability contract, with a real crash: SIGKILL a process mid-sweep, then recover."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from textwrap import dedent

import pytest

from maestro_nb.engine.engine import Engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

ITERATIONS = 2000

SCRIPT = dedent('''
    """Run (or recover) a sweep whose step logs its index: argv = db, log, mode."""
    import json
    import sys
    import time

    from maestro_nb.engine.engine import Engine

    db, log, mode = sys.argv[1:4]
    out = open(log, "a", buffering=1)
    flushes = open(log + ".flushes", "a", buffering=1)

    def work(i):
        time.sleep(0.002)
        out.write(f"{i}\\n")
        out.flush()
        return i

    engine = Engine(db, {"work": work})
    write, write_behind = engine.store.append_together, engine.store.append_behind

    def successes(batches):
        return sum(row[8] == "SUCCEEDED" for table, rows in batches if table == "attempt_log" for row in rows)

    def observed(batches):
        """Tell the test, after each flush is written, how many successes it held."""
        write(batches)
        flushes.write(f"{successes(batches)}\\n")

    def observed_behind(batches):
        """The same for a flush written behind the run, once its write has committed."""
        done = successes(batches)
        future = write_behind(batches)
        future.add_done_callback(lambda f: f.exception() is None and flushes.write(f"{done}\\n"))
        return future

    engine.store.append_together = observed
    engine.store.append_behind = observed_behind
    if mode == "run":
        engine.define("sweep", """
    steps:
      - id: work
        foreach:
          i: ${range(%d)}
        run: work
    """)
        engine.run("sweep")
    else:
        report = list(engine.recovery_report)
        found = engine.recover()
        print(json.dumps({"report": report, "instances": [[i.label, i.status.value] for i in found]}))
    engine.close()
''' % ITERATIONS)


def _lines(path) -> list[int]:
    if not path.exists():
        return []
    text = path.read_text()
    return [int(x) for x in text.splitlines()[: text.count("\n")]]


def test_sigkill_mid_sweep_then_recover_reruns_only_what_was_not_flushed(tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT)
    db = str(tmp_path / "state.duckdb")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    runner = subprocess.Popen([sys.executable, str(script), db, str(first_log), "run"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    flushes = tmp_path / "first.log.flushes"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until a flush with successes in it is on disk
            assert runner.poll() is None, f"the sweep ended before the kill: {runner.communicate()}"
            if sum(_lines(flushes)) > 0:
                break
            time.sleep(0.02)
        else:
            pytest.fail("no flush with a success in it within two minutes")
        os.kill(runner.pid, signal.SIGKILL)
    finally:
        runner.wait(timeout=30)
        runner.stdout.close()
        runner.stderr.close()
    assert runner.returncode == -signal.SIGKILL
    called_before = _lines(first_log)
    assert len(called_before) < ITERATIONS, "killed too late: the sweep had finished"

    # What the dead process left on disk, read without changing it.
    with Engine(db, {}, read_only=True) as viewer:
        stored = viewer.sql("SELECT iteration, status, attempt FROM attempts").to_dict("records")
    flushed = {int(r["iteration"]) for r in stored if r["status"] == "SUCCEEDED"}
    in_flight = {int(r["iteration"]) for r in stored if r["status"] != "SUCCEEDED"}
    assert flushed, "no success was flushed before the kill"
    assert flushed <= set(called_before)
    assert in_flight, "no attempt was in flight at the kill"
    assert not flushed & in_flight

    recovery = subprocess.run([sys.executable, str(script), db, str(second_log), "recover"],
                              capture_output=True, text=True, timeout=300)
    assert recovery.returncode == 0, recovery.stderr
    summary = json.loads(recovery.stdout.strip().splitlines()[-1])
    assert summary["instances"] == [["sweep#1", "SUCCEEDED"]]
    assert any("INTERRUPTED" in line for line in summary["report"])

    rerun = _lines(second_log)
    assert not set(rerun) & flushed, "an iteration whose success was flushed ran again"
    assert Counter(rerun).most_common(1)[0][1] == 1, "an iteration ran twice during recovery"
    assert set(rerun) == set(range(ITERATIONS)) - flushed
    assert in_flight <= set(rerun)

    with Engine(db, {}, read_only=True) as viewer:
        rows = viewer.sql("SELECT iteration, attempt, status FROM attempts").to_dict("records")
        status = viewer.sql("SELECT status FROM instances").status.tolist()
    assert status == ["SUCCEEDED"]
    succeeded = Counter(int(r["iteration"]) for r in rows if r["status"] == "SUCCEEDED")
    assert set(succeeded) == set(range(ITERATIONS))
    assert set(succeeded.values()) == {1}
    interrupted = {int(r["iteration"]) for r in rows if r["status"] == "INTERRUPTED"}
    assert interrupted == in_flight
    # An interrupted attempt is followed by a new attempt of the same iteration that succeeded.
    by_iteration = {}
    for r in rows:
        by_iteration.setdefault(int(r["iteration"]), []).append((r["attempt"], r["status"]))
    for index in in_flight:
        assert sorted(by_iteration[index]) == [(1, "INTERRUPTED"), (2, "SUCCEEDED")], index


def _crash(tmp_path, script: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Run `script` (argv[1] = the state file) in a process that dies without close()."""
    path = tmp_path / "crash.py"
    path.write_text(dedent(script))
    db = str(tmp_path / "state.duckdb")
    done = subprocess.run([sys.executable, str(path), db], capture_output=True, text=True, timeout=120)
    return db, done


SKIP_THEN_CRASH = '''
    import os
    import sys

    from maestro_nb.engine.engine import Engine

    def work(i):
        if i == 1:
            raise RuntimeError("boom")
        return i

    engine = Engine(sys.argv[1], {"work": work, "gate": lambda w: w})
    engine.define("wf", {"steps": [
        {"id": "w", "foreach": {"i": [0, 1, 2, 3, 4]}, "run": "work", "failure_mode": "ignore"},
        {"id": "g", "after": ["w"], "run": "gate"},
    ]})
    engine.set_breakpoint("wf.w", when="i >= 2")
    engine.run("wf")
    held = {a.loop_params["i"]: a for a in engine.paused()}
    engine.skip(held[2], output=99)
    engine.set_param(held[3], "i", 30)
    engine.flush()
    os._exit(0)  # the crash: no close()
'''


def test_recovery_after_a_crash_does_not_rerun_iterations_that_had_ended(tmp_path):
    db, done = _crash(tmp_path, SKIP_THEN_CRASH)
    assert done.returncode == 0, done.stderr
    seen: list[int] = []
    gathered: list[list] = []
    namespace = {"work": lambda i: seen.append(i) or i, "gate": lambda w: gathered.append(w) or w}
    with Engine(db, namespace) as engine:
        engine.recover()
        assert seen == [], "an iteration that had ended (skipped, or failed and ignored) ran again"
        latest = engine.sql("SELECT iteration, attempt, status, output FROM iterations WHERE step_id = 'w'")
        rows = {r.iteration: (r.attempt, r.status) for r in latest.itertuples()}
        assert rows == {"0": (1, "SUCCEEDED"), "1": (1, "USER_FAILED"), "2": (1, "SKIPPED"),
                        "3": (1, "PAUSED"), "4": (1, "PAUSED")}
        assert json.loads(latest.set_index("iteration").output["2"]) == 99
        assert sorted(a.params["i"] for a in engine.paused()) == [4, 30]
        engine.resume(engine.paused())
        assert engine.instance("wf", 1).status.value == "SUCCEEDED"
    assert sorted(seen) == [4, 30]
    assert gathered == [[0, None, 99, 30, 4]]


INTERRUPTED_SWEEP = '''
    import os
    import sys

    import maestro_nb.engine.scheduler as scheduler
    from maestro_nb.engine.engine import Engine

    scheduler.FLUSH_INTERVAL = 0  # every change is on disk before the crash

    def work(i):
        if i == 3:
            os._exit(1)  # the crash, in the middle of the sweep
        return i

    engine = Engine(sys.argv[1], {"work": work})
    engine.define("wf", {"steps": [{"id": "w", "foreach": {"i": [0, 1, 2, 3, 4]}, "run": "work"}]})
    engine.define("other", {"steps": [{"id": "n", "noop": True}]})
    engine.run("wf")
'''


def test_opening_a_file_with_interrupted_work_runs_none_of_it_until_recover(tmp_path):
    db, done = _crash(tmp_path, INTERRUPTED_SWEEP)
    assert done.returncode == 1, done.stderr
    seen: list[int] = []
    with Engine(db, {"work": lambda i: seen.append(i) or i}) as engine:
        assert any("INTERRUPTED" in line for line in engine.recovery_report)
        assert engine.run("other").status.value == "SUCCEEDED"
        assert seen == [], "running an unrelated workflow ran the interrupted one"
        assert engine.instance("wf", 1).status.value == "IN_PROGRESS"
        engine.recover()
        assert engine.instance("wf", 1).status.value == "SUCCEEDED"
    assert 3 in seen and 4 in seen
    assert Counter(seen).most_common(1)[0][1] == 1


CRASH_WITH_RETRIES = '''
    import os
    import sys

    import maestro_nb.engine.scheduler as scheduler
    from maestro_nb.engine.engine import Engine

    scheduler.FLUSH_INTERVAL = 0  # iterations 0 and 1 are on disk before the crash
    scheduler.WRITE_BEHIND = False  # ... written before the next step starts

    def work(i):
        if i == 2:
            os._exit(1)  # the crash, while iteration 2 runs
        return i

    engine = Engine(sys.argv[1], {"work": work})
    engine.define("wf", {"steps": [{"id": "w", "foreach": {"i": [0, 1, 2]}, "run": "work",
                                    "retry": {"limit": %d}}]})
    engine.run("wf")
'''


def _reopen_then_recover_a_flaky_step(tmp_path, limit: int) -> tuple[Engine, list[int]]:
    """Crash in iteration 2, open the file three times without recover(), then recover with a
    `work` that fails once for iteration 2 and then succeeds."""
    db, done = _crash(tmp_path, CRASH_WITH_RETRIES % limit)
    assert done.returncode == 1, done.stderr
    seen: list[int] = []

    def work(i):
        seen.append(i)
        if i == 2 and seen.count(2) == 1:
            raise RuntimeError("flaky")
        return i

    query = "SELECT iteration, attempt, status FROM attempts ORDER BY iteration, attempt"
    reports, tables = [], []
    for _ in range(3):
        with Engine(db, {"work": work}) as engine:
            reports.append(list(engine.recovery_report))
            tables.append(engine.sql(query).values.tolist())
    assert seen == [], "opening the file ran interrupted work"
    assert reports[0] == ["1 attempt(s) in flight were marked INTERRUPTED"]
    assert reports[1] == reports[2] == [], "a reopen found (and marked) new work in flight"
    assert tables[0] == tables[1] == tables[2] == [["0", 1, "SUCCEEDED"], ["1", 1, "SUCCEEDED"],
                                                   ["2", 1, "INTERRUPTED"]], "a reopen added attempts"
    engine = Engine(db, {"work": work})
    engine.recover()
    return engine, seen


def test_reopening_without_recover_adds_no_attempt_and_uses_up_no_retry(tmp_path):
    engine, seen = _reopen_then_recover_a_flaky_step(tmp_path, limit=2)
    with engine:
        assert engine.instance("wf", 1).status.value == "SUCCEEDED"
        rows = engine.sql("SELECT attempt, status FROM attempts WHERE iteration = '2' ORDER BY attempt")
        # The reopens took no attempt numbers: the recovered attempt is #2, its retry #3.
        assert rows.values.tolist() == [[1, "INTERRUPTED"], [2, "USER_FAILED"], [3, "SUCCEEDED"]]
    assert seen == [2, 2]


def test_retry_limit_one_after_reopening_still_retries_a_recovered_failure(tmp_path):
    # The attempt the crash cut short uses up no retry: only the step's own failures count.
    engine, seen = _reopen_then_recover_a_flaky_step(tmp_path, limit=1)
    with engine:
        assert engine.instance("wf", 1).status.value == "SUCCEEDED"
    assert seen == [2, 2]


MUTATE_THEN_KILL = '''
    import os
    import signal
    import sys
    import threading
    import time
    from concurrent.futures import Future

    import maestro_nb.engine.scheduler as scheduler
    from maestro_nb.engine.engine import Engine

    scheduler.FLUSH_INTERVAL = 3600  # nothing is written on a timer: only what the calls write
    gate = threading.Event()
    armed = threading.Event()
    answer = Future.set_result

    def answer_then_stall(future, result):
        # Once the change is asked for, the driving thread stops right after it answers the call:
        # only what it wrote before answering can be on disk when the process dies.
        answer(future, result)
        if armed.is_set() and threading.current_thread().name == "maestro-driver":
            threading.Event().wait()

    Future.set_result = answer_then_stall

    def work(i):
        if i > 0:
            gate.wait(60)  # keeps the background run busy while the paused attempt is changed
        return i

    engine = Engine(sys.argv[1], {"work": work}, executor="threads")
    engine.define("wf", {"steps": [{"id": "w", "foreach": {"i": [0, 1, 2]}, "run": "work"}]})
    engine.set_breakpoint("wf.w", when="i == 0")
    engine.run("wf", background=True)
    deadline = time.monotonic() + 60
    while not engine.paused():
        assert time.monotonic() < deadline, "iteration 0 never paused"
        time.sleep(0.01)
    attempt = engine.paused()[0]
    armed.set()
    if sys.argv[2] == "set_param":
        engine.set_param(attempt, "i", 42)
    elif sys.argv[2] == "resume":
        engine.resume(attempt, background=True)
    else:
        engine.skip(attempt, output=7)
    os.kill(os.getpid(), signal.SIGKILL)  # the instant the call returned
'''


@pytest.mark.parametrize("action", ["set_param", "skip", "resume"])
def test_a_change_made_during_a_background_run_is_on_disk_when_the_call_returns(tmp_path, action):
    path = tmp_path / "crash.py"
    path.write_text(dedent(MUTATE_THEN_KILL))
    db = str(tmp_path / "state.duckdb")
    done = subprocess.run([sys.executable, str(path), db, action], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    with Engine(db, {"work": lambda i: i}) as engine:
        row = engine.sql("SELECT status, params, output FROM iterations WHERE iteration = '0'").iloc[0]
        if action == "set_param":
            assert row.status == "PAUSED" and json.loads(row.params) == {"i": 42}
            assert [a.params["i"] for a in engine.paused()] == [42]
        elif action == "resume":  # stored as released: reopening does not pause it again
            assert engine.paused() == []
            engine.recover()
            assert engine.sql("SELECT status FROM iterations WHERE iteration = '0'").status[0] == "SUCCEEDED"
        else:
            assert row.status == "SKIPPED" and json.loads(row.output) == 7
            assert engine.paused() == []
