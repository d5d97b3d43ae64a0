"""Cost per attempt of the breakpoint check, with 1, 100 and 10,000 breakpoints elsewhere.

The breakpoints sit on another workflow's steps (`other.s0` ... `other.s99`, spread over
instance scopes), so none matches the sweep's attempts: the check must cost the same
whatever their number. Measured in place: the scheduler's check is timed on every attempt of
a no-op sweep (two checks per attempt: `before` and `after`), and the whole sweep is timed
too. A last row puts the same number of breakpoints on the sweep's own step but scoped to
other instances, which is the case an index keyed by step cannot skip.

    python benchmarks/breakpoint_check.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import gc
import os
import time

import _common as c

OTHER_STEPS = 100


def other_workflow() -> dict:
    return {"steps": [{"id": f"s{k}", "noop": True} for k in range(OTHER_STEPS)]}


def measure(n: int, count: int, runs: int, workdir: str, tag: str,
            same_step: bool = False) -> tuple[list[float], list[float]]:
    """Seconds per check and per sweep iteration, for `runs` sweeps with `count` breakpoints set."""
    path = os.path.join(workdir, f"bp-{tag}.duckdb")
    per_check, per_it = [], []
    with c.new_engine(path) as eng:
        eng.define("sweep", c.sweep_definition(n))
        eng.define("other", other_workflow())
        for k in range(count):
            if same_step:
                eng.set_breakpoint("sweep.work", instance=1000 + k)
            else:
                eng.set_breakpoint(f"other.s{k % OTHER_STEPS}", instance=1 + k // OTHER_STEPS)
        sched = eng.scheduler
        check = sched._check
        spent = [0.0, 0]
        clock = time.perf_counter

        def timed(a, point):
            start = clock()
            held = check(a, point)
            spent[0] += clock() - start
            spent[1] += 1
            return held

        sched._check = timed
        for _ in range(runs):
            spent[:] = [0.0, 0]
            gc.collect()
            start = time.perf_counter()
            instance = eng.run("sweep")
            elapsed = time.perf_counter() - start
            assert instance.status.value == "SUCCEEDED" and not eng.paused(), instance
            per_check.append(spent[0] / spent[1])
            per_it.append(elapsed / n)
        del sched._check
    for suffix in ("", ".wal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return per_check, per_it


def main() -> None:
    quick = c.quick_flag()
    n = 2_000 if quick else 20_000
    counts = [1, 100, 1_000] if quick else [1, 100, 10_000]
    runs = c.repeats(5) if not quick else 2
    print(c.machine())
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        # The timing wrapper's own cost, to subtract: a check that does nothing.
        clock = time.perf_counter
        empty = [0.0]

        def nothing(a, point):
            return False

        def timed(a, point):
            start = clock()
            held = nothing(a, point)
            empty[0] += clock() - start
            return held

        for _ in range(n):
            timed(None, "before")
        overhead = empty[0] / n
        results = {}
        for count in counts:
            per_check, per_it = measure(n, count, runs, tmp, str(count))
            results[count] = c.median(per_check) - overhead
            print(f"breakpoint check with {count} breakpoints on other steps: {results[count] * 1e6:.2f} us/check "
                  f"(sweep of {n}: {c.median(per_it) * 1e6:.1f} us/iteration) [median of {runs}]")
        count = counts[-1]
        small = max(200, n // 20)
        same = c.median(measure(small, count, min(runs, 3), tmp, "same", same_step=True)[0]) - overhead
        print(f"breakpoint check with {count} breakpoints on the same step, other instances: {same * 1e6:.2f} us/check "
              f"(sweep of {small}; looked up by instance, not scanned)")
        low, high = results[counts[0]], results[counts[-1]]
        flat = high <= 2 * low + 0.5e-6
        print(f"breakpoint_check: {low * 1e6:.2f} us with {counts[0]}, {high * 1e6:.2f} us with {counts[-1]} "
              f"breakpoints on other steps: {'flat' if flat else 'NOT flat'}")


if __name__ == "__main__":
    main()
