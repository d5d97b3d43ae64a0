"""Real-browser fixtures: a JupyterLab server on 127.0.0.1 and Debian's Chromium driven by Playwright.

`lab` starts one `jupyter lab` for the whole session, in a scratch root folder, with the
project's kernel and extensions as installed in this venv (a `LabServer`: `url`, `root`,
`put(path)`, `write_notebook(name, cells)`); the page sees the app as `window.jupyterapp`. `page` is a fresh Chromium page per test, its
console errors kept on `page.console_errors`. The actions a test takes live in `tests/browser/lab.py`.

The browser is never downloaded: Playwright runs /usr/bin/chromium (`apt-get install -y
chromium`; `.ci/run` installs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from .lab import CHROMIUM, UI_TIMEOUT_MS, LabServer, free_port, stop_group, wait_for_status

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """One JupyterLab on 127.0.0.1 for the session, serving a scratch folder (no token)."""
    root = tmp_path_factory.mktemp("lab-root")
    log = root.parent / "jupyterlab.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
           "--ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    config = root.parent / "jupyter-config"
    # No "get notified about Jupyter news?" toast over what the tests click and shoot.
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config)}
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env,
                                start_new_session=True)
    try:
        wait_for_status(url, proc, log)
        yield LabServer(url=url, root=root, log=log)
    finally:
        stop_group(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, through Playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no {CHROMIUM}: run `apt-get install -y chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab: LabServer) -> Iterator[object]:
    """A fresh page 1400x1000; its console errors are kept on `page.console_errors`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.console_errors = errors
    yield tab
    context.close()


