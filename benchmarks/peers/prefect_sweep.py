"""The sweep benchmark's peer: 1k and 10k no-op Prefect 3 mapped tasks, per-task overhead.

Prefect is never a dependency of maestro_nb; without it this prints a message and exits 0.
Run it with an interpreter that has Prefect 3 (a separate venv is simplest):

    python benchmarks/peers/prefect_sweep.py [--quick]

Per-task overhead is (time of the n-task flow - time of a 1-task flow) / n, both after a
first flow that pays Prefect's start-up (its temporary local API server), reported apart.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time


def main() -> None:
    try:
        import prefect
        from prefect import flow, task
    except ImportError:
        print("prefect_sweep: Prefect is not installed here; nothing measured "
              "(pip install 'prefect>=3' in a separate venv to compare)")
        return
    if not prefect.__version__.startswith("3."):
        print(f"prefect_sweep: Prefect {prefect.__version__} found, the peer figures are for Prefect 3; "
              "nothing measured")
        return
    quick = "--quick" in sys.argv[1:]
    sizes = [20, 100] if quick else [1_000, 10_000]

    @task
    def noop(i: int) -> None:
        return None

    @flow(log_prints=False)
    def sweep(n: int) -> int:
        futures = noop.map(range(n))
        futures.wait()
        return sum(1 for f in futures if f.state.is_completed())

    print(f"machine: {os.cpu_count()} cpus, {_cpu()}; Python {platform.python_version()}, Prefect {prefect.__version__}")
    start = time.perf_counter()
    sweep(1)
    first = time.perf_counter() - start
    ones = []
    for _ in range(3):
        start = time.perf_counter()
        sweep(1)
        ones.append(time.perf_counter() - start)
    one = statistics.median(ones)
    print(f"prefect start-up (first 1-task flow, with its API server): {first:.1f} s; a 1-task flow after: {one:.2f} s")
    per_task = None
    for n in sizes:
        start = time.perf_counter()
        done = sweep(n)
        elapsed = time.perf_counter() - start
        if done != n:
            raise SystemExit(f"{done} of {n} Prefect tasks completed")
        per_task = (elapsed - one) / n
        print(f"prefect n={n}: flow {elapsed:.1f} s, {per_task * 1e3:.2f} ms per mapped task")
    print(f"prefect_sweep: {per_task * 1e3:.2f} ms per mapped task at n={sizes[-1]}, start-up {first:.1f} s")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    main()
