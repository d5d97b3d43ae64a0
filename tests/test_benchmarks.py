"""The benchmark scripts run (with --quick) and print their figures; no timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")

EXPECTED = {
    "sweep.py": ["sweep n=1000:", "sweep n=5000:", "sweep: n=5000 ratio",
                 "sweep with ~1 ms steps: outside the steps, engine", "host caches: reading 256 KiB",
                 "sweep: overhead with ~1 ms steps"],
    "million.py": ["million n=20000: engine", "peak RSS", "million: 20000 iterations completed"],
    "resume.py": ["resume one of 2000 paused (engine.resume):", "delete breakpoint, 2000 resume and finish:", "resume: one"],
    "breakpoint_check.py": ["breakpoints on other steps:", "on the same step, other instances:",
                            "breakpoint_check:"],
    "notebook_actions.py": ["paused n=2000:", "resume one of 2000 paused: paused[k].resume()",
                            "notebook_actions: showing paused", "notebook_actions: resume one from the notebook"],
    "table_outputs.py": ["table outputs n=2000:", "bytes per frame", "table_outputs: storing a small frame"],
    "reopen.py": ["reopen no-op n=2000: showing the instance", "reopen small frames n=2000:",
                  "reopen: showing a finished instance of 2000 iterations"],
    "cold_start.py": ["cold start: %load_ext", "cold_start: first result in a fresh shell"],
    "import_time.py": ["import maestro_nb:", "import maestro_nb.engine.engine:", "import_time: import maestro_nb"],
    "peers/prefect_sweep.py": ["prefect_sweep:"],
    "peers/dask_map.py": ["dask client.map (threads) n=100:", "dask client.map (threads) n=500:", "dask_map:"],
    "panel_overhead.py": ["panel n=5000: without", "panel n=5000 drawing:", "panel_overhead: n=5000 overhead"],
    "dask_sweep.py": ["dask no-op n=300:", "dask 10 ms n=300:", "dask_sweep: no-op per-task cost",
                      "dask_sweep: 10 ms sweep wall time"],
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_runs(script: str, tmp_path) -> None:
    """Each script exits 0 with --quick and prints its figure lines."""
    proc = subprocess.run([sys.executable, os.path.join(BENCHMARKS, script), "--quick"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for line in EXPECTED[script]:
        assert line in proc.stdout, f"{line!r} not in the output of {script}:\n{proc.stdout}"
    assert "machine:" in proc.stdout or script.startswith("peers/")
