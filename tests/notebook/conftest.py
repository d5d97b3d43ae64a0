"""Fixtures for the notebook face: a fresh in-process shell, and a real kernel."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """A fresh IPython shell with the extension loaded and its state in tmp_path."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.history import HistoryManager

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAESTRO_NB_DB", raising=False)
    monkeypatch.setattr(HistoryManager, "enabled", False)
    sh = InteractiveShell()
    sh.run_line_magic("load_ext", "maestro_nb")
    yield sh
    sh.run_line_magic("unload_ext", "maestro_nb")
    sh.history_manager.end_session() if sh.history_manager else None


FAILING_SWEEP = """
steps:
  - id: fit
    foreach: {x: [0, 1, 2, 3]}
    run: fit
  - id: report
    after: [fit]
    run: report
"""

FAILING_CODE = '''
def fit(x):
    scale = 10 - 2 * x
    return round(scale / (x - 2), 3)

def report(fit):
    return [v for v in fit if v is not None]
'''


@pytest.fixture
def sweep(shell):
    """`sweep` defined in an in-memory state file: fit[2] divides by zero."""
    shell.run_line_magic("workflow", "db :memory:")
    shell.run_cell(FAILING_CODE)
    shell.run_cell_magic("workflow", "sweep", FAILING_SWEEP)
    return shell
