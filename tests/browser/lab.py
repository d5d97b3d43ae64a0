"""What browser tests do in JupyterLab: the server's handle and the actions a user takes.

`open_notebook(page, lab, "name.ipynb")` opens a notebook and waits for its kernel to be idle;
`run_all(page)` runs every cell and waits for the kernel to finish; `shoot(page, name)` keeps a
screenshot in tests/browser/artifacts/. Every wait is on an observable condition with a generous
deadline, so the tests hold on a loaded machine.
"""


from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
# Generous, because CI machines are shared: each is a bound, never a delay.
START_TIMEOUT_S = 120
UI_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 240_000



@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: its base URL and the folder it serves."""

    url: str
    root: Path
    log: Path

    def put(self, source: Path | str, name: str | None = None) -> str:
        """Copy a notebook (or any file) into the server's root; return its path there."""
        source = Path(source)
        target = self.root / (name or source.name)
        shutil.copy(source, target)
        return target.name

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Write a notebook of code cells into the server's root; return its path there."""
        notebook = {
            "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                       "source": source} for source in cells],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(notebook, indent=1))
        return name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_status(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}api/status", timeout=5)
            return
        except OSError:
            time.sleep(0.25)  # polling an observable condition, bounded by the deadline
    pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def stop_group(proc: subprocess.Popen) -> None:
    """End a server started with start_new_session=True: SIGTERM its group, SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def menu(page, top: str, item: str) -> None:
    """Pick a menu item from the menu bar, as a user would."""
    page.click(f".lm-MenuBar-itemLabel:text-is('{top}')")
    page.click(f".lm-Menu-itemLabel:text-is('{item}')")


def wait_idle(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the active notebook's kernel is idle."""
    page.wait_for_function("""() => {
      const panel = window.jupyterapp.shell.currentWidget;
      const session = panel && panel.sessionContext && panel.sessionContext.session;
      return !!(session && session.kernel && session.kernel.status === 'idle');
    }""", timeout=timeout_ms)


def open_notebook(page, lab: LabServer, path: str) -> None:
    """Open a notebook in a fresh workspace and wait until its kernel is idle."""
    page.goto(f"{lab.url}lab/tree/{path}?reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    kernel_dialog = page.locator(".jp-Dialog .jp-mod-accept")
    if kernel_dialog.count():  # "Select Kernel" for a notebook that names none
        kernel_dialog.click()
    wait_idle(page)
    page.click(".jp-Notebook .jp-Cell >> nth=0")


RUN_FINISHED = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  const cells = Array.from(panel.content.model.cells).filter(cell => cell.type === 'code');
  const failed = cells.some(cell => Array.from({length: cell.outputs.length},
    (_, i) => cell.outputs.get(i).type).includes('error'));
  return failed || cells.every(cell => cell.executionCount !== null);
}"""


def run_all(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Clear every output, run every cell, and wait until the last one has run (or one failed)."""
    menu(page, "Edit", "Clear Outputs of All Cells")
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(RUN_FINISHED, timeout=timeout_ms)


def shoot(page, name: str) -> Path:
    """Keep a screenshot of the page as tests/browser/artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
