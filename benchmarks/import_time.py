"""`import maestro_nb` (and `import maestro_nb.engine.engine`) in fresh subprocesses.

Each figure is the import alone, timed inside a new interpreter (interpreter start-up is
reported apart). Target (SPEC 7): `import maestro_nb` <= 300 ms.

    python benchmarks/import_time.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import _common as c

TARGET_MS = 300.0
ROOT = os.path.dirname(c.HERE)
PROBE = ("import sys, time; sys.path.insert(0, {root!r}); start = time.perf_counter(); import {module}; "
         "print(time.perf_counter() - start)")


def once(module: str) -> tuple[float, float]:
    """(seconds for the import inside the child, seconds for the whole child process)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=ROOT, module=module)],
                         capture_output=True, text=True, check=True)
    total = time.perf_counter() - start
    return float(out.stdout.strip()), total


def main() -> None:
    runs = c.repeats(9) if not c.quick_flag() else 3
    print(c.machine())
    once("json")  # warm the file cache
    bare = c.median([once("json")[1] for _ in range(runs)])
    figures = {}
    for module in ("maestro_nb", "maestro_nb.engine.engine"):
        once(module)
        samples = [once(module) for _ in range(runs)]
        inner = c.median([s[0] for s in samples])
        total = c.median([s[1] for s in samples])
        figures[module] = inner
        print(f"import {module}: {inner * 1e3:.0f} ms (whole process {total * 1e3:.0f} ms, "
              f"an interpreter alone {bare * 1e3:.0f} ms) [median of {runs}]")
    ms = figures["maestro_nb"] * 1e3
    verdict = "met" if ms <= TARGET_MS else "NOT met"
    print(f"import_time: import maestro_nb {ms:.0f} ms (target <= {TARGET_MS:g} ms): {verdict}; "
          f"import maestro_nb.engine.engine {figures['maestro_nb.engine.engine'] * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
