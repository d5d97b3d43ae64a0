"""First result in a fresh process: `%load_ext maestro_nb`, define, run a three-step workflow.

Each sample is a fresh interpreter with an IPython shell (the shell a kernel runs; its own
start-up is not counted): the time from before `%load_ext` to the run's summary, split into
%load_ext, %%workflow (define) and %workflow run (which opens the state file on first use).
Median of several fresh processes. Goal (SPEC 7): first result <= 400 ms.

    python benchmarks/cold_start.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import _common as c

TARGET_MS = 400.0

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from IPython.core.history import HistoryManager
from IPython.core.interactiveshell import InteractiveShell
HistoryManager.enabled = False
shell = InteractiveShell()
shell.run_cell("def load():\n    return [1, 2, 3]\ndef fit(load):\n    return sum(load)\ndef report(fit):\n    return fit * 2\n")
t0 = time.perf_counter()
shell.run_line_magic("load_ext", "maestro_nb")
t1 = time.perf_counter()
shell.run_line_magic("workflow", "db " + os.path.join(sys.argv[2], "cold.duckdb"))
shell.run_cell_magic("workflow", "three", "steps:\n  - id: load\n    run: load\n  - id: fit\n    after: [load]\n"
                     "    run: fit\n  - id: report\n    after: [fit]\n    run: report\n")
t2 = time.perf_counter()
view = shell.run_line_magic("workflow", "run three")
t3 = time.perf_counter()
text = repr(view)
assert "SUCCEEDED" in text, text
print(json.dumps({"load_ext": t1 - t0, "define": t2 - t1, "run": t3 - t2, "total": t3 - t0}))
"""


def sample(tmp: str, n: int) -> dict[str, float]:
    work = os.path.join(tmp, f"cold-{n}")
    os.makedirs(work)
    proc = subprocess.run([sys.executable, "-c", CHILD, os.path.dirname(c.HERE), work], capture_output=True,
                          text=True, cwd=work, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    runs = c.repeats(7) if not c.quick_flag() else 2
    print(c.machine())
    with c.scratch_dir() as tmp:
        samples = [sample(tmp, n) for n in range(runs)]
    totals = ", ".join(f"{s['total'] * 1e3:.0f}" for s in samples)
    f = {key: c.median([s[key] for s in samples]) * 1e3 for key in samples[0]}
    print(f"cold start: %load_ext {f['load_ext']:.0f} ms, define {f['define']:.0f} ms, first run {f['run']:.0f} ms "
          f"(median of {runs} fresh processes; totals {totals} ms)")
    print(f"cold_start: first result in a fresh shell {f['total']:.0f} ms (goal <= {TARGET_MS:g} ms): "
          f"{'met' if f['total'] <= TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
