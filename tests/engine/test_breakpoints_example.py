"""examples/four_uses.py runs SPEC section 1's four uses end to end, in its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "four_uses.py"

pytestmark = pytest.mark.slow


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-W", "error", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.mark.parametrize("executor", [[], ["--executor", "dask"]], ids=["inline", "dask"])
def test_four_uses_example_runs_and_every_check_passes(tmp_path, executor):
    state = tmp_path / "four_uses.duckdb"
    done = run([str(SCRIPT), str(state), *executor])
    assert done.returncode == 0, done.stdout + done.stderr
    if not executor:  # Dask's own logging may speak on stderr (a slow heartbeat at shutdown, say)
        assert done.stderr == ""
    for heading in ("1. Initial development", "2. Foreach", "3. In-flight mutation", "4. Human-in-the-loop"):
        assert heading in done.stdout
    assert "FAILED" not in done.stdout and done.stdout.rstrip().endswith("all four uses work")
    assert state.exists()


def test_four_uses_example_exits_non_zero_when_a_rule_breaks(tmp_path):
    """Break Maestro's rule on purpose (deleting a breakpoint keeps everything paused): the
    script must notice, so its checks are not vacuous."""
    code = (
        "import runpy, sys\n"
        "from maestro_nb.engine.engine import Engine\n"
        "real = Engine.delete_breakpoint\n"
        "Engine.delete_breakpoint = lambda self, sel, **kw: real(self, sel, keep_paused=True)\n"
        f"sys.argv = ['four_uses.py', {str(tmp_path / 'broken.duckdb')!r}]\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
    )
    done = run(["-c", code])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[FAILED] every iteration ran exactly once" in done.stdout
