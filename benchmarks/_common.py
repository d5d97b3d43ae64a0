"""Shared pieces of the benchmarks: the baseline loop, a timed engine run, and reporting.

The baseline (SPEC section 7) is a bare Python loop that calls the same step function and
builds one attempt_log row per iteration (the columns the engine writes), then inserts all
of them into a file-backed DuckDB table as one Arrow table in one statement.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing


def noop(i: int) -> None:
    """The benchmarked step: a no-op taking its loop param."""
    return None


@contextmanager
def scratch_dir():
    path = tempfile.mkdtemp(prefix="maestro-bench-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


LAST_CPU = [0.0]  # CPU seconds (all threads) of the last baseline or engine run


def baseline(n: int, fn: Callable[..., Any] = noop) -> float:
    """Seconds for the bare loop: call `fn`, build the attempt_log rows, one bulk insert."""
    import duckdb
    import pyarrow as pa

    from maestro_nb.store.store import _SCHEMAS, _migrations

    schema = _SCHEMAS["attempt_log"]
    with scratch_dir() as tmp:
        conn = duckdb.connect(os.path.join(tmp, "baseline.duckdb"))
        for _, ddl in _migrations():  # the same tables, columns and views as a state file
            conn.execute(ddl)
        gc.collect()
        cpu = time.process_time()
        start = time.perf_counter()
        rows = []
        clock = time.time
        dumps = json.dumps
        transitions = ["CREATED", "INITIALIZED", "EVALUATING_PARAMS", "RUNNING", "SUCCEEDED"]
        for i in range(n):
            t0 = clock()
            output = fn(i=i)
            t1 = clock()
            params = dumps({"i": i})
            rows.append((
                i + 1, "sweep", 1, 1, "work", str(i), params, 1, "SUCCEEDED", None, None,
                params, "null" if output is None else dumps(output), None, transitions,
                [t0, t0, t0, t0, t1], None, None, None,
            ))
        arrays = [pa.array(col, type=field.type) for field, col in zip(schema, zip(*rows))]
        batch = pa.table(arrays, schema=schema)  # noqa: F841 - read by DuckDB's replacement scan
        conn.execute("INSERT INTO attempt_log SELECT * FROM batch")
        elapsed = time.perf_counter() - start
        LAST_CPU[0] = time.process_time() - cpu
        conn.close()
    return elapsed


def remove_state(path: str) -> None:
    """Delete a state file and its write-ahead log, so the next run starts on a fresh one."""
    for suffix in ("", ".wal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def sweep_definition(n: int, kind: str = "run") -> dict[str, Any]:
    step: dict[str, Any] = {"id": "work", "foreach": {"i": "${range(%d)}" % n}}
    if kind == "run":
        step["run"] = "noop"
    else:
        step["noop"] = True
    return {"description": f"{n} no-op iterations", "steps": [step]}


def new_engine(path: str, **kwargs: Any):
    from maestro_nb.engine.engine import Engine

    return Engine(path, {"noop": noop}, **kwargs)


def warm_up(workdir: str) -> None:
    """Pay the first-use imports (duckdb, pyarrow, ...) once, as a kernel would."""
    with new_engine(os.path.join(workdir, "warm.duckdb")) as eng:
        eng.define("sweep", sweep_definition(10))
        eng.run("sweep")
    baseline(10)


def median(values: list[float]) -> float:
    return statistics.median(values)


def quick_flag() -> bool:
    return "--quick" in sys.argv[1:]


def repeats(default: int) -> int:
    for arg in sys.argv[1:]:
        if arg.startswith("--repeat="):
            return int(arg.split("=", 1)[1])
    return 1 if quick_flag() else default


def machine() -> str:
    import duckdb

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"machine: {os.cpu_count()} cpus, {cpu}; Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}")


def us(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:.1f} us/iteration"


_CWD: list[str] = []


def new_shell(workdir: str):
    """A fresh in-process IPython shell with `%load_ext maestro_nb`, its history off."""
    from IPython.core.history import HistoryManager
    from IPython.core.interactiveshell import InteractiveShell

    HistoryManager.enabled = False
    _CWD.append(os.getcwd())
    os.chdir(workdir)
    shell = InteractiveShell()
    shell.run_line_magic("load_ext", "maestro_nb")
    return shell


def session_engine(shell):
    from maestro_nb.magics.kernel import session_for

    return session_for(shell).engine


def close_shell(shell) -> None:
    shell.run_line_magic("unload_ext", "maestro_nb")
    if _CWD:
        os.chdir(_CWD.pop())
    InteractiveShellClass = type(shell)
    if InteractiveShellClass.initialized():
        InteractiveShellClass.clear_instance()
