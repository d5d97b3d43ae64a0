"""A no-op `run:` foreach at 1k, 10k and 100k iterations on a file DB, against the baseline.

Every transition is persisted: after each run the `attempts` view must hold one row per
iteration, SUCCEEDED, with its five transitions. Target (SPEC 7): <= 3x baseline at 100k.

    python benchmarks/sweep.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import gc
import os
import time

import _common as c

TARGET = 3.0


def engine_run(n: int, workdir: str, tag: str) -> float:
    """Seconds for `run` of an n-iteration no-op sweep on a fresh state file, checked after."""
    path = os.path.join(workdir, f"sweep-{tag}.duckdb")
    eng = c.new_engine(path)
    try:
        eng.define("sweep", c.sweep_definition(n))
        gc.collect()
        cpu = time.process_time()
        start = time.perf_counter()
        instance = eng.run("sweep")
        elapsed = time.perf_counter() - start
        c.LAST_CPU[0] = time.process_time() - cpu
        assert instance.status.value == "SUCCEEDED", instance
        check_rows(eng, n)
    finally:
        eng.close()
    c.remove_state(path)
    return elapsed


def check_rows(eng, n: int) -> int:
    """Every iteration persisted with its full transition list; returns attempt_log's row count."""
    (logged,), = eng.store.rows("SELECT count(*) FROM attempt_log WHERE step_id = 'work'")
    (latest, done, full), = eng.store.rows(
        "SELECT count(*), count(*) FILTER (WHERE status = 'SUCCEEDED'),"
        " count(*) FILTER (WHERE transitions = ['CREATED', 'INITIALIZED', 'EVALUATING_PARAMS',"
        " 'RUNNING', 'SUCCEEDED']) FROM attempts WHERE step_id = 'work'"
    )
    if not latest == done == full == n or logged < n:
        raise SystemExit(f"persisted rows are wrong: attempt_log {logged}, attempts {latest}, "
                         f"succeeded {done}, with all transitions {full}; expected {n}")
    return logged


def main() -> None:
    sizes = [1_000, 5_000] if c.quick_flag() else [1_000, 10_000, 100_000]
    print(c.machine())
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        ratio = None
        for n in sizes:
            runs = c.repeats(5 if n < 100_000 else 5)
            base, eng, base_cpu, eng_cpu = [], [], [], []
            for r in range(runs):
                base.append(c.baseline(n))
                base_cpu.append(c.LAST_CPU[0])
                eng.append(engine_run(n, tmp, f"{n}-{r}"))
                eng_cpu.append(c.LAST_CPU[0])
            b, e = c.median(base), c.median(eng)
            ratio = e / b
            print(f"sweep n={n}: engine {e:.3f} s ({c.us(e, n)}), baseline {b:.3f} s ({c.us(b, n)}), "
                  f"ratio {ratio:.2f}x  [median of {runs}; engine runs {', '.join(f'{x:.3f}' for x in eng)}]")
            print(f"sweep n={n} cpu: engine {c.us(c.median(eng_cpu), n)}, baseline {c.us(c.median(base_cpu), n)}, "
                  f"ratio {c.median(eng_cpu) / c.median(base_cpu):.2f}x; median of paired wall ratios "
                  f"{c.median([x / y for x, y in zip(eng, base)]):.2f}x")
        n = sizes[-1]
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"sweep: n={n} ratio {ratio:.2f}x baseline (target <= {TARGET:g}x at 100000): {verdict}")


if __name__ == "__main__":
    main()
