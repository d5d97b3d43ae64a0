"""A sweep whose step returns a small DataFrame (5 rows, 3 columns), against the no-op sweep.

Both run in this process, interleaved, on fresh state files, median of several runs. The
figure is the storage cost per iteration: (engine with frames - engine no-op) minus what the
step itself costs to build its frame (a bare loop calling both functions). Then the file's
size per frame. Goals (SPEC 7): <= 100 us per iteration, <= 2 KB of file per small frame;
every run is checked: results() gives one DataFrame per iteration, equal to what was returned,
and the time results() takes to read them back from the file is printed. CPU time is printed
beside wall time, and the garbage collector's share of each sweep (the engine keeps every
iteration's output alive; a busy run keeps what it holds out of full collections, see
`engine/collector.py`). For reference, a bare loop that keeps every frame in a list: what
keeping them alive costs a program whose full collections walk them all, against the loop that
drops them.

    python benchmarks/table_outputs.py [--quick | --n=ITERATIONS] [--repeat=N]
"""

from __future__ import annotations

import gc
import os
import sys
import time

import _common as c

US_TARGET = 100.0
BYTES_TARGET = 2048


def make_frame(i: int):
    import pandas as pd

    return pd.DataFrame({"i": [i] * 5, "x": [0.5 * k + i for k in range(5)], "name": list("abcde")})


class CollectorTime:
    """Seconds the garbage collector ran while this is entered (through gc.callbacks)."""

    def __init__(self):
        self.seconds = 0.0
        self._started = 0.0

    def _note(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self):
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._note)


def bare(n: int, fn) -> tuple[float, float]:
    """Wall and CPU seconds of a bare loop calling `fn`."""
    cpu = time.process_time()
    start = time.perf_counter()
    for i in range(n):
        fn(i=i)
    return time.perf_counter() - start, time.process_time() - cpu


def bare_keeping(n: int, fn) -> tuple[float, float]:
    """Wall and collector seconds of a bare loop calling `fn` and keeping every result in a list,
    as the engine keeps every iteration's output."""
    kept = []
    gc.collect()
    with CollectorTime() as collector:
        start = time.perf_counter()
        for i in range(n):
            kept.append(fn(i=i))
        elapsed = time.perf_counter() - start
    del kept
    return elapsed, collector.seconds


def engine_run(n: int, workdir: str, tag: str, fn) -> tuple[float, float, float, int, float | None]:
    """Wall, CPU and collector seconds of the sweep, its state file's size, and the seconds
    results() took to read the frames back (None for another step)."""
    from maestro_nb.engine.engine import Engine

    path = os.path.join(workdir, f"t-{tag}.duckdb")
    with Engine(path, {"f": fn}) as eng:
        eng.define("sweep", {"steps": [{"id": "work", "foreach": {"i": "${range(%d)}" % n}, "run": "f"}]})
        gc.collect()
        with CollectorTime() as collector:
            cpu = time.process_time()
            start = time.perf_counter()
            instance = eng.run("sweep")
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu
        assert instance.status.value == "SUCCEEDED", instance
        reading = None
        if fn is make_frame:
            read = time.perf_counter()
            frame = eng.results("sweep", "work")
            reading = time.perf_counter() - read
            import pandas as pd

            for k in (0, n // 2, n - 1):
                pd.testing.assert_frame_equal(frame.output[k], make_frame(k))
    size = os.path.getsize(path)
    c.remove_state(path)
    return elapsed, cpu, collector.seconds, size, reading


def main() -> None:
    n = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--n=")),
             2_000 if c.quick_flag() else 100_000)
    runs = c.repeats(3)
    print(c.machine())
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        engine_run(200, tmp, "warm", make_frame)
        frames, noops, build, sizes, empty = [], [], [], [], []
        frames_cpu, noops_cpu, build_cpu, frames_gc, noops_gc = [], [], [], [], []
        keeping, keeping_gc, readings = [], [], []
        for r in range(runs):
            noop_t, noop_cpu, noop_gc, noop_size, _ = engine_run(n, tmp, f"n{r}", c.noop)
            frame_t, frame_cpu, frame_gc, frame_size, reading = engine_run(n, tmp, f"f{r}", make_frame)
            readings.append(reading)
            (with_frame, with_frame_cpu), (without, without_cpu) = bare(n, make_frame), bare(n, c.noop)
            keep_t, keep_gc = bare_keeping(n, make_frame)
            build.append(with_frame - without)
            keeping.append(keep_t - with_frame)
            keeping_gc.append(keep_gc)
            build_cpu.append(with_frame_cpu - without_cpu)
            frames.append(frame_t)
            frames_cpu.append(frame_cpu)
            frames_gc.append(frame_gc)
            noops.append(noop_t)
            noops_cpu.append(noop_cpu)
            noops_gc.append(noop_gc)
            sizes.append(frame_size)
            empty.append(noop_size)
        f, z, b = c.median(frames), c.median(noops), c.median(build)
        storage = (f - z - b) / n * 1e6
        f_cpu, z_cpu, b_cpu = c.median(frames_cpu), c.median(noops_cpu), c.median(build_cpu)
        per_frame = (c.median(sizes) - c.median(empty)) / n
        print(f"table outputs n={n}: engine {c.us(f, n)}, no-op sweep {c.us(z, n)}, building the frame "
              f"{c.us(b, n)} (bare loop); storing {storage:.1f} us/iteration (median of {runs}; runs "
              f"{', '.join(f'{x:.2f}' for x in frames)} s)")
        print(f"table outputs n={n} cpu: engine {c.us(f_cpu, n)}, no-op sweep {c.us(z_cpu, n)}, building the "
              f"frame {c.us(b_cpu, n)}; storing {(f_cpu - z_cpu - b_cpu) / n * 1e6:.1f} us/iteration")
        print(f"table outputs n={n} garbage collector: {c.us(c.median(frames_gc), n)} of the frames sweep, "
              f"{c.us(c.median(noops_gc), n)} of the no-op sweep")
        keep = c.median(keeping) / n * 1e6
        print(f"table outputs n={n} reference: a bare loop keeping every frame in a list pays {keep:.1f} "
              f"us/iteration over one dropping them (garbage collector {c.us(c.median(keeping_gc), n)}); "
              f"storing less that: {storage - keep:.1f} us/iteration")
        print(f"table outputs n={n}: results() of the sweep {c.median(readings):.2f} s "
              f"({c.median(readings) / n * 1e6:.1f} us per frame, read back from the file)")
        print(f"table outputs n={n}: file {c.median(sizes) / 1e6:.1f} MB, no-op sweep's {c.median(empty) / 1e6:.1f} MB: "
              f"{per_frame:.0f} bytes per frame")
        print(f"table_outputs: storing a small frame {storage:.1f} us/iteration (goal <= {US_TARGET:g} us): "
              f"{'met' if storage <= US_TARGET else 'NOT met'}; {per_frame:.0f} bytes of file per frame "
              f"(goal <= {BYTES_TARGET}): {'met' if per_frame <= BYTES_TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
