"""The extension's TypeScript model under jest (labextension/test): `npm test`, from pytest so
that the README's test command runs it. Node is needed (CI has it): without it this fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXTENSION = Path(__file__).parents[2] / "labextension"


def test_the_model_passes_its_jest_tests():
    npm = shutil.which("npm")
    assert npm is not None, "npm is not on PATH: install Node 20 (apt-get install -y nodejs npm) to test the extension"
    if not (EXTENSION / "node_modules" / ".bin" / "jest").exists():  # pip install -e . installs them
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=EXTENSION, check=True, timeout=900)
    done = subprocess.run([npm, "test", "--", "--ci"], cwd=EXTENSION, capture_output=True, text=True, timeout=600)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-4000:]
    assert "failed" not in report.split("Tests:")[-1].split("\n")[0], report[-4000:]
