"""The notebook path with many paused attempts: showing `paused` and resuming one from it.

A breakpoint on a foreach step pauses every iteration (1k, 10k, 100k). In a real IPython shell
with `%load_ext maestro_nb` (in this process), each figure is a median of several calls:
- showing `paused`: `repr`, `_repr_html_`, `len(paused)`, `paused.where(i=k)` (goal <= 20 ms
  at 100k each), and `paused[:m].where(...)` over a slice of 40% of them (linear);
- resuming one: `paused[k].resume()` and `%resume sweep.work i=k`, end to end with the run
  summary they return, and the workflow panel's Resume button on its selected row, from the
  click until the panel shows the result (goal <= 10 ms each, flat from 1k to 100k), beside
  the engine's own `engine.resume(a)` measured in the same process. The panel's widgets talk
  through a recording comm that serialises every message as a kernel would.

    python benchmarks/notebook_actions.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import gc
import os
import time

import _common as c
from panel_overhead import use_recording_comm

SHOW_TARGET_MS = 20.0
RESUME_TARGET_MS = 10.0
FLAT_TARGET = 2.0  # resume at the largest size against the smallest: "flat" when within this


def ms(values: list[float]) -> float:
    return c.median(values) * 1e3


def timed(fn, times: int) -> list[float]:
    found = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        found.append(time.perf_counter() - start)
    return found


def panel_resumes(engine, picks: int) -> tuple[list[float], list[float]]:
    """Click Resume on the panel's selected row: seconds until the click returns (the action is
    applied) and until the panel has drawn what it changed."""
    panel = engine.panel("sweep")
    try:
        clicks, drawn = [], []
        for _ in range(picks):
            if not panel.wait_drawn(60):
                raise SystemExit("the panel did not draw")
            key = panel.paused.selected
            # A user's click comes a while after the last draw; clicks within the panel's rate
            # interval of a draw are taken together with it, by design.
            time.sleep(panel.watcher.interval)
            start = time.perf_counter()
            panel.paused.one["resume"].click()
            clicks.append(time.perf_counter() - start)
            if not panel.wait_drawn(60):
                raise SystemExit("the panel did not draw the resume")
            drawn.append(time.perf_counter() - start)
            if panel.paused.selected == key or "error" in panel.message.value:
                raise SystemExit(f"the panel did not resume {key}: {panel.message.value}")
        return clicks, drawn
    finally:
        panel.close()


def measure(n: int, workdir: str, tag: str, picks: int) -> dict[str, list[float]]:
    shell = c.new_shell(workdir)
    try:
        shell.run_line_magic("workflow", f"db {os.path.join(workdir, f'nb-{tag}.duckdb')}")
        shell.user_ns["noop"] = c.noop
        shell.run_cell_magic("workflow", "sweep", "steps:\n  - id: work\n    foreach: {i: '${range(%d)}'}\n"
                             "    run: noop\n" % n)
        shell.run_line_magic("breakpoint", "sweep.work")
        shell.run_line_magic("workflow", "run sweep")
        paused = shell.user_ns["paused"]
        engine = c.session_engine(shell)
        if len(paused) != n:
            raise SystemExit(f"expected {n} paused, found {len(paused)}")
        gc.collect()
        out: dict[str, list[float]] = {}
        k = n // 2
        out["repr"] = timed(lambda: repr(paused), 5)
        out["html"] = timed(lambda: paused._repr_html_(), 5)
        out["len"] = timed(lambda: len(paused), 5)
        out["where"] = timed(lambda: len(paused.where(i=k)), 5)
        m = n * 2 // 5
        out["slice_where"] = timed(lambda: len(paused[:m].where(i=m // 2)), 1 if n >= 100_000 else 3)
        step = max(1, n // (3 * picks))
        ks = list(range(1, n, step))[: 3 * picks]
        nb_resume, magic_resume, eng_resume = [], [], []
        for j, key in enumerate(ks):  # the three paths interleaved, each on its own attempt
            which = j % 3
            start = time.perf_counter()
            if which == 0:
                paused[key - 1 if key else 0]  # noqa: B018 - indexing is part of the path
                paused.where(i=key)[0].resume()
                nb_resume.append(time.perf_counter() - start)
            elif which == 1:
                shell.run_line_magic("resume", f"sweep.work i={key}")
                magic_resume.append(time.perf_counter() - start)
            else:
                a = engine.paused(step="work", i=key)[0]
                start = time.perf_counter()
                engine.resume(a)
                eng_resume.append(time.perf_counter() - start)
        out["nb_resume"], out["magic_resume"], out["engine_resume"] = nb_resume, magic_resume, eng_resume
        out["panel_click"], out["panel_resume"] = panel_resumes(engine, picks)
        (done,), = engine.store.rows("SELECT count(*) FROM attempts WHERE status = 'SUCCEEDED'")
        if done != len(ks) + picks:
            raise SystemExit(f"expected {len(ks) + picks} resumed and succeeded, found {done}")
        return out
    finally:
        c.close_shell(shell)


def main() -> None:
    sizes = [500, 2_000] if c.quick_flag() else [1_000, 10_000, 100_000]
    runs = c.repeats(3)
    picks = 3 if c.quick_flag() else 7
    print(c.machine())
    use_recording_comm()
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        results: dict[int, dict[str, list[float]]] = {}
        for n in sizes:
            per_run: dict[str, list[float]] = {}
            for r in range(runs):
                for key, values in measure(n, tmp, f"{n}-{r}", picks).items():
                    per_run.setdefault(key, []).append(c.median(values))
                for f in os.listdir(tmp):
                    if f.startswith("nb-"):
                        os.remove(os.path.join(tmp, f))
            results[n] = per_run
            f = {key: ms(values) for key, values in per_run.items()}
            print(f"paused n={n}: repr {f['repr']:.1f} ms, _repr_html_ {f['html']:.1f} ms, len {f['len']:.2f} ms, "
                  f"where(i=k) {f['where']:.2f} ms, [:{n * 2 // 5}].where(i=...) {f['slice_where']:.1f} ms "
                  f"(median of {runs} runs)")
            print(f"resume one of {n} paused: paused[k].resume() {f['nb_resume']:.2f} ms, %resume sweep.work i=k "
                  f"{f['magic_resume']:.2f} ms, panel Resume {f['panel_resume']:.2f} ms until drawn "
                  f"({f['panel_click']:.2f} ms until the click returns), engine.resume(a) {f['engine_resume']:.2f} ms")
        big, small = sizes[-1], sizes[0]
        f = {key: ms(values) for key, values in results[big].items()}
        show = max(f["repr"], f["html"], f["len"], f["where"])
        paths = ("nb_resume", "magic_resume", "panel_resume")
        worst = max(f[path] for path in paths)
        flat = worst / max(ms(results[small][path]) for path in paths)
        print(f"notebook_actions: showing paused at n={big}: slowest {show:.1f} ms (goal <= {SHOW_TARGET_MS:g} ms): "
              f"{'met' if show <= SHOW_TARGET_MS else 'NOT met'}")
        print(f"notebook_actions: resume one from the notebook at n={big}: slowest path {worst:.2f} ms "
              f"(goal <= {RESUME_TARGET_MS:g} ms): {'met' if worst <= RESUME_TARGET_MS else 'NOT met'}; "
              f"{flat:.2f}x the n={small} figure (flat: <= {FLAT_TARGET:g}x): "
              f"{'met' if flat <= FLAT_TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
