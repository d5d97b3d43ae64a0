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
