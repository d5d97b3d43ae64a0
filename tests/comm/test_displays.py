"""The DAG view's MIME type beside the Mermaid and text fallbacks: `%%workflow`, `%workflow
show`, `%workflow run`, status and action summaries carry it, it fits the schema, and it is the
same every time the same notebook runs (nbval compares it)."""

from __future__ import annotations

from typing import Any

from maestro_nb.magics.display import DAG, MERMAID

from .protocol_schema import check_dag

CODE = '''
def load(n):
    return list(range(n))

def fit(load, alpha):
    return alpha * len(load)
'''

SWEEP = """params: {n: 3}
steps:
  - id: load
    run: load
  - id: fit
    after: [load]
    foreach: {alpha: [0.1, 0.2]}
    run: fit
"""


def bundle(result: Any) -> dict[str, Any]:
    return result._repr_mimebundle_()


def session_in(shell) -> list[dict[str, Any]]:
    """What a short session shows, as MIME bundles."""
    shell.run_line_magic("workflow", "db :memory:")
    shell.run_cell(CODE)
    shown = [bundle(shell.run_cell_magic("workflow", "sweep", SWEEP))]
    shell.run_line_magic("breakpoint", "sweep.fit")
    shown.append(bundle(shell.run_line_magic("workflow", "run sweep")))
    shown.append(bundle(shell.run_line_magic("workflow", "show sweep")))
    shown.append(bundle(shell.run_line_magic("resume", "sweep.fit --all")))
    shown.append(bundle(shell.run_line_magic("workflow", "status sweep")))
    return shown


def test_every_dag_and_run_display_carries_the_dag_view(shell):
    shown = session_in(shell)
    for b in shown:
        assert {"text/plain", DAG} <= set(b), set(b)
        check_dag(b[DAG])
    definition, run, show, resumed, status = (b[DAG] for b in shown)
    assert MERMAID in shown[0] and MERMAID in shown[2]
    assert definition["instance"] is None and [s["status"] for s in definition["steps"]] == ["NOT_STARTED"] * 2
    assert run["instance"] == 1
    fit = {s["id"]: s for s in run["steps"]}["fit"]
    assert fit["status"] == "PAUSED" and fit["counts"] == {"PAUSED": 2} and fit["breakpoints"] == [1]
    assert show["steps"][1]["breakpoints"] == [1]
    assert {s["id"]: s["status"] for s in resumed["steps"]} == {"load": "SUCCEEDED", "fit": "SUCCEEDED"}
    assert status == resumed


def test_the_dag_view_is_the_same_each_time_the_notebook_runs(shell):
    first = session_in(shell)
    assert session_in(shell) == first  # a fresh :memory: state file, the same session again
