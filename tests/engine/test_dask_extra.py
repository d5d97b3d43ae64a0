"""Dask is optional: the package imports without it, names the extra when it is missing, and
checks a Dask executor's name before the state file is touched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.engine.executors import make_executor
from maestro_nb.errors import MaestroError, ParamError


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_importing_the_engine_does_not_import_dask():
    done = python("import sys, maestro_nb\nfrom maestro_nb.engine.engine import Engine\n"
                  "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')"
                  " or m == 'maestro_nb.engine.dask_executor'))")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


@pytest.mark.parametrize("spec", ["dask", "dask://127.0.0.1:8786", "tcp://127.0.0.1:8786"])
def test_without_distributed_a_dask_executor_is_one_error_naming_the_extra(tmp_path, spec):
    state = tmp_path / "state.duckdb"
    done = python(
        "import sys\nsys.modules['distributed'] = None  # as if it were not installed\n"
        "from maestro_nb.engine.engine import Engine\nfrom maestro_nb.errors import MaestroError\n"
        f"try:\n    Engine({str(state)!r}, executor={spec!r})\n"
        "except MaestroError as exc:\n    print(type(exc).__name__, '|', exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("MaestroError | the Dask executor needs dask.distributed, which is not installed; "
                           "pip install 'maestro_nb[dask]'\n")
    assert not state.exists()


@pytest.mark.parametrize("spec, text", [
    ("dask://", "names no scheduler"),
    ("dusk", "unknown executor 'dusk'; use 'inline', 'threads', 'dask', 'dask://ADDRESS'"),
])
def test_a_bad_executor_name_is_refused_before_the_state_file_is_touched(tmp_path, spec, text):
    state = tmp_path / "state.duckdb"
    with pytest.raises(ParamError, match=text) as info:
        Engine(str(state), executor=spec)
    assert "\n" not in str(info.value) and isinstance(info.value, MaestroError)
    assert not Path(state).exists()


def test_executor_names_for_dask_make_a_dask_executor_that_connects_lazily():
    from maestro_nb.engine.dask_executor import DaskExecutor

    for spec, address in [("dask", None), ("dask://10.0.0.1:8786", "10.0.0.1:8786"),
                          ("dask://tcp://h:1", "tcp://h:1"), ("tcp://h:8786", "tcp://h:8786")]:
        executor = make_executor(spec)
        assert isinstance(executor, DaskExecutor) and executor.address == address
        assert executor._client is None  # nothing started or reached until an attempt is sent
        executor.shutdown()
