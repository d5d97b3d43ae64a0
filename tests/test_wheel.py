"""The wheel ships the lab extension prebuilt: built without Node, installed in a fresh venv
without Node, `jupyter labextension list` shows maestro_nb enabled."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
BUILT = ROOT / "maestro_nb" / "labextension" / "static" / "style.js"


def _no_node_path(tmp_path: Path) -> str:
    """A PATH with this venv's tools and nothing else: no node, no npm."""
    empty = tmp_path / "bin"
    empty.mkdir()
    path = os.pathsep.join([str(Path(sys.executable).parent), str(empty)])
    assert shutil.which("node", path=path) is None and shutil.which("npm", path=path) is None
    return path


def test_the_wheel_installs_a_working_extension_without_node(tmp_path):
    assert BUILT.exists(), "the extension is not built: pip install -e . builds it (with Node)"
    path = _no_node_path(tmp_path)
    env = {**os.environ, "PATH": path, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   env=env, check=True, timeout=900)
    [wheel] = dist.glob("maestro_nb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shared = "maestro_nb-0.1.0.data/data/share/jupyter/labextensions/maestro_nb/"
    assert f"{shared}package.json" in names and f"{shared}install.json" in names
    assert f"{shared}static/style.js" in names
    assert any(n.startswith(f"{shared}static/remoteEntry.") for n in names)

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], env=env, check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel), "jupyterlab>=4.6"],
                   env=env, check=True, timeout=1800)
    fresh_env = {**env, "PATH": os.pathsep.join([str(venv / "bin"), str(tmp_path / "bin")])}
    for name in ("JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "VIRTUAL_ENV"):
        fresh_env.pop(name, None)
    listed = subprocess.run([str(venv / "bin" / "jupyter"), "labextension", "list"], env=fresh_env,
                            capture_output=True, text=True, timeout=300)
    report = listed.stdout + listed.stderr
    assert listed.returncode == 0, report
    line = next((l for l in report.splitlines() if "maestro_nb" in l), None)
    assert line is not None, report
    assert "enabled" in line and "OK" in line and "(python, maestro_nb)" in line, line
    assert str(venv) in report  # found in the fresh venv's share/jupyter, not elsewhere
