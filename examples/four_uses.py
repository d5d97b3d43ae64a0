"""The four uses of step breakpoints (SPEC section 1), end to end on a DuckDB state file.

    python examples/four_uses.py [STATE_FILE] [--executor NAME]

1. Initial development: pause at a step, inspect its inputs, fix its code, resume.
2. Foreach with many params: pause every iteration, inspect, resume some by condition, then
   the rest together.
3. In-flight mutation: a running instance has a wrong param; break at the next step, fix it,
   resume.
4. Human-in-the-loop gate: a breakpoint as an approval gate; the approval outlives the process
   that asked for it.

Every use runs unchanged on any executor (`--executor dask` runs the step code on a Dask
LocalCluster; the default is inline, with threads for use 3, whose instance runs in the
background). Step code reports its calls through files, which a worker process can write too.

Prints what happens; exits 1 if anything is not as expected.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from maestro_nb.engine.engine import Engine

FAILURES: list[str] = []
EXECUTOR: list[str | None] = [None]  # --executor, for every engine; None: inline (threads for use 3)


class CallLog:
    """Step calls recorded as lines of a file: visible to this process whatever process ran the step."""

    def __init__(self, path: Path):
        self.path = str(path)
        Path(self.path).write_text("")

    def add(self, key: Any) -> None:
        with open(self.path, "a") as f:
            f.write(repr(key) + "\n")

    def entries(self) -> list[Any]:
        import ast

        return [ast.literal_eval(line) for line in Path(self.path).read_text().splitlines()]

    def counts(self) -> Counter[Any]:
        return Counter(self.entries())


def wait_for_file(path: Path, seconds: float = 120) -> bool:
    end = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.01)
    return path.exists()


def check(ok: bool, what: str) -> None:
    print(f"  [{'ok' if ok else 'FAILED'}] {what}")
    if not ok:
        FAILURES.append(what)


def title(text: str) -> None:
    print(f"\n== {text}")


def output_of(engine: Engine, workflow: str, step: str) -> str | None:
    """The stored output (JSON text) of a step's latest attempt in instance 1, if any."""
    frame = engine.sql("SELECT output FROM iterations WHERE workflow = ? AND step_id = ? AND instance_id = 1",
                       [workflow, step])
    return None if frame.empty else frame.output.iloc[0]


# --------------------------------------------------------------------------- 1. development
def initial_development(path: str, scratch: Path) -> None:
    title("1. Initial development: pause, inspect, fix the code, resume")
    calls = CallLog(scratch / "calls-1")

    def load() -> list[dict[str, Any]]:
        calls.add("load")
        return [{"city": "Oslo", "temp_f": 41.0}, {"city": "Lima", "temp_f": 68.0}]

    def to_celsius(load: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls.add("to_celsius")
        return [{**row, "temp_c": row["temp_f"] - 32 * 5 / 9} for row in load]  # bug: precedence

    def report(to_celsius: list[dict[str, Any]]) -> str:
        return ", ".join(f"{r['city']} {r['temp_c']:.1f}C" for r in to_celsius)

    namespace: dict[str, Any] = {"load": load, "to_celsius": to_celsius, "report": report}
    with Engine(path, namespace, executor=EXECUTOR[0]) as engine:
        engine.define("dev", {"steps": [
            {"id": "load", "run": "load"},
            {"id": "to_celsius", "after": ["load"], "run": "to_celsius"},
            {"id": "report", "after": ["to_celsius"], "run": "report"},
        ]})
        engine.set_breakpoint("dev.to_celsius")
        instance = engine.run("dev")
        (paused,) = engine.paused("dev")
        print(f"  paused: {paused.label}, inputs: {paused.params}")
        check(engine.status_word(instance) == "paused", "the instance is paused, not failed")
        check(calls.counts() == Counter(["load"]), "load ran once; to_celsius has not been called")

        def to_celsius_fixed(load: list[dict[str, Any]]) -> list[dict[str, Any]]:
            calls.add("to_celsius_fixed")
            return [{**row, "temp_c": (row["temp_f"] - 32) * 5 / 9} for row in load]

        namespace["to_celsius"] = to_celsius_fixed  # what redefining it in a notebook cell does
        engine.resume(paused)
        result = output_of(engine, "dev", "report")
        print(f"  report: {result}")
        check(instance.status.value == "SUCCEEDED", "the instance finished after the resume")
        check(calls.counts() == Counter(["load", "to_celsius_fixed"]),
              "no re-run from scratch; the fixed code ran once")
        check(result == '"Oslo 5.0C, Lima 20.0C"', "the report uses the fixed conversion")
        engine.delete_breakpoint("dev.to_celsius")


# --------------------------------------------------------------------------- 2. foreach
def foreach_sweep(path: str, scratch: Path) -> None:
    title("2. Foreach with many params: pause all, inspect, resume by condition, then the rest")
    log = CallLog(scratch / "calls-2")

    def train(lr: float, depth: int) -> dict[str, Any]:
        log.add((lr, depth))
        return {"lr": lr, "depth": depth, "score": round(1 - abs(lr - 0.1) - abs(depth - 5) / 100, 4)}

    def pick(train: list[dict[str, Any]]) -> dict[str, Any]:
        return max(train, key=lambda r: r["score"])

    with Engine(path, {"train": train, "pick": pick}, executor=EXECUTOR[0]) as engine:
        engine.define("sweep", {"steps": [
            {"id": "train", "foreach": {"lr": [0.001, 0.01, 0.1, 0.3], "depth": [3, 5, 8, 13, 21]},
             "run": "train"},
            {"id": "best", "after": ["train"], "run": "pick"},
        ]})
        engine.set_breakpoint("sweep.train")
        instance = engine.run("sweep")
        paused = engine.paused("sweep", "train")
        space = sorted((a.params["lr"], a.params["depth"]) for a in paused)
        print(f"  {len(paused)} iterations paused; lr values {sorted({lr for lr, _ in space})}")
        check(len(paused) == 20 and not log.counts(), "one breakpoint paused all 20 iterations before they ran")
        first = engine.paused("sweep", "train", lr=0.1)
        engine.resume(first)
        print(f"  resumed lr=0.1: {len(first)} iterations")
        shallow = [a for a in engine.paused("sweep", "train") if a.params["depth"] <= 5]
        engine.resume(shallow)
        print(f"  resumed depth <= 5: {len(shallow)} more")
        runs = log.counts()
        check(len(runs) == 5 + 6 and set(runs.values()) == {1}, "only the selected iterations ran, once each")
        check(len(engine.paused()) == 9, "the other 9 stay paused")
        released = engine.delete_breakpoint("sweep.train")
        best = output_of(engine, "sweep", "best")
        print(f"  deleted the breakpoint: {len(released)} resumed together; best = {best}")
        runs = log.counts()
        check(len(runs) == 20 and set(runs.values()) == {1}, "every iteration ran exactly once")
        check(instance.status.value == "SUCCEEDED", "the sweep finished")
        check('"lr": 0.1, "depth": 5' in (best or ""), "best picked lr=0.1, depth=5")


# --------------------------------------------------------------------------- 3. mutation
def in_flight_mutation(path: str, scratch: Path) -> None:
    title("3. In-flight mutation: a running instance has a wrong param; break, fix, resume")
    extracting, go_on = scratch / "extracting", scratch / "go-on"

    def extract(source: str) -> list[int]:
        extracting.write_text("")
        wait_for_file(go_on, 60)  # a long extract, still running when the mistake is noticed
        return [3, 14, 15, 92, 65]

    def keep_large(extract: list[int], threshold: int) -> list[int]:
        return [x for x in extract if x >= threshold]

    def store(keep_large: list[int]) -> int:
        return len(keep_large)

    namespace = {"extract": extract, "keep_large": keep_large, "store": store}
    with Engine(path, namespace, executor=EXECUTOR[0] or "threads") as engine:
        engine.define("etl", {"params": {"source": "s3://bucket/data", "threshold": 10}, "steps": [
            {"id": "extract", "run": "extract"},
            {"id": "keep_large", "after": ["extract"], "run": "keep_large"},
            {"id": "store", "after": ["keep_large"], "run": "store"},
        ]})
        instance = engine.run("etl", {"threshold": 1000}, background=True)  # oops: meant 10
        wait_for_file(extracting)
        print("  instance running with threshold=1000 (wrong); breaking at the next step")
        engine.set_breakpoint("etl.keep_large")
        go_on.write_text("")
        engine.wait(60)
        (paused,) = engine.paused("etl")
        print(f"  paused: {paused.label}, threshold={paused.params['threshold']}")
        engine.set_param(paused, "threshold", 10)
        engine.resume(paused)
        stored = output_of(engine, "etl", "store")
        timeline = engine.sql("SELECT detail FROM events WHERE workflow = 'etl' AND kind = 'mutate'").detail
        print(f"  stored {stored} rows; timeline: {timeline[0]}")
        check(instance.status.value == "SUCCEEDED", "the instance finished without a restart")
        check(stored == "4", "the step ran with the corrected threshold")
        check(len(timeline) == 1 and '"old": "1000"' in timeline[0] and '"new": "10"' in timeline[0],
              "the mutation is in the timeline, old -> new")


# --------------------------------------------------------------------------- 4. gate
def approval_gate(path: str, scratch: Path) -> None:
    title("4. Human-in-the-loop gate: approve or reject before a step fires")
    log = CallLog(scratch / "calls-4")

    def build(release: str) -> dict[str, str]:
        return {"release": release, "artifact": f"model-{release}.bin"}

    def publish(build: dict[str, str]) -> str:
        log.add(build["release"])
        return f"published {build['artifact']}"

    namespace = {"build": build, "publish": publish}
    with Engine(path, namespace, executor=EXECUTOR[0]) as engine:
        engine.define("deploy", {"params": {"release": "0"}, "steps": [
            {"id": "build", "run": "build"},
            {"id": "publish", "after": ["build"], "run": "publish"},
        ]})
        engine.set_breakpoint("deploy.publish", name="approval")
        for release in ("1.4", "1.5"):
            engine.run("deploy", {"release": release})
        waiting = [a.params["build"]["release"] for a in engine.paused("deploy")]
        print(f"  waiting for approval: {waiting}")
        check(waiting == ["1.4", "1.5"] and not log.counts(), "nothing publishes without approval")
    print("  (the kernel restarts; the approvals are still pending)")
    with Engine(path, namespace, executor=EXECUTOR[0]) as engine:
        pending = {a.params["build"]["release"]: a for a in engine.paused("deploy")}
        check(sorted(pending) == ["1.4", "1.5"], "both approvals survived the restart")
        engine.resume(pending["1.5"])
        engine.stop_attempts(pending["1.4"])
        published = log.entries()
        print(f"  approved 1.5, rejected 1.4; published: {published}")
        statuses = [engine.instance("deploy", n).status.value for n in (1, 2)]
        check(published == ["1.5"], "only the approved release was published")
        check(statuses == ["STOPPED", "SUCCEEDED"], "the rejected instance stopped, the approved one finished")
        check(engine.paused("deploy") == [] and len(engine.find_breakpoints("approval")[0].paused) == 0,
              "no stale pause record; the gate stays for the next release")


def main(argv: list[str]) -> int:
    args = list(argv[1:])
    if "--executor" in args:
        at = args.index("--executor")
        EXECUTOR[0] = args[at + 1]
        del args[at:at + 2]
    with tempfile.TemporaryDirectory() as scratch:
        path = args[0] if args else str(Path(scratch) / "four_uses.duckdb")
        print(f"state file: {'(temporary)' if not args else path}"
              + (f"; executor: {EXECUTOR[0]}" if EXECUTOR[0] else ""))
        for use in (initial_development, foreach_sweep, in_flight_mutation, approval_gate):
            try:
                use(path, Path(scratch))
            except Exception as exc:  # report and carry on with the next use
                check(False, f"{use.__name__} raised {type(exc).__name__}: {exc}")
    print(f"\n{'all four uses work' if not FAILURES else f'{len(FAILURES)} check(s) failed'}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
