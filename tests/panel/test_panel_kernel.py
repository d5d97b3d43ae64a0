"""The panel in a real kernel, driven as a frontend drives it: widget comms opened by the kernel,
values set and buttons clicked by comm messages from the client; what the kernel sends back
(widget updates, from the panel's drawing thread) and the engine's state after each action."""

from __future__ import annotations

import queue
import time
from typing import Any

import pytest

from ..kernel_support import RealKernel

pytestmark = pytest.mark.slow

SETUP = '''
%load_ext maestro_nb
%workflow db state.duckdb
def load(n):
    return n

def train(load, lr):
    return round(load * lr, 3)
'''

DEFINE = '''%%workflow tune
params: {n: 2}
steps:
  - id: load
    run: load
  - id: train
    after: [load]
    foreach: {lr: [0.1, 0.2, 0.3]}
    run: train
'''


class Frontend(RealKernel):
    """A kernel and a client that keeps every widget the kernel opened, by comm id."""

    def __init__(self, cwd: str):
        super().__init__(cwd)
        self.widgets: dict[str, dict[str, Any]] = {}  # comm id -> its state, updates applied

    def _take(self, msg: dict[str, Any], msg_id: str | None, out: dict[str, Any]) -> bool:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open" and content.get("target_name") == "jupyter.widget":
            self.widgets[content["comm_id"]] = dict(content["data"]["state"])
        elif kind == "comm_msg" and content["data"].get("method") == "update":
            self.widgets.setdefault(content["comm_id"], {}).update(content["data"]["state"])
        if msg_id is None or msg["parent_header"].get("msg_id") != msg_id:
            return False
        if kind == "stream":
            out[content["name"]] += content["text"]
        elif kind in ("execute_result", "display_data"):
            out["results"].append(content["data"])
        elif kind == "error":
            out["error"] = content
        return kind == "status" and content["execution_state"] == "idle"

    def run(self, code: str, timeout: float = 60) -> dict[str, Any]:
        msg_id = self.client.execute(code)
        out: dict[str, Any] = {"stdout": "", "stderr": "", "results": [], "error": None}
        while not self._take(self.client.get_iopub_msg(timeout=timeout), msg_id, out):
            pass
        self.client.get_shell_msg(timeout=timeout)
        assert out["error"] is None and not out["stderr"], out
        return out

    def drain_until(self, condition: Any, timeout: float = 30) -> None:
        """Read what the kernel sends until `condition()` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "the kernel did not send the expected widget updates"
            try:
                self._take(self.client.get_iopub_msg(timeout=0.2), None, {})
            except queue.Empty:
                pass

    def find(self, model: str, **state: Any) -> str:
        found = [cid for cid, s in self.widgets.items() if s.get("_model_name") == model
                 and all(s.get(k) == v for k, v in state.items())]
        assert len(found) == 1, (model, state, found)
        return found[0]

    def send(self, comm_id: str, data: dict[str, Any]) -> None:
        msg = self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.client.shell_channel.send(msg)

    def click(self, comm_id: str) -> None:
        self.send(comm_id, {"method": "custom", "content": {"event": "click"}})

    def set(self, comm_id: str, **state: Any) -> None:
        self.send(comm_id, {"method": "update", "state": state, "buffer_paths": []})



def test_a_frontend_edits_and_resumes_through_the_panel(tmp_path):
    fe = Frontend(str(tmp_path))
    try:
        fe.run(SETUP)
        fe.run(DEFINE)
        fe.run("%breakpoint tune.train")
        fe.run("%workflow run tune")
        shown = fe.run("panel = %workflow panel\npanel")
        (bundle,) = shown["results"]
        assert bundle["text/plain"] == "<workflow panel: tune#1, paused (3 paused)>"
        model_id = bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
        assert fe.widgets[model_id]["_model_name"] == "VBoxModel"
        table = fe.find("SelectModel")
        assert len(fe.widgets[table]["_options_labels"]) == 3

        lr = fe.find("FloatTextModel", description="lr")
        fe.set(lr, value=0.25)  # the user types into the editor, then clicks Apply
        fe.click(fe.find("ButtonModel", description="Apply"))
        assert fe.run("panel.wait_drawn(30); print(paused[0].params['lr'])")["stdout"] == "0.25\n"

        fe.click(fe.find("ButtonModel", description="Resume"))
        out = fe.run("print(panel.wait_drawn(30), len(paused), panel.paused.count.value)")
        assert out["stdout"] == "True 2 2 paused\n"
        fe.drain_until(lambda: len(fe.widgets[table]["_options_labels"]) == 2)  # sent by the drawing thread

        fe.run("%resume tune.train --all")  # from a magic: the rows leave the panel in the frontend too
        fe.drain_until(lambda: fe.widgets[table]["_options_labels"] == [])
        results = fe.run("import maestro_nb\nprint(maestro_nb.sql(\"SELECT output FROM iterations "
                         "WHERE step_id = 'train' ORDER BY iteration\").output.tolist())")
        assert results["stdout"] == "['0.5', '0.4', '0.6']\n"
    finally:
        fe.close()
