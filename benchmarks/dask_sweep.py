"""A foreach on Dask distributed against Dask's own `client.map` of the same function.

Both run on the same LocalCluster (2 worker processes, 1 thread each), in this process,
interleaved: 10,000 attempts of a no-op step and 10,000 of a ~10 ms CPU step. The engine's runs
persist every attempt to a file-backed state file (checked after each run); `client.map` only
computes and gathers. Targets (issue 12, SPEC 7): a no-op attempt costs at most 1.5x a
`client.map` task; the 10 ms sweep's wall time is within 10% of `client.map`'s.

    python benchmarks/dask_sweep.py [--quick] [--repeat=N] [--batch=N]

`--batch=1` sends one attempt per Dask task (no batching), to show what batching buys.
"""

from __future__ import annotations

import gc
import os
import sys
import time

import _common as c

NOOP_TARGET = 1.5
CPU_TARGET = 1.10
WORK = [0]  # loop rounds that take about 10 ms here, measured at start


def noop(i: int) -> None:
    return None


def cpu(i: int, rounds: int) -> int:
    """About 10 ms of pure-Python work."""
    total = 0
    for k in range(rounds):
        total += k * k % 7
    return total


def calibrate() -> int:
    rounds = 20_000
    while True:
        start = time.perf_counter()
        cpu(0, rounds)
        took = time.perf_counter() - start
        if took > 0.005:
            return int(rounds * 0.010 / took)
        rounds *= 2


def flag(name: str, default: int | None) -> int | None:
    for arg in sys.argv[1:]:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


def map_run(client, fn, n: int, **kwargs) -> float:
    gc.collect()
    start = time.perf_counter()
    futures = client.map(fn, range(n), pure=False, **kwargs)
    client.gather(futures)
    elapsed = time.perf_counter() - start
    del futures
    return elapsed


def engine_run(client, fn, n: int, workdir: str, tag: str, batch: int | None, **params) -> float:
    from maestro_nb.engine.dask_executor import DaskExecutor
    from maestro_nb.engine.engine import Engine

    path = os.path.join(workdir, f"dask-{tag}.duckdb")
    executor = DaskExecutor(client) if batch is None else DaskExecutor(client, max_batch=batch)
    eng = Engine(path, {"fn": fn}, executor=executor)
    try:
        step = {"id": "work", "foreach": {"i": "${range(%d)}" % n}, "run": "fn", "params": params}
        eng.define("sweep", {"steps": [step]})
        gc.collect()
        start = time.perf_counter()
        instance = eng.run("sweep")
        elapsed = time.perf_counter() - start
        assert instance.status.value == "SUCCEEDED", instance
        (done,), = eng.store.rows("SELECT count(*) FROM iterations WHERE step_id = 'work' AND status = 'SUCCEEDED'")
        if done != n:
            raise SystemExit(f"{done} of {n} attempts were stored as SUCCEEDED")
        peak, bound = executor.peak_tasks, executor.max_tasks
        if peak > bound:
            raise SystemExit(f"{peak} Dask tasks were alive at once; the bound is {bound}")
    finally:
        eng.close()
    c.remove_state(path)
    return elapsed


def compare(client, label: str, fn, n: int, runs: int, workdir: str, batch: int | None, **params) -> float:
    maps, engines = [], []
    for r in range(runs):
        maps.append(map_run(client, fn, n, **params))
        engines.append(engine_run(client, fn, n, workdir, f"{label}-{r}", batch, **params))
    m, e = c.median(maps), c.median(engines)
    ratio = e / m
    print(f"dask {label} n={n}: engine {e:.2f} s ({c.us(e, n)}), client.map {m:.2f} s ({c.us(m, n)}), "
          f"ratio {ratio:.2f}x  [median of {runs}; engine {', '.join(f'{x:.2f}' for x in engines)}; "
          f"map {', '.join(f'{x:.2f}' for x in maps)}]")
    return ratio


def main() -> None:
    from distributed import Client, LocalCluster
    import dask

    quick = c.quick_flag()
    n = flag("n", 300 if quick else 10_000)
    runs = c.repeats(3)
    batch = flag("batch", None)
    print(c.machine())
    WORK[0] = calibrate()
    print(f"cpu step: {WORK[0]} rounds, about 10 ms here; batching: "
          f"{f'at most {batch} attempt(s) per task' if batch else 'adaptive (default)'}")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    try:
        with c.scratch_dir() as tmp:
            map_run(client, noop, 50)
            engine_run(client, noop, 50, tmp, "warm", batch)
            noop_ratio = compare(client, "no-op", noop, n, runs, tmp, batch)
            cpu_ratio = compare(client, "10 ms", cpu, n, runs, tmp, batch, rounds=WORK[0])
    finally:
        client.close()
        cluster.close()
    for label, ratio, target in (("no-op per-task cost", noop_ratio, NOOP_TARGET),
                                 ("10 ms sweep wall time", cpu_ratio, CPU_TARGET)):
        verdict = "met" if ratio <= target else "NOT met"
        print(f"dask_sweep: {label} {ratio:.2f}x client.map (target <= {target:g}x at 10000): {verdict}")


if __name__ == "__main__":
    main()
