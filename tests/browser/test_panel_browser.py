"""The workflow panel in a real JupyterLab and Chromium, used with the mouse and keyboard only: a
sweep pauses, the panel shows it; edit a param, Apply, Resume until the node turns SUCCEEDED
and the rows leave the table; then Approve at a gate with a comment. Screenshots are kept in
tests/browser/artifacts/."""

from __future__ import annotations

import json

import pytest

from .lab import UI_TIMEOUT_MS, open_notebook, run_all, shoot

pytestmark = pytest.mark.slow

CELLS = [
    "%load_ext maestro_nb\n%workflow db panel-browser.duckdb --fresh",
    "def load(n):\n    return n\n\n\ndef train(load, lr):\n    return round(load * lr, 3)\n\n\n"
    "def publish(train):\n    return sum(train)",
    "%%workflow sweep\nparams: {n: 2}\nsteps:\n  - id: load\n    run: load\n  - id: train\n"
    "    after: [load]\n    foreach: {lr: [0.1, 0.2]}\n    run: train\n  - id: publish\n"
    "    after: [train]\n    run: publish",
    "%breakpoint sweep.train\n%breakpoint sweep.publish --gate --as approval",
    "%workflow run sweep",
    "%workflow panel",
]

ROWS = ".maestro-paused-table select option"


def node(step: str, status: str) -> str:
    return f'.maestro-dag [data-step="{step}"][data-status="{status}"]'


def shoot_panel(page, name: str) -> None:
    """A screenshot with the panel's top in view."""
    page.locator(".maestro-status").first.scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('.maestro-status').scrollIntoView({block: 'start'})")
    shoot(page, name)


def kernel_json(page, code: str) -> object:
    """Run `code` in the notebook's kernel (it prints one JSON line) and return what it printed."""
    text = page.evaluate("""async (code) => {
      const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
      let out = '';
      const future = kernel.requestExecute({code});
      future.onIOPub = (msg) => { if (msg.header.msg_type === 'stream') out += msg.content.text; };
      await future.done;
      return out;
    }""", code)
    return json.loads(text)


def test_the_panel_with_the_mouse(lab, page):
    path = lab.write_notebook("panel-browser.ipynb", CELLS)
    open_notebook(page, lab, path)
    run_all(page)
    page.wait_for_selector(node("train", "PAUSED"))
    page.wait_for_function(f"() => document.querySelectorAll('{ROWS}').length === 2")
    assert page.locator(".maestro-dag .maestro-breakpoint").count() == 2
    page.locator(".maestro-status").first.wait_for()
    assert "paused" in page.locator(".maestro-status").first.inner_text()
    shoot_panel(page, "panel-paused")

    # edit lr of the selected attempt (the first row), Apply
    lr = page.locator(".widget-inline-hbox:has(label:text-is('lr')) input")
    lr.fill("0.5")
    lr.press("Enter")
    page.click("button:text-is('Apply')")
    page.wait_for_selector(".maestro-message:text('sweep#1 train[0]: set lr')")

    page.click("button:text-is('Resume')")
    page.wait_for_function(f"() => document.querySelectorAll('{ROWS}').length === 1")
    page.click("button:text-is('Resume')")
    page.wait_for_selector(node("train", "SUCCEEDED"))
    shoot_panel(page, "panel-resumed")

    # publish waits at the gate: its row is the only one
    page.wait_for_function(f"() => document.querySelectorAll('{ROWS}').length === 1 && "
                           f"document.querySelector('{ROWS}').textContent.includes('[gate]')")
    comment = page.locator(".widget-inline-hbox:has(label:text-is('comment')) input")
    comment.fill("the numbers look right")
    comment.press("Tab")
    page.click("button:text-is('Approve')")
    page.wait_for_selector(node("publish", "SUCCEEDED"))
    page.wait_for_function(f"() => document.querySelectorAll('{ROWS}').length === 0")
    page.wait_for_selector(".maestro-message:text('approved sweep#1 publish')", timeout=UI_TIMEOUT_MS)
    shoot_panel(page, "panel-approved")

    found = kernel_json(page, "import json, maestro_nb\nprint(json.dumps([maestro_nb.sql(\"SELECT detail FROM "
                              "events WHERE kind = 'gate'\").detail.tolist(), maestro_nb.sql(\"SELECT output "
                              "FROM iterations WHERE step_id = 'train' ORDER BY iteration\").output.tolist()]))")
    gates, outputs = found
    assert [json.loads(d)["comment"] for d in gates] == ["the numbers look right"]
    assert [json.loads(v) for v in outputs] == [1.0, 0.4]
    assert not [e for e in page.console_errors if "maestro" in e.lower() or "widget" in e.lower()]
