"""1,000,000 iterations in one foreach of a no-op step: time and peak RSS.

The sweep runs in a fresh subprocess, so its peak RSS (Linux's VmHWM) is the run's own; the
baseline loop runs in this process before each one (interleaved, median of 3). Target (SPEC 7):
completes, peak RSS <= 2 GiB.

    python benchmarks/million.py [--quick]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import _common as c

TARGET_BYTES = 2 * 1024 ** 3


def child(n: int) -> None:
    """Run the sweep here and print one JSON line: seconds, RSS before and peak RSS."""
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        path = os.path.join(tmp, "million.duckdb")
        with c.new_engine(path) as eng:
            eng.define("sweep", c.sweep_definition(n))
            before = _rss_now()
            start = time.perf_counter()
            instance = eng.run("sweep")
            elapsed = time.perf_counter() - start
            peak = _peak_rss()
            (done,), = eng.store.rows("SELECT count(*) FROM attempts WHERE status = 'SUCCEEDED'"
                                      " AND step_id = 'work' AND len(transitions) = 5")
        size = sum(os.path.getsize(p) for p in (path, path + ".wal") if os.path.exists(p))
        print(json.dumps({"seconds": elapsed, "rss_before": before, "peak_rss": peak, "status": instance.status.value,
                          "succeeded": done, "file_bytes": size}))


def _peak_rss() -> int:
    """This process's peak RSS since it started. Linux's VmHWM, which starts anew with the
    program: getrusage's ru_maxrss survives exec, so a child started by a parent holding the
    baseline's million rows would report the parent's size."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rss_now() -> int:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    if "--child" in sys.argv:
        child(int(sys.argv[sys.argv.index("--child") + 1]))
        return
    n = 20_000 if c.quick_flag() else 1_000_000
    print(c.machine())
    c.baseline(10)
    runs = c.repeats(3)
    samples, bases = [], []
    for _ in range(runs):  # interleaved: a baseline beside each engine run
        bases.append(c.baseline(n))
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"the {n}-iteration sweep failed (exit {proc.returncode})")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        if out["status"] != "SUCCEEDED" or out["succeeded"] != n:
            raise SystemExit(f"the sweep ended {out['status']} with {out['succeeded']} of {n} iterations persisted")
        samples.append(out)
    base = c.median(bases)
    seconds = c.median([o["seconds"] for o in samples])
    peak = max(o["peak_rss"] for o in samples)
    out = samples[-1]
    each = ", ".join(f"{o['seconds']:.1f}" for o in samples)
    mib = 1024 ** 2
    print(f"million n={n}: engine {seconds:.1f} s ({c.us(seconds, n)}), baseline {base:.1f} s ({c.us(base, n)}), "
          f"ratio {seconds / base:.2f}x (median of {runs}, interleaved; engine runs "
          f"{each} s)")
    peaks = ", ".join(f"{o['peak_rss'] / mib:.0f}" for o in samples)
    print(f"million n={n}: peak RSS {peak / mib:.0f} MiB, the largest of the runs' {peaks} MiB "
          f"(before the run {out['rss_before'] / mib:.0f} MiB), "
          f"state file {out['file_bytes'] / mib:.0f} MiB")
    verdict = "met" if peak <= TARGET_BYTES else "NOT met"
    print(f"million: {n} iterations completed in {seconds:.1f} s, peak RSS {peak / mib:.0f} MiB "
          f"(target <= 2048 MiB): {verdict}")


if __name__ == "__main__":
    main()
