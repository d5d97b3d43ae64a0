"""The lab extension in a real JupyterLab: the quickstart's DAG views render and follow the
kernel live, a click on a node sets a breakpoint the kernel lists, the sidebar shows the
paused attempt, a param edited there and Resume make the node SUCCEEDED, and a gutter click
toggles a breakpoint; a kernel without the extension loaded is said to have no engine."""

from __future__ import annotations


import pytest

from .lab import NOTEBOOKS, RUN_TIMEOUT_MS, open_notebook, run_all, shoot

pytestmark = pytest.mark.slow

DAG = ".jp-maestro-dag"
SIDEBAR = "#jp-maestro-sidebar"
GUTTER = ".jp-maestro-breakpoint-gutter"

CELL_OUTPUT = """(index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cell = panel.content.model.cells.get(index);
  const texts = [];
  for (let i = 0; i < cell.outputs.length; i++) {
    const output = cell.outputs.get(i).toJSON();
    if (output.text) texts.push(Array.isArray(output.text) ? output.text.join('') : output.text);
    if (output.data && output.data['text/plain']) {
      const t = output.data['text/plain'];
      texts.push(Array.isArray(t) ? t.join('') : t);
    }
  }
  return texts.join('\\n');
}"""


def run_in_new_cell(page, code: str) -> str:
    """Add a code cell at the end of the notebook, run it, and return what it printed or showed."""
    index = page.evaluate("""(code) => {
      const panel = window.jupyterapp.shell.currentWidget;
      const notebook = panel.content;
      notebook.activeCellIndex = notebook.model.cells.length - 1;
      notebook.mode = 'command';
      return window.jupyterapp.commands.execute('notebook:insert-cell-below').then(() => {
        notebook.activeCell.model.sharedModel.setSource(code);
        const index = notebook.activeCellIndex;
        return window.jupyterapp.commands.execute('notebook:run-cell').then(() => index);
      });
    }""", code)
    page.wait_for_function("""(index) => {
      const panel = window.jupyterapp.shell.currentWidget;
      const cell = panel.content.model.cells.get(index);
      const kernel = panel.sessionContext.session.kernel;
      return cell.executionCount !== null && kernel.status === 'idle';
    }""", arg=index, timeout=RUN_TIMEOUT_MS)
    return page.evaluate(CELL_OUTPUT, index)


def dag_node(page, nth: int, step: str):
    """The node of `step` in the nth DAG view of the notebook."""
    return page.locator(DAG).nth(nth).locator(f"g.jp-maestro-dag-node[data-step='{step}']")


def test_debug_the_quickstart_from_the_dag_view_and_the_sidebar(lab, page):
    path = lab.put(NOTEBOOKS / "01-quickstart.ipynb")
    open_notebook(page, lab, path)
    run_all(page)

    # The DAG views render: the %%workflow cell's follows its version's latest instance.
    first = page.locator(DAG).first
    first.locator("svg").wait_for()
    assert page.locator(DAG).count() >= 4
    report = dag_node(page, 0, "report")
    report.wait_for()
    assert report.get_attribute("data-status") == "SUCCEEDED"
    assert first.locator(".jp-maestro-dag-caption").text_content() == "curve#2 (version 1)"
    first.scroll_into_view_if_needed()
    shoot(page, "lab-dag-after-run-all")

    # Click a node: a breakpoint on its step, as %breakpoint list shows it.
    report.click()
    page.wait_for_selector(f"{DAG} >> nth=0 >> g[data-step='report'][data-breakpoint='set']")
    listed = run_in_new_cell(page, "%breakpoint list")
    assert "curve.report" in listed and "bp_report" in listed, listed

    # Run: the run's DAG shows report paused; a click on it opens its attempt in the sidebar.
    shown = run_in_new_cell(page, "%workflow run curve")
    assert "curve#5" in shown and "paused (1)" in shown, shown
    paused_node = page.locator(DAG).last.locator("g[data-step='report']")
    paused_node.wait_for()
    assert paused_node.get_attribute("data-status") == "PAUSED"
    paused_node.click()
    item = page.locator(f"{SIDEBAR} .jp-maestro-paused-item[data-key='curve#5/1/report[]/1']")
    item.wait_for()
    assert "jp-mod-selected" in (item.get_attribute("class") or "")
    alpha = page.locator(f"{SIDEBAR} input[aria-label='Param alpha (float)']")
    assert alpha.input_value() == "0.001"
    shoot(page, "lab-sidebar-paused")

    # Edit a param: the kernel checks it (a word for a number is refused, nothing changes).
    alpha.fill("abc")
    alpha.press("Enter")
    page.wait_for_selector(f"{SIDEBAR} .jp-maestro-field-error:text('is not a number')")
    alpha.fill("0.05")
    alpha.press("Enter")
    page.wait_for_function("""() => {
      const sidebar = document.querySelector('#jp-maestro-sidebar');
      const input = sidebar && sidebar.querySelector("input[aria-label='Param alpha (float)']");
      return input && input.value === '0.05' && !input.classList.contains('jp-mod-invalid')
        && document.activeElement !== input;
    }""")
    checked = run_in_new_cell(page, "print(bp_report[0].params['alpha'])")
    assert checked.strip() == "0.05", checked

    # Resume from the sidebar's toolbar: the node turns SUCCEEDED (publish waits for approval).
    page.locator(f"{SIDEBAR} [data-command='maestro-nb:resume']").click()
    page.wait_for_selector(f"{DAG} >> nth=-1 >> g[data-step='report'][data-status='SUCCEEDED']")
    page.wait_for_selector(f"{DAG} >> nth=-1 >> g[data-step='publish'][data-status='PAUSED']")
    results = run_in_new_cell(page, "print(maestro_nb.sql(\"SELECT output FROM iterations "
                                    "WHERE instance_id = 5 AND step_id = 'report'\").iloc[0, 0])")
    assert "0.05" in results, results
    page.locator(DAG).last.scroll_into_view_if_needed()
    shoot(page, "lab-dag-resumed")

    # Toggle a gutter breakpoint beside `- id: data` in the first %%workflow cell.
    cell = page.locator(".jp-CodeCell", has_text="%%workflow curve").first
    cell.scroll_into_view_if_needed()
    # report (the node clicked) has its dot; data and fit (its breakpoints deleted) have none
    dots = cell.locator(f"{GUTTER} .jp-maestro-breakpoint:not(.jp-maestro-breakpoint-candidate) >> visible=true")
    candidates = cell.locator(f"{GUTTER} .jp-maestro-breakpoint-candidate >> visible=true")
    assert (dots.count(), candidates.count()) == (1, 2)
    candidates.first.click()
    cell.locator(f"{GUTTER} .jp-maestro-breakpoint-candidate >> visible=true >> nth=1").wait_for(state="detached")
    assert (dots.count(), candidates.count()) == (2, 1)
    page.wait_for_selector(f"{SIDEBAR} .jp-maestro-breakpoint-row[data-target='curve.data']")
    listed = run_in_new_cell(page, "%breakpoint list")
    assert "curve.data" in listed, listed
    cell.scroll_into_view_if_needed()
    shoot(page, "lab-gutter-breakpoint")
    # ... and off again, from the gutter; the kernel has it no more.
    dots.first.click()
    page.wait_for_selector(f"{SIDEBAR} .jp-maestro-breakpoint-row[data-target='curve.data']", state="detached")
    listed = run_in_new_cell(page, "%breakpoint list")
    assert "curve.data" not in listed, listed
    assert not [e for e in page.console_errors if "maestro" in e.lower()], page.console_errors


def test_the_sidebar_says_when_the_kernel_has_no_engine(lab, page):
    path = lab.write_notebook("no-engine.ipynb", ["1 + 1"])
    open_notebook(page, lab, path)
    page.locator(".jp-SideBar.jp-mod-right [data-id='jp-maestro-sidebar']").click()
    status = page.locator(f"{SIDEBAR} .jp-maestro-status")
    status.wait_for()
    page.wait_for_selector(f"{SIDEBAR} .jp-maestro-status[data-state='no-engine']")
    assert "run %load_ext maestro_nb" in (status.text_content() or "")
    shoot(page, "lab-sidebar-no-engine")
    run_in_new_cell(page, "%load_ext maestro_nb\n%workflow db :memory:")
    page.wait_for_selector(f"{SIDEBAR} .jp-maestro-status[data-state='connected']")
    assert ":memory:" in (status.text_content() or "")
    shown = run_in_new_cell(page, "%%workflow tiny\nsteps:\n  - id: only\n    noop: true")
    assert "workflow tiny" in shown
    dag = page.locator(DAG).last
    dag.locator("g[data-step='only']").wait_for()
    assert dag.locator("g[data-step='only']").get_attribute("data-status") == "NOT_STARTED"
