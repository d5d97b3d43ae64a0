"""End to end through a real kernel: break, mutate, restart the kernel, resume; bad inputs."""

from __future__ import annotations

import json
import queue
import time
from typing import Any

import pytest

from ..kernel_support import RealKernel

pytestmark = pytest.mark.slow

CODE = '''
def load(n_rows):
    return {"n": n_rows}

def train(load, lr, depth):
    return {"score": round(lr * depth, 3)}
'''

TUNE = '''%%workflow tune
params: {n_rows: 10}
steps:
  - id: load
    run: load
  - id: train
    after: [load]
    foreach: {lr: [0.1, 0.2], depth: [3, 5]}
    run: train
'''

COUNTS = ('import maestro_nb; print(json.dumps([int(n) for n in maestro_nb.sql("SELECT '
          "(SELECT count(*) FROM attempt_log), (SELECT count(*) FROM event_log), "
          "(SELECT count(*) FROM breakpoint_log), (SELECT count(*) FROM instance_log), "
          '(SELECT count(*) FROM workflow_versions)").iloc[0]]))')


class Kernel(RealKernel):
    """A kernel and a blocking client; `run(code)` collects what the cell shows."""

    def run(self, code: str, timeout: float = 60) -> dict[str, Any]:
        msg_id = self.client.execute(code)
        out: dict[str, Any] = {"stdout": "", "stderr": "", "results": [], "error": None}
        while not _collect(self.client.get_iopub_msg(timeout=timeout), msg_id, out):
            pass
        self.client.get_shell_msg(timeout=timeout)
        return out

    def run_answering(self, code: str, answers: list[str], timeout: float = 60) -> dict[str, Any]:
        """Run `code`, answering each input request (a debugger's prompt) with the next answer."""
        msg_id = self.client.execute(code, allow_stdin=True)
        out: dict[str, Any] = {"stdout": "", "stderr": "", "results": [], "error": None, "prompts": []}
        answers = list(answers)
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, f"no idle within {timeout} s: {out}"
            try:
                request = self.client.get_stdin_msg(timeout=0.01)
            except queue.Empty:
                pass
            else:
                if request["msg_type"] == "input_request":
                    out["prompts"].append(request["content"]["prompt"])
                    assert answers, f"the debugger asked for more input: {out}"
                    self.client.input(answers.pop(0))
                continue
            try:
                msg = self.client.get_iopub_msg(timeout=0.01)
            except queue.Empty:
                continue
            if _collect(msg, msg_id, out):
                break
        self.client.get_shell_msg(timeout=timeout)
        assert not answers, f"answers left over: {answers}"
        return out

    def ok(self, code: str) -> dict[str, Any]:
        out = self.run(code)
        assert out["error"] is None and not out["stderr"], out
        return out

    def restart(self) -> None:
        self.manager.restart_kernel(now=True)
        self.client.wait_for_ready(timeout=60)



def _collect(msg: dict[str, Any], msg_id: str, out: dict[str, Any]) -> bool:
    """Add what an iopub message of cell `msg_id` shows to `out`; True once the cell is done."""
    if msg["parent_header"].get("msg_id") != msg_id:
        return False
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        out[content["name"]] += content["text"]
    elif kind in ("execute_result", "display_data"):
        out["results"].append(content["data"])
    elif kind == "error":
        out["error"] = content
    return kind == "status" and content["execution_state"] == "idle"


def start(kernel: Kernel) -> None:
    kernel.ok("import json\nimport maestro_nb\n%load_ext maestro_nb\n%workflow db state.duckdb")
    kernel.ok(CODE)


def test_break_mutate_restart_kernel_resume(tmp_path):
    kernel = Kernel(str(tmp_path))
    try:
        start(kernel)
        kernel.ok(TUNE)
        kernel.ok("%breakpoint tune.train --iteration 2")
        shown = kernel.ok("%workflow run tune")["results"][0]["text/plain"]
        assert "tune#1 (version 1, run 1): paused" in shown
        kernel.ok("bp_train[0].params['lr'] = 0.5")
        assert kernel.ok("print(paused[0].params['lr'], len(paused))")["stdout"] == "0.5 1\n"

        kernel.restart()
        start(kernel)
        out = kernel.ok("a = paused[0]; print(a.label, a.loop_params, a.params['lr'])")
        assert out["stdout"] == "tune#1 train[2] {'lr': 0.2, 'depth': 3} 0.5\n"
        assert "bp_train" in kernel.ok("%breakpoint list")["results"][0]["text/plain"]
        kernel.ok("%resume tune.train")
        frame = kernel.ok("print(json.dumps(list(maestro_nb.sql(\"SELECT output FROM iterations "
                          "WHERE step_id = 'train' ORDER BY iteration\")['output'])))")
        outputs = [json.loads(o)["score"] for o in json.loads(frame["stdout"])]
        assert outputs == [0.3, 0.5, 1.5, 1.0]  # iteration 2 ran with the mutated lr=0.5
    finally:
        kernel.close()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(str(tmp_path_factory.mktemp("kernel")))
    start(k)
    k.ok(TUNE)
    yield k
    k.close()


BAD_INPUTS = [
    ("", "%resume", "UsageError: nothing is paused"),
    ("", "%workflow run tnue", "did you mean 'tune'?"),
    ("", "%workflow results tune.trian", "unknown step 'trian'; did you mean 'train'?"),
    ("", "%breakpoint tune.trian", "did you mean 'train'?"),
    ("", "%workflow run tune lr", "give a param as NAME=VALUE"),
    ("", "%workflow run tune 2x=1", "'2x' is not a param name"),
    ("", "%workflow run tune n_row=1", "did you mean 'n_rows'?"),
    ("", "%%workflow broken\nsteps:\n  - id: a\n    rn: load\n", "did you mean 'run'?  [line 3: rn: load]"),
    ("%breakpoint tune.train --iteration 0\n%workflow run tune",
     "paused[0].params['lr'] = object()", "UsageError: tune#1 train[0]: param 'lr' cannot take a builtins.object"),
    ("", "paused[0].params['depht'] = 1", "did you mean 'depth'?"),
    ("", "%resume tune.train --iteration 7", "nothing paused matches tune.train --iteration 7"),
]


@pytest.mark.parametrize("setup, code, expected", BAD_INPUTS, ids=[c for _, c, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_changes_nothing(kernel, setup, code, expected):
    if setup:
        kernel.ok(setup)
    before = kernel.ok(COUNTS)["stdout"]
    out = kernel.run(code)
    assert out["error"] is None, out["error"]  # UsageErrors show no traceback
    lines = out["stderr"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("UsageError: ") and expected in lines[0], out["stderr"]
    assert "Traceback" not in out["stdout"] + out["stderr"]
    assert kernel.ok(COUNTS)["stdout"] == before


GATED = '''
import threading

gate, reached = threading.Event(), threading.Event()

def gated(i):
    reached.set()
    assert gate.wait(120), "never released"
    return i * 10
'''


def test_a_background_run_leaves_the_kernel_free_with_the_inline_executor(tmp_path):
    kernel = Kernel(str(tmp_path))
    try:
        start(kernel)
        kernel.ok(GATED)
        kernel.ok("%%workflow slow\nsteps:\n  - id: s\n    foreach: {i: [0, 1, 2]}\n    run: gated\n")
        shown = kernel.ok("%workflow run slow --background")  # returns while iteration 0 is held
        assert "slow#1 (version 1, run 1)" in shown["results"][0]["text/plain"]
        engine = "maestro_nb.magics.current_engine()"
        out = kernel.ok(f"print(reached.wait(60), {engine}.busy, {engine}.scheduler.executor.inline)")
        assert out["stdout"] == "True True True\n"  # this cell ran while the run went on
        kernel.ok("gate.set()")
        assert kernel.ok(f"print({engine}.wait(60))")["stdout"] == "True\n"
        status = kernel.ok("%workflow status slow")["results"][0]["text/plain"]
        assert "slow#1 (version 1, run 1): SUCCEEDED" in status and "3 SUCCEEDED" in status
    finally:
        kernel.close()


FIT = '''
def fit(x):
    scale = 10 - 2 * x
    return round(scale / (x - 2), 3)
'''

SWEEP = '''%%workflow sweep
steps:
  - id: fit
    foreach: {x: [0, 1, 2, 3]}
    run: fit
'''


def _plain(out: dict[str, Any]) -> str:
    return out["results"][0]["text/plain"]


def test_break_on_failure_debug_restart_the_kernel_and_retry(tmp_path):
    kernel = Kernel(str(tmp_path))
    try:
        start(kernel)
        kernel.ok(FIT)
        kernel.ok(SWEEP)
        kernel.ok("%breakpoint sweep.fit --on-error")
        shown = _plain(kernel.ok("%workflow run sweep"))
        assert "fit  4 iterations: 1 PAUSED, 3 SUCCEEDED" in shown
        assert "sweep#1 fit[2]  attempt 1  error  x=2  (bp_fit)  ZeroDivisionError: division by zero" in shown

        # The post-mortem debugger on the live traceback, driven as a user would type.
        out = kernel.run_answering("bp_fit[0].debug()", ["p scale", "p x", "q"])
        assert out["error"] is None and out["prompts"] == ["ipdb> "] * 3
        assert out["stdout"].startswith("ZeroDivisionError: division by zero\n")
        printed = [line for line in out["stdout"].splitlines() if line in ("6", "2")]
        assert printed == ["6", "2"]  # the locals of the frame that raised

        kernel.restart()  # the error-paused attempt comes back, with its stored traceback
        start(kernel)
        kernel.ok(FIT)
        out = kernel.ok("a = paused[0]\nprint(a.label, a.pause_point, a.error.type, a.error.exception is None, "
                        "'in fit' in a.error.traceback)")
        assert out["stdout"] == "sweep#1 fit[2] error ZeroDivisionError True True\n"

        # No live traceback now: the function runs again under the debugger, then post-mortem.
        out = kernel.run_answering("a.debug()", ["c", "p x", "q"])
        assert out["error"] is None and out["prompts"] == ["ipdb> "] * 3
        assert "ZeroDivisionError: division by zero" in out["stdout"]
        assert [line for line in out["stdout"].splitlines() if line == "2"] == ["2"]

        kernel.ok("def fit(x):\n    return x * 10")  # the fix
        assert kernel.ok("print(a.call())")["stdout"] == "20\n"
        done = _plain(kernel.ok("a.retry()"))
        assert done.startswith("sweep#1 (version 1, run 1): SUCCEEDED")
        frame = kernel.ok("print(list(maestro_nb.sql(\"SELECT attempt, status FROM attempts WHERE iteration = '2'"
                          " ORDER BY attempt\").itertuples(index=False, name=None)))")
        assert frame["stdout"] == "[(1, 'USER_FAILED'), (2, 'SUCCEEDED')]\n"
    finally:
        kernel.close()
