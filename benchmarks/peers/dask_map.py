"""The sweep benchmark's Dask peer: `client.map` of a no-op on threads against maestro_nb's sweep.

In one run, in this process, interleaved, median of several runs per size: Dask's
`client.map` of a no-op over range(n), gathering the results, on a LocalCluster of one worker
with threads (`processes=False`: its scheduler and worker run as threads here), against
maestro_nb's own no-op foreach sweep of the same n on a file-backed state file, every attempt
persisted (checked after each run as `sweep.py` does). Both sides are the run's time over n;
CPU time (all threads of this process) is printed beside wall time.

Dask is an optional dependency (`pip install 'maestro_nb[dask]'`); without it this prints a
message and exits 0.

    python benchmarks/peers/dask_map.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/

import _common as c  # noqa: E402
from dask_sweep import map_run  # noqa: E402
from sweep import engine_run  # noqa: E402


def timed_map(client, n: int) -> tuple[float, float]:
    """Wall and CPU seconds of one `client.map` of the no-op over range(n), gathered."""
    cpu = time.process_time()
    elapsed = map_run(client, c.noop, n)
    return elapsed, time.process_time() - cpu


def main() -> None:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("dask_map: Dask distributed is not installed here; nothing measured "
              "(pip install 'maestro_nb[dask]' to compare)")
        return
    import distributed

    sizes = [100, 500] if c.quick_flag() else [1_000, 10_000]
    runs = c.repeats(5)
    threads = os.cpu_count() or 1
    print(f"{c.machine()}, distributed {distributed.__version__}; "
          f"LocalCluster(processes=False, n_workers=1, threads_per_worker={threads})")
    cluster = LocalCluster(processes=False, n_workers=1, threads_per_worker=threads, dashboard_address=None)
    client = Client(cluster)
    ratio = None
    try:
        with c.scratch_dir() as tmp:
            c.warm_up(tmp)
            timed_map(client, 100)
            for n in sizes:
                maps, map_cpu, sweeps, sweep_cpu = [], [], [], []
                for r in range(runs):
                    wall, cpu = timed_map(client, n)
                    maps.append(wall)
                    map_cpu.append(cpu)
                    sweeps.append(engine_run(n, tmp, f"{n}-{r}"))
                    sweep_cpu.append(c.LAST_CPU[0])
                m, e = c.median(maps), c.median(sweeps)
                ratio = m / e
                print(f"dask client.map (threads) n={n}: {m / n * 1e6:.0f} us/task; maestro_nb "
                      f"{c.us(e, n)}: {ratio:.0f}x cheaper per task  [median of {runs}; cpu: dask "
                      f"{c.median(map_cpu) / n * 1e6:.0f} us/task, maestro_nb {c.us(c.median(sweep_cpu), n)}, "
                      f"{c.median(map_cpu) / c.median(sweep_cpu):.0f}x]")
    finally:
        client.close()
        cluster.close()
    print(f"dask_map: client.map on threads costs {ratio:.0f}x maestro_nb's per-iteration cost at n={sizes[-1]}")


if __name__ == "__main__":
    main()
