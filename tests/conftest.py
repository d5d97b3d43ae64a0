"""Shared fixtures: a fresh engine on a real DuckDB file, with its own namespace."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings

from maestro_nb.engine.engine import Engine

# Property tests draw the same examples on every run (no flaky failure on a fresh clone) and never
# time one out: the machine running them may be busy.
settings.register_profile("maestro", deadline=None, derandomize=True, database=None)
settings.load_profile("maestro")


@pytest.fixture
def namespace() -> dict[str, Any]:
    """The dict `run:` callables are looked up in (a notebook's user namespace)."""
    return {}


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "state.duckdb")


@pytest.fixture
def engine(db_path, namespace):
    """A fresh engine on a file in tmp_path; closed after the test."""
    eng = Engine(db_path, namespace)
    yield eng
    eng.close()


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
    if sh.history_manager:
        sh.history_manager.end_session()
