"""A real kernel whose engine runs steps on Dask: `%config MaestroMagics.executor = 'dask'`, then
the usual notebook: break, mutate, resume, with functions defined in the notebook."""

from __future__ import annotations

import json

import pytest

from .test_kernel import Kernel

pytestmark = pytest.mark.slow

SWEEP = '''%%workflow tune
steps:
  - id: train
    foreach: {lr: [0.1, 0.2], depth: [3, 5]}
    run: train
'''


def test_notebook_functions_run_on_a_local_cluster_with_breakpoints(tmp_path):
    kernel = Kernel(str(tmp_path))
    try:
        kernel.ok("%config MaestroMagics.executor = 'dask'\n%load_ext maestro_nb\n%workflow db state.duckdb")
        kernel.ok("import json, os\nimport maestro_nb\n"
                  "def train(lr, depth):\n    return {'score': round(lr * depth, 3), 'pid': os.getpid()}")
        kernel.ok(SWEEP)
        kernel.ok("%breakpoint tune.train --when 'lr > 0.15'")
        out = kernel.run("%workflow run tune", timeout=180)  # starts the LocalCluster
        assert out["error"] is None, out
        assert "tune#1 (version 1, run 1): paused" in out["results"][0]["text/plain"]
        kernel.ok("paused.where(depth=5)[0].params['lr'] = 1.0")
        kernel.ok("%resume tune.train --all")
        shown = kernel.ok("frame = maestro_nb.sql(\"SELECT output FROM iterations WHERE step_id = 'train' "
                          "ORDER BY iteration\")\nprint(json.dumps([json.loads(o) for o in frame.output]), "
                          "os.getpid())")["stdout"]
        text, kernel_pid = shown.rsplit(" ", 1)
        outputs = json.loads(text)
        assert [o["score"] for o in outputs] == [0.3, 0.5, 0.6, 5.0]  # the mutated lr ran
        assert int(kernel_pid) not in {o["pid"] for o in outputs}  # on the workers, not the kernel
        executor = kernel.ok("print(type(maestro_nb.magics.current_engine().scheduler.executor).__name__)")
        assert executor["stdout"] == "DaskExecutor\n"
    finally:
        kernel.close()
