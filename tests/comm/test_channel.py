"""The comm through a real kernel: not answered before `%load_ext maestro_nb`; after it, hello
gets a snapshot, a run pushes coalesced updates (at most ten a second), actions act, bad
messages change nothing, and `%workflow db` moves the updates to the new engine."""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from ..kernel_support import RealKernel
from .protocol_schema import check_reply, check_update

pytestmark = pytest.mark.slow

SETUP = '''
import time

def load(n):
    return list(range(n))

def fit(load, alpha):
    time.sleep(0.02)
    return alpha * len(load)

def best(fit):
    return max(fit)
'''

SWEEP = '''%%workflow sweep
params: {n: 4}
steps:
  - id: load
    run: load
  - id: fit
    after: [load]
    foreach: {alpha: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0]}
    run: fit
  - id: best
    after: [fit]
    run: best
'''


class Kernel(RealKernel):
    """A kernel, a client, and every comm message the kernel sent, with when it came."""

    def __init__(self, cwd: str):
        super().__init__(cwd)
        self.comm_id = uuid.uuid4().hex
        self.messages: list[tuple[float, dict[str, Any]]] = []  # (arrival, data) of comm_msg
        self.closed = False

    def _drain(self, timeout: float) -> dict[str, Any] | None:
        try:
            msg = self.client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == self.comm_id:
            self.messages.append((time.monotonic(), msg["content"]["data"]))
        elif msg["msg_type"] == "comm_close" and msg["content"]["comm_id"] == self.comm_id:
            self.closed = True
        return msg

    def run(self, code: str, timeout: float = 60) -> dict[str, Any]:
        """Run a cell; its shell reply (an error fails the test), collecting comm messages meanwhile."""
        msg_id = self.client.execute(code)
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, f"cell did not finish within {timeout} s: {code[:60]}"
            msg = self._drain(0.05)
            if msg is not None and msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") == msg_id \
                    and msg["content"]["execution_state"] == "idle":
                break
        reply = self.client.get_shell_msg(timeout=timeout)
        assert reply["content"]["status"] == "ok", reply["content"]
        return reply

    def open(self) -> None:
        msg = self.client.session.msg("comm_open", {"comm_id": self.comm_id, "target_name": "maestro_nb",
                                                    "data": {}})
        self.client.shell_channel.send(msg)

    def send(self, data: Any) -> None:
        msg = self.client.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        self.client.shell_channel.send(msg)

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = condition()
            if found:
                return found
            assert time.monotonic() < deadline, f"no {what} within {timeout} s; comm got {self.messages[-3:]}"
            self._drain(0.05)

    def reply(self, rid: str, timeout: float = 30) -> dict[str, Any]:
        return self.wait(lambda: next((d for _, d in self.messages if d.get("type") == "reply"
                                       and d.get("id") == rid), None), f"reply {rid}", timeout)

    def request(self, rid: str, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"protocol": 1, "id": rid, "op": op}
        if args is not None:
            data["args"] = args
        self.send(data)
        answer = self.reply(rid)
        check_reply(answer)
        return answer

    def updates(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, d) for t, d in self.messages if d.get("type") == "update"]



@pytest.fixture
def kernel(tmp_path):
    k = Kernel(str(tmp_path))
    yield k
    k.close()


def test_the_comm_is_not_answered_before_load_ext(kernel):
    kernel.open()
    kernel.send({"protocol": 1, "id": "hello", "op": "hello"})
    kernel.wait(lambda: kernel.closed, "comm_close for an unknown target")
    assert kernel.messages == []


def test_hello_updates_and_actions_through_a_real_kernel(kernel):
    kernel.run("%load_ext maestro_nb\n%workflow db state.duckdb")
    kernel.run(SETUP)
    kernel.open()
    hello = kernel.request("hello", "hello")
    assert hello["ok"] and hello["result"]["workflows"] == []
    first = hello["result"]["revision"]

    kernel.run(SWEEP)
    kernel.run("%breakpoint sweep.best")
    before = len(kernel.updates())
    started = time.monotonic()
    kernel.run("%workflow run sweep")
    took = time.monotonic() - started
    # Updates while the run went on and after it: whole snapshots, revisions growing, coalesced.
    paused = kernel.wait(lambda: next((d for _, d in reversed(kernel.updates())
                                       if d["snapshot"]["paused"]["total"] == 1), None), "an update with best paused")
    check_update(paused)
    during = kernel.updates()[before:]
    revisions = [d["snapshot"]["revision"] for _, d in during]
    assert revisions == sorted(revisions) and revisions[0] > first
    assert len(during) <= 10 * took + 3, f"{len(during)} updates in {took:.2f} s"
    snap = paused["snapshot"]
    assert [p["key"] for p in snap["paused"]["items"]] == ["sweep#1/1/best[]/1"]
    fit = next(s for s in snap["details"][0]["steps"] if s["id"] == "fit")
    assert fit["counts"] == {"SUCCEEDED": 20} and fit["status"] == "SUCCEEDED"

    # A bad message gets an error reply and changes nothing the kernel shows.
    bad = kernel.request("bad", "resume", {"keys": ["sweep#1/1/best[]/9"]})
    assert not bad["ok"] and "is not paused" in bad["error"]
    out = kernel.run("print(len(paused))")
    assert out["content"]["status"] == "ok"

    # Set a param through the comm, then resume: the kernel's variables see it.
    changed = kernel.request("p1", "set_param", {"key": "sweep#1/1/best[]/1", "name": "fit", "value": [1.0]})
    assert changed["ok"], changed
    assert changed["result"]["params"]["fit"]["value"] == [1.0]
    done = kernel.request("r1", "resume", {"keys": ["sweep#1/1/best[]/1"]})
    assert done["result"] == {"done": 1}
    last = kernel.wait(lambda: next((d for _, d in reversed(kernel.updates())
                                     if [i["status"] for i in d["snapshot"]["instances"]] == ["SUCCEEDED"]), None),
                       "an update with the instance succeeded")
    assert last["snapshot"]["paused"]["total"] == 0

    # A breakpoint toggled from the browser gets its variable, as %breakpoint names it.
    toggled = kernel.request("t1", "toggle_breakpoint", {"target": "sweep.fit"})
    assert toggled["result"]["set"]["name"] == "bp_fit"
    kernel.run("assert type(bp_fit).__name__ == \"PausedAttempts\" and len(bp_fit) == 0")
    kernel.run("import maestro_nb; assert len(maestro_nb.magics.current_engine().breakpoints()) == 2")


def test_a_new_state_file_moves_the_updates_and_revisions_keep_growing(kernel):
    kernel.run("%load_ext maestro_nb\n%workflow db a.duckdb")
    kernel.run(SETUP)
    kernel.run(SWEEP)
    kernel.open()
    hello = kernel.request("hello", "hello")
    assert [w["name"] for w in hello["result"]["workflows"]] == ["sweep"]
    kernel.run("%workflow db b.duckdb")
    moved = kernel.wait(lambda: next((d for _, d in reversed(kernel.updates())
                                      if d["snapshot"]["state_file"] == "b.duckdb"), None), "an update for b.duckdb")
    assert moved["snapshot"]["workflows"] == []
    assert moved["snapshot"]["revision"] > hello["result"]["revision"]
    kernel.run(SWEEP)
    defined = kernel.wait(lambda: next((d for _, d in reversed(kernel.updates())
                                        if d["snapshot"]["workflows"]), None), "an update with sweep in b.duckdb")
    assert defined["snapshot"]["revision"] > moved["snapshot"]["revision"]


def test_unload_ext_closes_the_comm(kernel):
    kernel.run("%load_ext maestro_nb\n%workflow db :memory:")
    kernel.open()
    assert kernel.request("hello", "hello")["ok"]
    kernel.run("%unload_ext maestro_nb")
    kernel.wait(lambda: kernel.closed, "comm_close after %unload_ext")
