/**
 * The Workflows sidebar, on the right like the debugger's: a status line, then the sections
 * Breakpoints, Paused attempts and Params (with the Resume / Step / Skip / Stop / Retry
 * toolbar). It follows the active notebook's kernel, and says plainly when that kernel has
 * no engine.
 */

import type { CommandRegistry } from '@lumino/commands';
import { CommandToolbarButton, PanelWithToolbar, SidePanel } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { AttemptView } from './attempt';
import { BreakpointsView } from './breakpoints';
import type { KernelConnection } from './connection';
import { PausedView } from './paused';
import { h, ModelView } from './view';

export const SIDEBAR_ID = 'jp-maestro-sidebar';

/** The line at the top: which engine the sidebar shows, or why it shows none. */
class StatusLine extends ModelView {
  constructor() {
    super();
    this.addClass('jp-maestro-status');
    this.render();
  }

  protected render(): void {
    this.node.textContent = '';
    const model = this.model;
    let text: string;
    let state: string;
    if (model === null) {
      text = 'Open a notebook to debug its workflows.';
      state = 'no-kernel';
    } else {
      state = model.state;
      switch (model.state) {
        case 'no-kernel':
          text = 'The notebook\'s kernel is not running.';
          break;
        case 'connecting':
          text = 'Connecting to the kernel…';
          break;
        case 'no-engine':
          text = 'This kernel has no workflow engine: run %load_ext maestro_nb in the notebook.';
          break;
        default: {
          const snapshot = model.snapshot;
          const file = snapshot?.state_file;
          const paused = model.pausedTotal;
          text = file
            ? `${file} · ${snapshot!.workflows.length} workflow${snapshot!.workflows.length === 1 ? '' : 's'} · ${paused} paused`
            : 'The engine opens its state file on first use (%workflow db PATH picks it).';
        }
      }
    }
    this.node.dataset.state = state;
    this.node.appendChild(h('span', 'jp-maestro-status-text', text));
  }
}

export class WorkflowSidebar extends SidePanel {
  constructor(commands: CommandRegistry, actions: { id: string; label: string }[]) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-maestro-sidebar');
    this.title.caption = 'Workflows';
    this._status = new StatusLine();
    this.header.addWidget(this._status);
    this._breakpoints = this._section('Breakpoints', new BreakpointsView());
    this._paused = this._section('Paused attempts', new PausedView());
    const params = new PanelWithToolbar();
    params.title.label = 'Params';
    for (const action of actions) {
      // icons with their captions as tooltips, as the debugger's toolbar has them
      params.toolbar.addItem(action.label, new CommandToolbarButton({ commands, id: action.id, label: '' }));
    }
    this._attempt = new AttemptView();
    params.addWidget(this._attempt);
    params.addClass('jp-maestro-section');
    this.addWidget(params);
  }

  private _section<T extends ModelView>(label: string, view: T): T {
    const panel = new PanelWithToolbar();
    panel.title.label = label;
    panel.addClass('jp-maestro-section');
    panel.addWidget(view);
    this.addWidget(panel);
    return view;
  }

  /** The connection the sidebar shows (the active notebook's kernel), or null. */
  get connection(): KernelConnection | null {
    return this._connection;
  }

  set connection(value: KernelConnection | null) {
    this._connection = value;
    const views: ModelView[] = [this._status, this._breakpoints, this._paused, this._attempt];
    views.forEach(view => (view.connection = value));
  }

  private _connection: KernelConnection | null = null;
  private _status: StatusLine;
  private _breakpoints: BreakpointsView;
  private _paused: PausedView;
  private _attempt: AttemptView;
}

export function isSidebar(widget: Widget | null): widget is WorkflowSidebar {
  return widget instanceof WorkflowSidebar;
}
