"""The tutorials run in a real JupyterLab, as a new user runs them: Run All, no error output."""

from __future__ import annotations

import pytest

from .lab import NOTEBOOKS, open_notebook, run_all, shoot

pytestmark = pytest.mark.slow

OUTPUT_TYPES = """() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
  .filter(cell => cell.type === 'code')
  .map(cell => [cell.executionCount, Array.from({length: cell.outputs.length},
                                                (_, i) => cell.outputs.get(i).type)])"""


@pytest.mark.parametrize("name", ["01-quickstart.ipynb", "02-foreach-debugging.ipynb", "03-in-flight-mutation.ipynb",
                                  "04-approval-gate.ipynb",
                                  "05-break-on-failure.ipynb", "06-recovery-and-history.ipynb",
                                  "07-testing-workflow-notebooks.ipynb", "08-scale-out.ipynb"])
def test_a_tutorial_runs_all_cells_without_an_error(lab, page, name):
    for module in NOTEBOOKS.glob("*.py"):  # what a tutorial imports from beside it (06's job)
        lab.put(module)
    path = lab.put(NOTEBOOKS / name)
    open_notebook(page, lab, path)
    run_all(page)
    shoot(page, f"run-all-{name.removesuffix('.ipynb')}")
    cells = page.evaluate(OUTPUT_TYPES)
    assert cells, "no code cell found"
    assert all(count is not None for count, _ in cells), "a cell did not run"
    failed = [i for i, (_, kinds) in enumerate(cells) if "error" in kinds]
    assert not failed, f"code cells {failed} show an error"
