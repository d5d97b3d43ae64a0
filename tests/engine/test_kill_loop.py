"""A seeded SIGKILL loop: kill the process over and over (mid-sweep, while the file opens, during
recovery, right after a mutation or a resume returns) and check the durability contract each time.

After every kill the file opens, no flushed success is lost or run again, a change whose call
returned is in the file, and a resume that returned is never undone; at the end the sweep
finishes with every iteration succeeded exactly once and the mutated params used.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from textwrap import dedent

import pytest

from maestro_nb.engine.engine import Engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

ITERATIONS = 600
SEED = 20261202
ROUNDS = 22  # after the first run: at least 20 kills in all

WORKER = dedent('''
    """One life of the sweep: argv = db, log, mode. Every event it reaches is a line in the log."""
    import os
    import signal
    import sys
    import time

    from maestro_nb.engine.engine import Engine

    db, log, mode = sys.argv[1:4]
    out = open(log, "a", buffering=1)

    def say(line):
        out.write(line + "\\n")

    def work(i, scale=1):
        time.sleep(0.003)
        say(f"work {i}")
        return i * scale

    say("opening")
    engine = Engine(db, {"work": work, "total": lambda work: sum(x for x in work if x is not None)})
    write = engine.store.append_together

    def observed(batches):
        write(batches)
        say("flush")

    engine.store.append_together = observed
    say("opened")

    def paused():
        return sorted(engine.paused(step="work"), key=lambda a: a.loop_params["i"])

    if mode == "start":
        engine.define("sweep", {"steps": [
            {"id": "work", "foreach": {"i": "${range(%d)}"}, "run": "work", "params": {"scale": 1}},
            {"id": "total", "after": ["work"], "run": "total"},
        ]})
        engine.set_breakpoint("sweep.work", when="i %% 40 == 3")
        engine.run("sweep")
    elif mode == "recover":
        engine.recover()
    elif mode == "mutate":
        for a in paused():
            if a.params["scale"] == 1:
                engine.set_param(a, "scale", 10)
                say(f"mutated {a.loop_params['i']}")
                os.kill(os.getpid(), signal.SIGKILL)  # the instant the call returned
    elif mode == "resume":
        for a in paused()[:1]:
            say(f"resuming {a.loop_params['i']}")
            engine.resume(a, background=True)
            say(f"resumed {a.loop_params['i']}")
            os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "finish":
        engine.recover()
        if engine.paused():
            engine.resume(engine.paused())
        say("status " + engine.instance("sweep", 1).status.value)
        engine.close()
        say("finished")
        sys.exit(0)
    say("done")
    sys.stdin.readline()  # nothing left to do: wait for the kill
''' % ITERATIONS)


class Lives:
    """Runs the worker, kills it when the log shows a trigger, and keeps what each life logged."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.script = tmp_path / "worker.py"
        self.script.write_text(WORKER)
        self.db = str(tmp_path / "state.duckdb")
        self.logs: list[list[str]] = []
        self.kills = 0

    def live(self, mode: str, trigger: Callable[[list[str]], bool] | None) -> list[str]:
        """One life; SIGKILL it once `trigger` holds for its log lines (or the log says "done");
        None: let it finish."""
        log = self.tmp_path / f"life{len(self.logs)}.log"
        child = subprocess.Popen([sys.executable, str(self.script), self.db, str(log), mode],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 180
            while child.poll() is None:
                assert time.monotonic() < deadline, f"life {len(self.logs)} ({mode}) made no progress"
                lines = read(log)
                if trigger is not None and ("done" in lines or trigger(lines)):
                    child.kill()
                    break
                time.sleep(0.01)
            _, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if child.returncode == -signal.SIGKILL:
            self.kills += 1
        else:
            assert child.returncode == 0, err.decode()[-3000:]
        lines = read(log)
        self.logs.append(lines)
        return lines


def after_works(works: int, flushes: int = 0) -> Callable[[list[str]], bool]:
    """Once the step ran `works` times and, after its first run, `flushes` flushes were written."""
    def reached(lines: list[str]) -> bool:
        ran = [n for n, line in enumerate(lines) if line.startswith("work")]
        return len(ran) >= works and lines[ran[0]:].count("flush") >= flushes
    return reached


def read(path) -> list[str]:
    if not path.exists():
        return []
    text = path.read_text()
    return text.splitlines()[: text.count("\n")]


def stored(db: str) -> tuple[dict[int, list[tuple[int, str, dict, int | None, list | None]]], list[str]]:
    """Per iteration of `work`: (attempt, status, params, output, paused_by) in attempt order; and
    the statuses of the instances. Opened read-only: looking changes nothing."""
    import json

    with Engine(db, {}, read_only=True) as viewer:
        rows = viewer.sql("SELECT iteration, attempt, status, params, output,"
                          " coalesce(paused_by, []::INTEGER[]) AS paused_by FROM attempts"
                          " WHERE step_id = 'work' ORDER BY attempt").values.tolist()
        statuses = viewer.sql("SELECT status FROM instances").status.tolist()
    found: dict[int, list] = {}
    for iteration, attempt, status, params, output, paused_by in rows:
        found.setdefault(int(iteration), []).append(
            (attempt, status, json.loads(params) if params else {}, json.loads(output) if output else None,
             list(paused_by)))
    return found, statuses


def test_a_seeded_loop_of_sigkills_keeps_the_durability_contract(tmp_path):
    rng = random.Random(SEED)
    lives = Lives(tmp_path)
    lives.live("start", after_works(rng.randint(50, 200), flushes=1))  # some successes are on disk
    succeeded: set[int] = set()
    mutated: set[int] = set()
    resumed: set[int] = set()
    during_recovery = after_change = 0
    for round_ in range(ROUNDS):
        mode = rng.choice(["recover", "recover", "open", "mutate", "resume"])
        if mode == "open":  # killed while the file opens and marks what was in flight
            lines = lives.live("recover", lambda lines: "opening" in lines)
        elif mode == "recover":
            lines = lives.live("recover", after_works(rng.randint(1, 150)))
            during_recovery += any(line.startswith("work") for line in lines)
        else:
            lines = lives.live(mode, lambda lines: False)  # it kills itself once its call returns
            after_change += any(line.startswith(("mutated", "resumed")) for line in lines)
        mutated |= {int(line.split()[1]) for line in lines if line.startswith("mutated")}
        resumed |= {int(line.split()[1]) for line in lines if line.startswith("resumed")}

        ran = {int(line.split()[1]) for line in lines if line.startswith("work")}
        assert not ran & succeeded, f"round {round_}: a success on disk ran again: {sorted(ran & succeeded)[:5]}"
        attempts, _ = stored(lives.db)  # the file opens after every kill
        now = {i for i, rows in attempts.items() if any(status == "SUCCEEDED" for _, status, *_ in rows)}
        assert succeeded <= now, f"round {round_}: successes were lost: {sorted(succeeded - now)[:5]}"
        succeeded = now
        for i, rows in attempts.items():
            assert [status for _, status, *_ in rows].count("SUCCEEDED") <= 1, (i, rows)
        for i in mutated:  # a change whose call returned is in the file, and used once it runs
            _, status, params, output, _ = attempts[i][-1]
            assert params["scale"] == 10 and (status != "SUCCEEDED" or output == i * 10), (i, attempts[i])
        for i in resumed:  # a resume that returned is not undone: no breakpoint holds it again
            assert all(status != "PAUSED" or not paused_by for _, status, _, _, paused_by in attempts[i][-1:]), \
                (i, attempts[i])

    assert lives.kills >= 20
    assert during_recovery >= 3 and after_change >= 3, (during_recovery, after_change)
    lines = lives.live("finish", None)
    assert "status SUCCEEDED" in lines and "finished" in lines
    ran = Counter(int(line.split()[1]) for line in lines if line.startswith("work"))
    assert not set(ran) & succeeded
    attempts, statuses = stored(lives.db)
    assert statuses == ["SUCCEEDED"]
    assert sorted(attempts) == list(range(ITERATIONS))
    for i, rows in attempts.items():
        assert [status for _, status, *_ in rows].count("SUCCEEDED") == 1, (i, rows)
        assert rows[-1][1] == "SUCCEEDED" and rows[-1][3] == i * (10 if i in mutated else 1), (i, rows)
    with Engine(lives.db, {}, read_only=True) as viewer:
        total = viewer.sql("SELECT output FROM iterations WHERE step_id = 'total'").output[0]
    assert int(total) == sum(i * (10 if i in mutated else 1) for i in range(ITERATIONS))
