"""A sweep whose step returns a small DataFrame (5 rows, 3 columns), against the no-op sweep.

Both run in this process, interleaved, on fresh state files, median of several runs. The
figure is the storage cost per iteration: (engine with frames - engine no-op) minus what the
step itself costs to build its frame (a bare loop calling both functions). Then the file's
size per frame. Goals (SPEC 7): <= 100 us per iteration, <= 2 KB of file per small frame;
every run is checked: results() gives one DataFrame per iteration, equal to what was returned.

    python benchmarks/table_outputs.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import gc
import os
import time

import _common as c

US_TARGET = 100.0
BYTES_TARGET = 2048


def make_frame(i: int):
    import pandas as pd

    return pd.DataFrame({"i": [i] * 5, "x": [0.5 * k + i for k in range(5)], "name": list("abcde")})


def bare(n: int, fn) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i=i)
    return time.perf_counter() - start


def engine_run(n: int, workdir: str, tag: str, fn) -> tuple[float, int]:
    from maestro_nb.engine.engine import Engine

    path = os.path.join(workdir, f"t-{tag}.duckdb")
    with Engine(path, {"f": fn}) as eng:
        eng.define("sweep", {"steps": [{"id": "work", "foreach": {"i": "${range(%d)}" % n}, "run": "f"}]})
        gc.collect()
        start = time.perf_counter()
        instance = eng.run("sweep")
        elapsed = time.perf_counter() - start
        assert instance.status.value == "SUCCEEDED", instance
        if fn is make_frame:
            frame = eng.results("sweep", "work")
            import pandas as pd

            for k in (0, n // 2, n - 1):
                pd.testing.assert_frame_equal(frame.output[k], make_frame(k))
    size = os.path.getsize(path)
    c.remove_state(path)
    return elapsed, size


def main() -> None:
    n = 2_000 if c.quick_flag() else 100_000
    runs = c.repeats(3)
    print(c.machine())
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        engine_run(200, tmp, "warm", make_frame)
        frames, noops, build, sizes, empty = [], [], [], [], []
        for r in range(runs):
            noop_t, noop_size = engine_run(n, tmp, f"n{r}", c.noop)
            frame_t, frame_size = engine_run(n, tmp, f"f{r}", make_frame)
            build.append(bare(n, make_frame) - bare(n, c.noop))
            frames.append(frame_t)
            noops.append(noop_t)
            sizes.append(frame_size)
            empty.append(noop_size)
        f, z, b = c.median(frames), c.median(noops), c.median(build)
        storage = (f - z - b) / n * 1e6
        per_frame = (c.median(sizes) - c.median(empty)) / n
        print(f"table outputs n={n}: engine {c.us(f, n)}, no-op sweep {c.us(z, n)}, building the frame "
              f"{c.us(b, n)} (bare loop); storing {storage:.1f} us/iteration (median of {runs}; runs "
              f"{', '.join(f'{x:.2f}' for x in frames)} s)")
        print(f"table outputs n={n}: file {c.median(sizes) / 1e6:.1f} MB, no-op sweep's {c.median(empty) / 1e6:.1f} MB: "
              f"{per_frame:.0f} bytes per frame")
        print(f"table_outputs: storing a small frame {storage:.1f} us/iteration (goal <= {US_TARGET:g} us): "
              f"{'met' if storage <= US_TARGET else 'NOT met'}; {per_frame:.0f} bytes of file per frame "
              f"(goal <= {BYTES_TARGET}): {'met' if per_frame <= BYTES_TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
