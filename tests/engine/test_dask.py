"""The Dask executor on a LocalCluster of real worker processes: breakpoints, mutation, retries,
concurrency and the bound on tasks alive, the same as inline; a worker killed mid-attempt; a
cluster that goes away under a running instance.

Step functions are defined inside the tests, so they travel to the workers by value (as a
notebook's do); they talk back through files in tmp_path, the one thing both sides can see.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from maestro_nb.engine.dask_executor import DaskExecutor
from maestro_nb.engine.engine import Engine
from maestro_nb.errors import PlatformError

from .dask_support import DEADLINE, local_cluster, wait_for, wait_for_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    cluster = local_cluster()
    dask_client = Client(cluster)
    yield dask_client
    dask_client.close()
    cluster.close()


@pytest.fixture
def cluster_client(client):
    """The module's client, once both workers are up (a test before may have killed one)."""
    client.wait_for_workers(2, timeout=DEADLINE)
    return client


@pytest.fixture
def dask_engine(db_path, namespace, cluster_client):
    eng = Engine(db_path, namespace, executor=cluster_client)
    yield eng
    eng.close()


def attempts(engine: Engine, step: str) -> list[tuple]:
    """(iteration, attempt, status) of every attempt of `step`, in order."""
    return [tuple(r) for r in engine.sql(
        "SELECT iteration, attempt, status FROM attempts WHERE step_id = ? ORDER BY len(iteration), iteration, attempt",
        [step]).itertuples(index=False)]


def test_a_sweep_runs_on_the_workers_and_sql_steps_in_the_kernel(dask_engine, namespace, cluster_client):
    def square(i):
        return {"i": i, "sq": i * i, "pid": os.getpid()}

    namespace["square"] = square
    dask_engine.define("wf", {"steps": [
        {"id": "sq", "foreach": {"i": "${range(40)}"}, "run": "square"},
        {"id": "total", "after": ["sq"], "sql": "SELECT $n AS n", "params": {"n": "${len(sq)}"}},
    ]})
    instance = dask_engine.run("wf")
    assert instance.status.value == "SUCCEEDED"
    frame = dask_engine.results("wf", "sq")
    assert frame["sq"].tolist() == [i * i for i in range(40)]  # in iteration order
    workers = set(cluster_client.run(os.getpid).values())
    assert set(frame["pid"]) <= workers and os.getpid() not in set(frame["pid"])
    assert dask_engine.results("wf", "total")["output"].tolist() == [[{"n": 40}]]  # ran in the kernel
    assert {r[2] for r in attempts(dask_engine, "sq")} == {"SUCCEEDED"} and len(attempts(dask_engine, "sq")) == 40


def test_before_breakpoint_resume_a_subset_and_mutate_a_param(dask_engine, namespace, tmp_path):
    def train(i, lr, out):
        with open(os.path.join(out, "calls"), "a") as f:
            f.write(f"{i}\n")
        return {"i": i, "lr": lr, "pid": os.getpid()}

    namespace["train"] = train
    dask_engine.define("sweep", {"params": {"out": str(tmp_path)}, "steps": [
        {"id": "train", "foreach": {"i": "${range(8)}"}, "params": {"lr": 0.1}, "run": "train"},
    ]})
    dask_engine.set_breakpoint("sweep.train")
    instance = dask_engine.run("sweep")
    paused = dask_engine.paused(step="train")
    assert len(paused) == 8 and not (tmp_path / "calls").exists()  # checked in the kernel, nothing sent
    dask_engine.resume([a for a in paused if a.loop_params["i"] < 3])
    assert sorted((tmp_path / "calls").read_text().split()) == ["0", "1", "2"]
    assert len(dask_engine.paused()) == 5 and dask_engine.status_word(instance) == "paused"
    (seventh,) = dask_engine.paused(step="train", i=7)
    dask_engine.set_param(seventh, "lr", 0.5)
    dask_engine.resume(dask_engine.paused())
    assert instance.status.value == "SUCCEEDED"
    calls = sorted(int(i) for i in (tmp_path / "calls").read_text().split())
    assert calls == list(range(8))  # every iteration ran once, on a worker
    frame = dask_engine.results("sweep", "train")
    assert frame["lr"].tolist() == [0.1] * 7 + [0.5]
    assert os.getpid() not in set(frame["pid"])


def test_after_breakpoint_holds_the_workers_output_until_resumed(dask_engine, namespace):
    def make(x):
        return {"x": x, "pid": os.getpid()}

    def use(make):
        return make["x"] * 10

    namespace.update(make=make, use=use)
    dask_engine.define("line", {"params": {"x": 1}, "steps": [
        {"id": "make", "run": "make"}, {"id": "use", "after": ["make"], "run": "use"},
    ]})
    dask_engine.set_breakpoint("line.make", pause="after")
    instance = dask_engine.run("line")
    (a,) = dask_engine.paused()
    assert a.pause_point == "after" and a.output["x"] == 1 and a.output["pid"] != os.getpid()
    dask_engine.set_output(a, {"x": 4, "pid": 0})
    dask_engine.resume(a)
    assert instance.status.value == "SUCCEEDED"
    assert dask_engine.results("line", "use")["output"].tolist() == [40]


def test_user_failures_retry_per_policy_with_the_workers_traceback(dask_engine, namespace, tmp_path):
    def flaky(i, out):
        marker = Path(out) / f"failed-{i}"
        if i % 2 == 0 and not marker.exists():
            marker.write_text("once\n")
            raise ValueError(f"first try of {i} fails")
        return i

    def broken(i):
        raise KeyError(f"missing {i}")

    namespace.update(flaky=flaky, broken=broken)
    dask_engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
        {"id": "flaky", "foreach": {"i": [0, 1, 2, 3]}, "run": "flaky", "retry": {"limit": 1}},
        {"id": "broken", "after": ["flaky"], "foreach": {"i": [0, 1]}, "run": "broken",
         "failure_mode": "ignore"},
    ]})
    instance = dask_engine.run("wf")
    assert instance.status.value == "SUCCEEDED"
    assert attempts(dask_engine, "flaky") == [
        ("0", 1, "USER_FAILED"), ("0", 2, "SUCCEEDED"), ("1", 1, "SUCCEEDED"),
        ("2", 1, "USER_FAILED"), ("2", 2, "SUCCEEDED"), ("3", 1, "SUCCEEDED"),
    ]
    first = dask_engine.sql("SELECT error_type, error, traceback FROM attempts WHERE step_id = 'broken'"
                            " ORDER BY iteration").iloc[0]
    assert (first.error_type, first.error) == ("KeyError", "'missing 0'")
    assert "in broken" in first.traceback  # the traceback from the worker
    assert dask_engine.results("wf", "broken")["status"].tolist() == ["USER_FAILED", "USER_FAILED"]


def test_foreach_concurrency_holds_on_the_cluster(dask_engine, namespace, tmp_path):
    def work(i, out):
        running = Path(out) / f"running-{i}"
        running.write_text("")
        now = len(list(Path(out).glob("running-*")))
        with open(os.path.join(out, "overlap"), "a") as f:
            f.write(f"{now}\n")
        time.sleep(0.2)  # room for another iteration to overlap, were the limit not held
        running.unlink()
        return i

    namespace["work"] = work
    dask_engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
        {"id": "w", "foreach": {"i": "${range(6)}"}, "concurrency": 1, "run": "work"},
    ]})
    assert dask_engine.run("wf").status.value == "SUCCEEDED"
    seen = [int(n) for n in (tmp_path / "overlap").read_text().split()]
    assert len(seen) == 6 and max(seen) == 1


def test_tasks_alive_on_the_cluster_stay_within_the_bound(db_path, namespace, cluster_client):
    def noop(i):
        return None

    namespace["noop"] = noop
    executor = DaskExecutor(cluster_client, max_tasks=2)
    with Engine(db_path, namespace, executor=executor) as engine:
        engine.define("wide", {"steps": [
            {"id": f"f{k}", "foreach": {"i": "${range(300)}"}, "run": "noop"} for k in range(3)
        ] + [{"id": "nest", "foreach": {"j": [0, 1, 2]}, "steps": [
            {"id": "inner", "foreach": {"i": "${range(100)}"}, "run": "noop"}]}]})
        assert engine.run("wide").status.value == "SUCCEEDED"
        (done,), = engine.store.rows("SELECT count(*) FROM iterations WHERE status = 'SUCCEEDED'")
    assert done == 3 * 300 + 3 * 100
    assert executor.peak_tasks == 2  # four foreach steps under way at once, two tasks at most


def test_a_worker_killed_mid_attempt_is_a_platform_failure_retried_once(dask_engine, namespace, tmp_path):
    def victim(i, out):
        if i == 2 and not (Path(out) / "killed").exists():
            (Path(out) / "started").write_text(f"{os.getpid()}\n")
            end = time.monotonic() + 300
            while time.monotonic() < end:  # until the test kills this worker
                time.sleep(0.05)
        with open(os.path.join(out, "finished"), "a") as f:
            f.write(f"{i}\n")
        return i * 10

    namespace["victim"] = victim
    dask_engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
        {"id": "v", "foreach": {"i": "${range(6)}"}, "run": "victim"},
    ]})
    instance = dask_engine.run("wf", background=True)
    pid = int(wait_for_file(tmp_path / "started"))
    assert pid != os.getpid()
    (tmp_path / "killed").write_text("")
    os.kill(pid, signal.SIGKILL)
    assert dask_engine.wait(DEADLINE)
    assert instance.status.value == "SUCCEEDED"
    rows = attempts(dask_engine, "v")
    assert [r for r in rows if r[0] == "2"] == [("2", 1, "PLATFORM_FAILED"), ("2", 2, "SUCCEEDED")]
    assert sorted(r[0] for r in rows if r[2] == "SUCCEEDED") == [str(i) for i in range(6)]  # none lost
    assert {r[2] for r in rows if r[2] != "SUCCEEDED"} == {"PLATFORM_FAILED"}  # nothing called a user failure
    assert dask_engine.results("wf", "v")["output"].tolist() == [i * 10 for i in range(6)]
    finished = (tmp_path / "finished").read_text().split()
    assert finished.count("2") == 1  # the killed attempt never finished; its retry did, once
    error = dask_engine.sql("SELECT error FROM attempts WHERE status = 'PLATFORM_FAILED' AND iteration = '2'").error[0]
    assert "died while running it" in error
    retry = dask_engine.sql("SELECT detail FROM events WHERE kind = 'retry' AND iteration = '2'").detail
    assert json.loads(retry[0])["platform"] is True


def test_platform_retries_have_their_own_budget(db_path, namespace, tmp_path, cluster_client):
    """A step that kills its worker every time: with platform_limit 1 it ends PLATFORM_FAILED after
    two attempts, whatever its user-error retry limit."""
    def suicide(out):
        with open(os.path.join(out, "tries"), "a") as f:
            f.write(f"{os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)

    namespace["suicide"] = suicide
    with Engine(db_path, namespace, executor=cluster_client) as engine:
        engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
            {"id": "s", "run": "suicide", "retry": {"limit": 5, "platform_limit": 1}},
        ]})
        instance = engine.run("wf")
        assert instance.status.value == "FAILED"
        assert attempts(engine, "s") == [("", 1, "PLATFORM_FAILED"), ("", 2, "PLATFORM_FAILED")]
    assert len((tmp_path / "tries").read_text().split()) == 2


def hang_until_go(i, out):
    """Marks its start, then waits for a `go` file (or five minutes) before it returns."""
    (Path(out) / f"started-{i}").write_text(f"{os.getpid()}\n")
    end = time.monotonic() + 300
    while time.monotonic() < end and not (Path(out) / "go").exists():
        time.sleep(0.05)
    return i


def test_stop_cancels_what_the_cluster_has_not_finished(dask_engine, namespace, tmp_path):
    namespace["slow"] = hang_until_go
    dask_engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
        {"id": "s", "foreach": {"i": "${range(20)}"}, "run": "slow"},
    ]})
    instance = dask_engine.run("wf", background=True)
    wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, "two attempts to start")
    dask_engine.stop("wf")
    assert dask_engine.wait(DEADLINE)
    assert instance.status.value == "STOPPED"
    statuses = dask_engine.sql("SELECT status, count(*) AS n FROM iterations GROUP BY status")
    assert dict(zip(statuses.status, statuses.n)) == {"STOPPED": 20}  # RUNNING ones withdrawn too
    executor = dask_engine.scheduler.executor
    assert not executor._tasks and not executor._queue  # nothing left on the cluster for it
    (tmp_path / "go").write_text("")  # let the two workers finish what they could not drop


def test_a_failing_instance_withdraws_its_other_attempts(dask_engine, namespace, tmp_path):
    def fails_fast(i, out):
        if i == 0:
            raise RuntimeError("iteration 0 fails")
        return hang_until_go(i, out)

    namespace["work"] = fails_fast
    dask_engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
        {"id": "w", "foreach": {"i": "${range(12)}"}, "run": "work", "failure_mode": "fail_immediately"},
    ]})
    try:
        instance = dask_engine.run("wf", background=True)
        assert dask_engine.wait(DEADLINE)  # without withdrawing, it would wait for the hung attempts
        assert instance.status.value == "FAILED"
        statuses = dask_engine.sql("SELECT status, count(*) AS n FROM iterations GROUP BY status")
        counts = dict(zip(statuses.status, statuses.n))
        assert counts.pop("USER_FAILED") == 1 and set(counts) <= {"STOPPED", "SUCCEEDED"}
        assert not dask_engine.scheduler.executor._tasks
    finally:
        (tmp_path / "go").write_text("")  # a failed check must not leave attempts hung for the teardown


def test_ctrl_c_withdraws_the_attempts_on_the_cluster(dask_engine, namespace, tmp_path):
    import signal as signals
    import threading

    previous = signals.signal(signals.SIGINT, signals.default_int_handler)  # ignored in a background job
    try:
        _ctrl_c_withdraws(dask_engine, namespace, tmp_path, signals, threading)
    finally:
        signals.signal(signals.SIGINT, previous)


def _ctrl_c_withdraws(dask_engine, namespace, tmp_path, signals, threading):

    namespace["work"] = hang_until_go
    dask_engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
        {"id": "w", "foreach": {"i": "${range(10)}"}, "run": "work"},
    ]})
    main = threading.main_thread().ident
    interrupted = threading.Event()

    def press_ctrl_c():
        wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, "two attempts to start")
        signals.pthread_kill(main, signals.SIGINT)
        if not interrupted.wait(DEADLINE):  # the Ctrl-C was not seen: let the run end, so the test fails, not hangs
            (tmp_path / "go").write_text("")

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            dask_engine.run("wf")
    finally:
        interrupted.set()
        presser.join()
    instance = dask_engine.instance("wf")
    assert instance.status.value == "STOPPED"
    statuses = dask_engine.sql("SELECT DISTINCT status FROM iterations").status.tolist()
    assert statuses == ["STOPPED"]
    assert dask_engine.scheduler.inflight == 0 and not dask_engine.scheduler.executor._tasks
    (tmp_path / "go").write_text("")
    namespace["work"] = lambda i, out: i
    assert dask_engine.restart("wf").status.value == "SUCCEEDED"  # the kernel goes on


def test_results_of_withdrawn_attempts_are_dropped(dask_engine, namespace, tmp_path):
    """Attempts stopped while running on a worker are not reported when the worker finishes them."""
    def slow(i, out):
        (Path(out) / f"started-{i}").write_text(f"{os.getpid()}\n")
        while not (Path(out) / "go").exists():
            time.sleep(0.05)
        with open(os.path.join(out, "finished"), "a") as f:
            f.write(f"{i}\n")
        return i

    namespace["slow"] = slow
    dask_engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
        {"id": "s", "foreach": {"i": [0, 1]}, "run": "slow"},
    ]})
    instance = dask_engine.run("wf", background=True)
    wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, "both attempts to start")
    dask_engine.stop("wf")
    assert dask_engine.wait(DEADLINE) and instance.status.value == "STOPPED"
    before = dask_engine.sql("SELECT count(*) AS n FROM attempt_log").n[0]
    (tmp_path / "go").write_text("")
    wait_for(lambda: len(_read(tmp_path / "finished")) == 2, "the workers to finish both calls")
    wait_for(lambda: not _alive_task(dask_engine), "the cluster to forget the tasks")
    dask_engine.flush()
    assert dask_engine.sql("SELECT count(*) AS n FROM attempt_log").n[0] == before
    assert dask_engine.scheduler.inflight == 0 and not dask_engine.scheduler.results


def _read(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _alive_task(engine: Engine) -> bool:
    client = engine.scheduler.executor.client
    return bool(client.run_on_scheduler(lambda dask_scheduler: [k for k in dask_scheduler.tasks
                                                                 if str(k).startswith("maestro-batch")]))


def test_the_cluster_closed_under_a_running_instance(db_path, namespace, tmp_path):
    from distributed import Client

    namespace["hang"] = hang_until_go  # no `go` file: it hangs until its worker goes
    cluster = local_cluster()
    dask_client = Client(cluster)
    engine = Engine(db_path, namespace, executor=dask_client)
    try:
        engine.define("wf", {"params": {"out": str(tmp_path)}, "steps": [
            {"id": "h", "foreach": {"i": "${range(10)}"}, "run": "hang"},
            {"id": "after", "after": ["h"], "noop": True},
        ]})
        instance = engine.run("wf", background=True)
        wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, "two attempts to start")
        cluster.close()
        assert engine.wait(DEADLINE)
        assert instance.status.value == "FAILED"
        rows = engine.sql("SELECT iteration, attempt, status, error FROM iterations WHERE step_id = 'h'")
        assert "RUNNING" not in set(rows.status)  # nothing left looking alive in the state file
        failed = rows[rows.status == "PLATFORM_FAILED"]
        # The workers die first (a platform failure, retried once at most); then nothing is
        # retried onto a cluster that is gone.
        assert len(failed) >= 2 and set(failed.attempt) <= {1, 2}
        (message,) = set(failed.error)
        assert "\n" not in message and message.startswith("the Dask cluster went away")
        assert "restart the instance" in message
        # The kernel is usable: the same engine answers at once, with the same one error.
        again = engine.run("wf")
        assert again.status.value == "FAILED"
        assert engine.sql("SELECT error FROM iterations WHERE instance_id = 2 AND status = 'PLATFORM_FAILED'"
                          ).error.tolist()[0] == message
    finally:
        engine.close()
        dask_client.close()
    # The state file is consistent: another executor restarts the failed instance to the end.
    namespace["hang"] = lambda i, out: i
    with Engine(db_path, namespace) as inline:
        assert inline.recovery_report == []
        restarted = inline.restart("wf", 1)
        assert restarted.status.value == "SUCCEEDED"
        assert inline.results("wf", "h", 1)["output"].tolist() == list(range(10))


def test_engine_dask_starts_and_closes_its_own_local_cluster(db_path, namespace):
    import psutil

    def where(i):
        return os.getpid()

    namespace["where"] = where
    with Engine(db_path, namespace, executor="dask") as engine:
        engine.define("wf", {"steps": [{"id": "w", "foreach": {"i": [0, 1, 2, 3]}, "run": "where"}]})
        assert engine.run("wf").status.value == "SUCCEEDED"
        executor = engine.scheduler.executor
        workers = set(executor.client.run(os.getpid).values())
        assert set(engine.results("wf", "w")["output"]) <= workers and os.getpid() not in workers
        assert executor.max_tasks >= 4
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                             for p in workers), "the LocalCluster's workers to exit")


def test_a_platform_error_is_one_line_and_not_retryable_when_said_so():
    error = PlatformError("the Dask cluster went away (unknown)", retryable=False)
    assert not error.retryable and "\n" not in str(error)


def test_an_error_on_a_worker_pauses_with_its_traceback_and_a_retry_runs_the_fixed_code(dask_engine, namespace):
    def fit(i):
        if i == 1:
            raise ValueError(f"bad input {i}")
        return i * 10

    namespace["fit"] = fit
    dask_engine.define("wf", {"steps": [{"id": "fit", "foreach": {"i": [0, 1, 2]}, "run": "fit"}]})
    dask_engine.set_breakpoint("wf.fit", pause="error")
    instance = dask_engine.run("wf")
    (a,) = dask_engine.paused()
    assert (a.iteration, a.pause_point, a.error.type, a.error.message) == ("1", "error", "ValueError", "bad input 1")
    assert "in fit" in a.error.traceback  # raised on the worker, kept with its frames' text
    namespace["fit"] = lambda i: i * 10  # the fix, defined in the kernel and shipped to the worker
    dask_engine.retry(a)
    assert instance.status.value == "SUCCEEDED"
    assert dask_engine.results("wf", "fit")["output"].tolist() == [0, 10, 20]
