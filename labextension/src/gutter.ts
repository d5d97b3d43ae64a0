/**
 * Gutter breakpoints in `%%workflow` cells, drawn as JupyterLab's debugger draws its own: a
 * CodeMirror 6 gutter whose markers are the debugger's red breakpoint icon. A click beside a
 * step's `- id:` line toggles a breakpoint on that step through the comm; the dots follow the
 * model, so `%breakpoint`, the sidebar and the DAG view stay in step with them.
 */

import type { Cell, CodeCell } from '@jupyterlab/cells';
import type { CodeMirrorEditor } from '@jupyterlab/codemirror';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { breakpointIcon } from '@jupyterlab/ui-components';
import type { IDisposable } from '@lumino/disposable';

import {
  Compartment,
  EditorState,
  Extension,
  Prec,
  RangeSet,
  RangeSetBuilder,
  StateEffect,
  StateField
} from '@codemirror/state';
import { EditorView, gutter, GutterMarker } from '@codemirror/view';

import { readWorkflowCell } from './cells';
import type { NotebookLink } from './link';

const GUTTER_CLASS = 'jp-maestro-breakpoint-gutter';

class BreakpointMarker extends GutterMarker {
  constructor(readonly set: boolean) {
    super();
  }

  eq(other: GutterMarker): boolean {
    return other instanceof BreakpointMarker && other.set === this.set;
  }

  toDOM(view: EditorView): Node {
    const marker = document.createElement('span');
    marker.className = this.set
      ? 'jp-maestro-breakpoint'
      : 'jp-maestro-breakpoint jp-maestro-breakpoint-candidate';
    marker.ariaLabel = view.state.phrase(this.set ? 'Breakpoint' : 'Set a breakpoint');
    marker.appendChild(
      breakpointIcon.element({ elementPosition: 'center', className: 'jp-maestro-breakpoint-icon' })
    );
    return marker;
  }
}

const SET = new BreakpointMarker(true);
const CANDIDATE = new BreakpointMarker(false);

/** Which steps of the cell's workflow have breakpoints. */
const setMarked = StateEffect.define<ReadonlySet<string>>();

interface IGutterState {
  marked: ReadonlySet<string>;
  markers: RangeSet<GutterMarker>;
}

function markers(state: EditorState, marked: ReadonlySet<string>): RangeSet<GutterMarker> {
  const cell = readWorkflowCell(state.doc.toString());
  const builder = new RangeSetBuilder<GutterMarker>();
  if (cell !== null) {
    for (const [line, step] of [...cell.steps].sort((a, b) => a[0] - b[0])) {
      if (line <= state.doc.lines) {
        builder.add(state.doc.line(line).from, state.doc.line(line).from, marked.has(step) ? SET : CANDIDATE);
      }
    }
  }
  return builder.finish();
}

const gutterState = StateField.define<IGutterState>({
  create: state => ({ marked: new Set(), markers: markers(state, new Set()) }),
  update: (value, transaction) => {
    let marked = value.marked;
    for (const effect of transaction.effects) {
      if (effect.is(setMarked)) {
        marked = effect.value;
      }
    }
    if (marked === value.marked && !transaction.docChanged) {
      return value;
    }
    return { marked, markers: markers(transaction.state, marked) };
  }
});

/** The gutter: markers from the state, a click toggles the step on that line. */
export function breakpointGutter(
  onToggle: (workflow: string, step: string) => void
): Extension {
  return [
    gutterState,
    Prec.highest(
      gutter({
        class: GUTTER_CLASS,
        renderEmptyElements: true,
        markers: view => view.state.field(gutterState).markers,
        initialSpacer: () => SET,
        domEventHandlers: {
          mousedown: (view, line) => {
            const cell = readWorkflowCell(view.state.doc.toString());
            const step = cell?.steps.get(view.state.doc.lineAt(line.from).number);
            if (cell && step !== undefined) {
              onToggle(cell.workflow, step);
              return true;
            }
            return false;
          }
        }
      })
    )
  ];
}

/** The marked steps a cell's gutter shows, as an effect to dispatch. */
export function markSteps(view: EditorView, marked: ReadonlySet<string>): void {
  const current = view.state.field(gutterState, false);
  if (current === undefined || sameSet(current.marked, marked)) {
    return;
  }
  view.dispatch({ effects: setMarked.of(marked) });
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every(x => b.has(x));
}

/** Puts the gutter in a notebook's `%%workflow` cells and keeps its dots on the model's. */
export class NotebookGutters implements IDisposable {
  constructor(panel: NotebookPanel, link: NotebookLink) {
    this._panel = panel;
    this._link = link;
    panel.content.model?.cells.changed.connect(this._onCells, this);
    link.changed.connect(this.refresh, this);
    this._onCells();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Put the dots where the model has breakpoints, in every workflow cell. */
  refresh(): void {
    const model = this._link.connection?.model;
    for (const [cell, entry] of this._cells) {
      const editor = (cell as CodeCell).editor as CodeMirrorEditor | null;
      const view = editor?.editor;
      if (!view || !entry.on) {
        continue;
      }
      const parsed = readWorkflowCell(cell.model.sharedModel.getSource());
      const marked = new Set<string>();
      if (parsed && model) {
        for (const bp of model.breakpoints) {
          if (bp.workflow === parsed.workflow && bp.step !== null) {
            marked.add(bp.step);
          }
        }
      }
      markSteps(view, marked);
    }
  }

  private _onCells(): void {
    for (const cell of this._panel.content.widgets) {
      if (cell.model.type === 'code' && !this._cells.has(cell)) {
        this._add(cell);
      }
    }
  }

  private _add(cell: Cell): void {
    const entry = { compartment: new Compartment(), on: false, injected: false };
    this._cells.set(cell, entry);
    const extension = breakpointGutter((workflow, step) => {
      const connection = this._link.connection;
      if (connection !== null) {
        void connection
          .request('toggle_breakpoint', { target: `${workflow}.${step}` })
          .catch(() => undefined); // the model shows the error
      }
    });
    const update = () => {
      const editor = (cell as CodeCell).editor as CodeMirrorEditor | null;
      if (!editor || cell.isDisposed) {
        return;
      }
      const wanted = readWorkflowCell(cell.model.sharedModel.getSource()) !== null;
      if (!entry.injected) {
        editor.injectExtension(entry.compartment.of(wanted ? extension : []));
        entry.injected = true;
        entry.on = wanted;
      } else if (wanted !== entry.on) {
        editor.editor.dispatch({ effects: entry.compartment.reconfigure(wanted ? extension : []) });
        entry.on = wanted;
      }
      this.refresh();
    };
    const model = cell.model; // null once the cell is disposed
    void (cell as CodeCell).ready.then(update);
    model.contentChanged.connect(update);
    cell.disposed.connect(() => {
      model.contentChanged.disconnect(update);
      this._cells.delete(cell);
    });
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._link.changed.disconnect(this.refresh, this);
    this._panel.content.model?.cells.changed.disconnect(this._onCells, this);
    this._cells.clear();
  }

  private _panel: NotebookPanel;
  private _link: NotebookLink;
  private _cells = new Map<Cell, { compartment: Compartment; on: boolean; injected: boolean }>();
  private _disposed = false;
}
