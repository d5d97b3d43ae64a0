"""Reopening a state file that holds a finished sweep: showing its instance, then results().

A notebook reopened the next day asks for `%workflow results sweep.work` first; that loads the
instance from the file, then reads every iteration back. Two sweeps of n iterations, one of
no-op steps and one whose steps return a small DataFrame, each on a fresh state file, then
closed; a fresh engine on the file times `engine.instance(...)` and `engine.results(...)`. The
baseline, in the same process: one query fetching every attempt row of the instance from the
`iterations` view (the least a reader of those rows can do). Medians of several reopenings.
SPEC 7 sets no goal for these; the figures show where a reopened notebook waits.

    python benchmarks/reopen.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import os
import time

import _common as c
from table_outputs import make_frame


def reopen_times(path: str) -> tuple[float, float, float]:
    """Seconds to load the instance, to read its results, and for the baseline query."""
    with c.new_engine(path) as eng:
        start = time.perf_counter()
        eng.instance("sweep")
        shown = time.perf_counter() - start
        start = time.perf_counter()
        frame = eng.results("sweep", "work")
        read = time.perf_counter() - start
        assert len(frame) == eng.store.rows("SELECT count(*) FROM iterations WHERE step_id = 'work'")[0][0]
    with c.new_engine(path) as eng:
        start = time.perf_counter()
        eng.store.rows("SELECT * FROM iterations WHERE workflow = 'sweep' AND instance_id = 1")
        baseline = time.perf_counter() - start
    return shown, read, baseline


def main() -> None:
    n = 2_000 if c.quick_flag() else 100_000
    runs = c.repeats(3)
    print(c.machine())
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        shown_all = []
        for kind, fn in (("no-op", c.noop), ("small frames", make_frame)):
            path = os.path.join(tmp, f"reopen-{kind[:2]}.duckdb")
            with c.new_engine(path) as eng:
                eng.namespace["noop"] = fn
                eng.define("sweep", c.sweep_definition(n))
                assert eng.run("sweep").status.value == "SUCCEEDED"
            shown, read, base = zip(*(reopen_times(path) for _ in range(runs)))
            s, r, b = c.median(list(shown)), c.median(list(read)), c.median(list(base))
            shown_all.append(s)
            print(f"reopen {kind} n={n}: showing the instance {s * 1e3:.1f} ms, results() {r:.3f} s, "
                  f"baseline query {b:.3f} s (results {r / b:.1f}x; median of {runs})")
            c.remove_state(path)
        print(f"reopen: showing a finished instance of {n} iterations takes {max(shown_all) * 1e3:.1f} ms at most")


if __name__ == "__main__":
    main()
