"""What an open panel costs a run: the 100k no-op sweep with a workflow panel listening and
redrawing on every coalesced change (at most 10 a second), against the same sweep without one,
interleaved in the same process, file-backed. Target (SPEC 7): <= 10% overhead.

The panel's widgets talk through a recording comm: every message a kernel would send is
serialised to JSON, as the kernel's session does, and counted, so the figure includes the
cost of the messages, not only of building the views.

    python benchmarks/panel_overhead.py [--quick] [--repeat=N]
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

import _common as c
from comm.base_comm import BaseComm

TARGET = 0.10


class RecordingComm(BaseComm):
    """A comm that serialises each message as a kernel would, and counts messages and bytes."""

    messages = 0
    sent_bytes = 0

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        text = json.dumps({"msg_type": msg_type, "content": {"comm_id": self.comm_id, "data": data, **keys},
                           "metadata": metadata or {}}, default=str)
        RecordingComm.messages += 1
        RecordingComm.sent_bytes += len(text)


def use_recording_comm() -> None:
    import comm

    comm.create_comm = RecordingComm


def engine_run(n: int, workdir: str, tag: str, with_panel: bool) -> tuple[float, int, float]:
    """Seconds for `run` of the n-iteration sweep (with a live panel open), the panel's draws
    while it ran, and the seconds they took (GIL waits included: an upper bound of their cost).
    The panel must then show the sweep's end."""
    from sweep import check_rows

    path = os.path.join(workdir, f"panel-{tag}.duckdb")
    eng = c.new_engine(path)
    panel = None
    try:
        eng.define("sweep", c.sweep_definition(n))
        if with_panel:
            panel = eng.panel("sweep")
            first, first_seconds = panel.draws, panel.draw_seconds
        gc.collect()
        start = time.perf_counter()
        instance = eng.run("sweep")
        elapsed = time.perf_counter() - start
        during = (panel.draws - first, panel.draw_seconds - first_seconds) if panel is not None else (0, 0.0)
        assert instance.status.value == "SUCCEEDED", instance
        draws, drawing = during
        if panel is not None:
            assert panel.wait_drawn(60), "the panel did not catch up"
            assert "SUCCEEDED" in panel.dag.value
        check_rows(eng, n)
    finally:
        if panel is not None:
            panel.close()
        eng.close()
    c.remove_state(path)
    return elapsed, draws, drawing


def main() -> None:
    n = 5_000 if c.quick_flag() else 100_000
    runs = c.repeats(5)
    print(c.machine())
    use_recording_comm()
    with c.scratch_dir() as tmp:
        c.warm_up(tmp)
        engine_run(1_000, tmp, "warm", True)
        without, with_panel, draws, drawing = [], [], [], []
        before = (RecordingComm.messages, RecordingComm.sent_bytes)
        for r in range(runs):
            without.append(engine_run(n, tmp, f"bare-{r}", False)[0])
            seconds, drawn, spent = engine_run(n, tmp, f"panel-{r}", True)
            with_panel.append(seconds)
            draws.append(drawn)
            drawing.append(spent / seconds)
        messages = (RecordingComm.messages - before[0]) / runs
        sent = (RecordingComm.sent_bytes - before[1]) / runs
        w, p = c.median(without), c.median(with_panel)
        overhead = p / w - 1
        paired = c.median([y / x - 1 for x, y in zip(without, with_panel)])
        print(f"panel n={n}: without {w:.3f} s ({c.us(w, n)}), with a live panel {p:.3f} s ({c.us(p, n)}), "
              f"overhead {overhead:+.1%} [median of {runs}; paired median {paired:+.1%}; without "
              f"{', '.join(f'{x:.3f}' for x in without)}; with {', '.join(f'{x:.3f}' for x in with_panel)}]")
        print(f"panel n={n} drawing: {c.median(draws):.0f} draws during a run ({c.median(draws) / p:.1f} a second), "
              f"{messages:.0f} comm messages and {sent / 1024:.0f} KiB a run (opening and closing the panel included); "
              f"drawing took {c.median(drawing):.1%} of the run's wall time (GIL waits included)")
        verdict = "met" if overhead <= TARGET else "NOT met"
        print(f"panel_overhead: n={n} overhead {overhead:+.1%} with a live panel (goal <= {TARGET:.0%}): {verdict}")


if __name__ == "__main__":
    main()
