"""The Binder environment: built from binder/ in a fresh venv as repo2docker builds it, then used.

repo2docker reads binder/runtime.txt (the Python), runs `pip install -r binder/requirements.txt`
from the repository's root, then binder/postBuild. The module fixture does the same in a fresh
venv (the pip cache makes it quick); the tests then check that the package came from a wheel,
that JupyterLab opens on notebooks/, and run every tutorial there with nbclient.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .browser.lab import free_port, stop_group, wait_for_status

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOKS = sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))
INSTALL_TIMEOUT_S = 1200
NOTEBOOK_TIMEOUT_S = 900

RUN_NOTEBOOK = """
import sys

import nbformat
from nbclient import NotebookClient

path = sys.argv[1]
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
"""

PROBE = """
import json, sys
import nbformat
from nbclient import NotebookClient

notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    "import json, sys, maestro_nb, matplotlib, distributed\\n"
    "print(json.dumps({'prefix': sys.prefix, 'maestro_nb': maestro_nb.__file__}))")])
NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
print(notebook.cells[0].outputs[0]["text"])
"""


@dataclass(frozen=True)
class BinderEnv:
    """A venv built from binder/, and a copy of the repository's notebooks to run in it."""

    venv: Path
    home: Path
    work: Path

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MAESTRO_NB_DB")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env["JUPYTER_CONFIG_DIR"] = str(self.home / ".jupyter")  # no config of the machine's user
        env["JUPYTER_DATA_DIR"] = str(self.home / ".local" / "share" / "jupyter")
        return env

    def run(self, *args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        done = subprocess.run(args, cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(args)} exited with {done.returncode}:\n{done.stderr[-4000:]}"
        return done


def _runtime_version() -> tuple[int, int]:
    text = (BINDER / "runtime.txt").read_text().strip()
    assert text.startswith("python-"), f"binder/runtime.txt should read python-X.Y, not {text!r}"
    major, minor = text.removeprefix("python-").split(".")[:2]
    return int(major), int(minor)


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> BinderEnv:
    base = tmp_path_factory.mktemp("binder")
    env = BinderEnv(venv=base / "venv", home=base / "home", work=base / "repo")
    env.home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(env.venv)], check=True, timeout=300)
    # As repo2docker does: from the repository's root, the requirements, then postBuild.
    env.run(env.python, "-m", "pip", "install", "-q", "-r", str(BINDER / "requirements.txt"),
            cwd=ROOT, timeout=INSTALL_TIMEOUT_S)
    env.run("bash", str(BINDER / "postBuild"), cwd=ROOT, timeout=300)
    env.work.mkdir()
    shutil.copytree(ROOT / "notebooks", env.work / "notebooks",
                    ignore=shutil.ignore_patterns("*.duckdb", "*.duckdb.wal", "tutorial-*.csv", "__pycache__",
                                                  ".ipynb_checkpoints"))
    return env


def test_runtime_txt_names_a_python_the_package_supports():
    from packaging.specifiers import SpecifierSet

    import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    major, minor = _runtime_version()
    assert f"{major}.{minor}" in SpecifierSet(requires), f"runtime.txt python-{major}.{minor} vs {requires}"


def test_the_kernel_imports_maestro_nb_from_the_binder_venv_not_the_checkout(binder_env):
    done = binder_env.run(binder_env.python, "-c", PROBE, cwd=binder_env.work, timeout=NOTEBOOK_TIMEOUT_S)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["prefix"]).resolve() == binder_env.venv.resolve(), seen
    assert Path(seen["maestro_nb"]).resolve().is_relative_to(binder_env.venv.resolve()), \
        f"maestro_nb was imported from {seen['maestro_nb']}: binder must install a wheel (`.`), not `-e .`"


def _get(port: int, path: str) -> tuple[int, str | None, str]:
    """GET without following a redirect: the status, the Location header and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Location"), response.read().decode()
    finally:
        connection.close()


def test_jupyterlab_opens_on_the_notebooks_folder(binder_env):
    port = free_port()
    log = binder_env.home / "jupyterlab.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(binder_env.venv / "bin" / "jupyter"), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
             "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={binder_env.work}"],
            cwd=binder_env.work, env=binder_env.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_status(f"http://127.0.0.1:{port}/", server, log)
        status, location, _ = _get(port, "/")
        assert status in (301, 302) and location.split("?")[0].endswith("/lab/tree/notebooks"), (status, location)
        status, _, body = _get(port, "/api/contents/notebooks")
        assert status == 200, status
        names = {item["name"] for item in json.loads(body)["content"]}
        assert set(NOTEBOOKS) <= names
    finally:
        stop_group(server)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_tutorial_runs_in_the_binder_environment(binder_env, name):
    folder = binder_env.work / "notebooks"
    binder_env.run(binder_env.python, "-c", RUN_NOTEBOOK, str(folder / name), str(folder),
                   cwd=folder, timeout=NOTEBOOK_TIMEOUT_S)
