"""Resume among many paused iterations, and delete a breakpoint that holds them all.

A breakpoint on the foreach step pauses every iteration (n = 100,000). Then:
- resume one paused iteration through the engine (`engine.resume(a)`, the attempt object in
  hand), median of several, each one a separate call that runs until quiescent (target
  <= 5 ms). The notebook path (`paused[k].resume()`, `%resume`, with the run summary they show)
  is measured apart, by `notebook_actions.py`;
- delete the breakpoint: every other iteration resumes and finishes; time until the instance
  has SUCCEEDED, and its ratio to the unpaused run of the same sweep (target <= 3x).

    python benchmarks/resume.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import gc
import os
import time

import _common as c

RESUME_TARGET_MS = 5.0
DELETE_TARGET = 3.0
RESUMES = 21


def unpaused(n: int, workdir: str, tag: str) -> float:
    with c.new_engine(os.path.join(workdir, f"plain-{tag}.duckdb")) as eng:
        eng.define("sweep", c.sweep_definition(n))
        gc.collect()
        start = time.perf_counter()
        instance = eng.run("sweep")
        elapsed = time.perf_counter() - start
        assert instance.status.value == "SUCCEEDED", instance
    return elapsed


def paused_run(n: int, workdir: str, tag: str) -> dict[str, float | list[float]]:
    out: dict[str, float | list[float]] = {}
    with c.new_engine(os.path.join(workdir, f"paused-{tag}.duckdb")) as eng:
        eng.define("sweep", c.sweep_definition(n))
        eng.set_breakpoint("sweep.work")
        gc.collect()
        start = time.perf_counter()
        instance = eng.run("sweep")
        out["pause_all"] = time.perf_counter() - start
        held = eng.paused(step="work")
        if len(held) != n:
            raise SystemExit(f"expected {n} paused iterations, found {len(held)}")
        start = time.perf_counter()
        eng.paused(step="work", i=n // 2)
        out["find_one"] = time.perf_counter() - start
        picks = held[:: max(1, n // RESUMES)][:RESUMES]
        times = []
        for a in picks:
            start = time.perf_counter()
            eng.resume(a)
            times.append(time.perf_counter() - start)
            assert a.status.value == "SUCCEEDED", a
        out["resume_one"] = times
        gc.collect()
        start = time.perf_counter()
        eng.delete_breakpoint("sweep.work")
        out["delete"] = time.perf_counter() - start
        assert instance.status.value == "SUCCEEDED", instance
        (done,), = eng.store.rows("SELECT count(*) FROM attempts WHERE step_id = 'work' AND status = 'SUCCEEDED'")
        if done != n:
            raise SystemExit(f"expected {n} succeeded iterations, found {done}")
    return out


def main() -> None:
    n = 2_000 if c.quick_flag() else 100_000
    runs = c.repeats(3)
    print(c.machine())
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        plain, pause_all, find_one, resume_one, delete = [], [], [], [], []
        for r in range(runs):
            plain.append(unpaused(n, tmp, str(r)))
            out = paused_run(n, tmp, str(r))
            pause_all.append(out["pause_all"])
            find_one.append(out["find_one"])
            resume_one.append(c.median(out["resume_one"]))
            delete.append(out["delete"])
            for f in os.listdir(tmp):
                if f.endswith((".duckdb", ".wal")) and not f.startswith("warm"):
                    os.remove(os.path.join(tmp, f))
        p, d, one = c.median(plain), c.median(delete), c.median(resume_one) * 1e3
        print(f"resume n={n}: unpaused run {p:.3f} s ({c.us(p, n)}); run to all paused "
              f"{c.median(pause_all):.3f} s; find one with paused(i=...) {c.median(find_one) * 1e3:.1f} ms")
        print(f"resume one of {n} paused (engine.resume): {one:.2f} ms (median of {RESUMES} per run, median of {runs} runs; "
              f"per run {', '.join(f'{x * 1e3:.2f}' for x in resume_one)})")
        print(f"delete breakpoint, {n} resume and finish: {d:.3f} s, ratio {d / p:.2f}x the unpaused run "
              f"[runs {', '.join(f'{x:.3f}' for x in delete)}]")
        v1 = "met" if one <= RESUME_TARGET_MS else "NOT met"
        v2 = "met" if d / p <= DELETE_TARGET else "NOT met"
        print(f"resume: one {one:.2f} ms (target <= {RESUME_TARGET_MS:g} ms): {v1}; "
              f"delete {d / p:.2f}x unpaused (target <= {DELETE_TARGET:g}x): {v2}")


if __name__ == "__main__":
    main()
