"""Fixtures for the notebook face (the in-process `shell` is in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest


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
