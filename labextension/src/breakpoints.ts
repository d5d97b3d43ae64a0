/**
 * The sidebar's Breakpoints section: every breakpoint of the kernel's engine with its pause
 * point and condition, a switch to turn it off and on again, and a button to delete it.
 */

import { breakpointIcon, closeIcon } from '@jupyterlab/ui-components';

import { sameSettings, targetOf } from './model';
import type { IBreakpoint } from './protocol';
import { h, ModelView } from './view';

export class BreakpointsView extends ModelView {
  constructor() {
    super();
    this.addClass('jp-maestro-breakpoints');
  }

  protected render(): void {
    this.node.textContent = '';
    const model = this.model;
    if (model === null || model.state !== 'connected') {
      return;
    }
    const active = model.breakpoints;
    const off = model.disabled.filter(d => !active.some(bp => sameSettings(bp, d)));
    if (active.length === 0 && off.length === 0) {
      this.node.appendChild(
        h('div', 'jp-maestro-empty', 'No breakpoints: click the gutter beside a step\'s "- id:" line, or a DAG node.')
      );
      return;
    }
    for (const bp of active) {
      this.node.appendChild(this._row(bp, true));
    }
    for (const bp of off) {
      this.node.appendChild(this._row(bp, false));
    }
  }

  private _row(bp: IBreakpoint, on: boolean): HTMLElement {
    const row = h('div', on ? 'jp-maestro-breakpoint-row' : 'jp-maestro-breakpoint-row jp-mod-disabled');
    row.dataset.target = targetOf(bp);
    const toggle = h('input', 'jp-maestro-breakpoint-toggle');
    toggle.type = 'checkbox';
    toggle.checked = on;
    toggle.title = on ? 'Switch off (the breakpoint is deleted, its settings kept here)' : 'Switch on again';
    toggle.addEventListener('change', () => void this._toggle(bp, on));
    row.appendChild(toggle);
    row.appendChild(breakpointIcon.element({ className: 'jp-maestro-breakpoint-icon', tag: 'span' }));
    const text = h('span', 'jp-maestro-breakpoint-text');
    text.appendChild(h('span', 'jp-maestro-breakpoint-target', bp.step === null ? `${bp.workflow} (every step)` : targetOf(bp)));
    text.appendChild(h('span', 'jp-maestro-breakpoint-point', bp.pause_point));
    if (bp.when !== null) {
      text.appendChild(h('code', 'jp-maestro-breakpoint-when', `when ${bp.when}`));
    }
    if (bp.scope !== 'all instances') {
      text.appendChild(h('span', 'jp-maestro-breakpoint-scope', bp.scope));
    }
    row.appendChild(text);
    if (on && bp.paused > 0) {
      row.appendChild(h('span', 'jp-maestro-badge', `${bp.paused} paused`));
    }
    const remove = h('button', 'jp-maestro-icon-button jp-maestro-breakpoint-delete');
    remove.title = `Delete this breakpoint${bp.paused ? ' (what it alone holds resumes)' : ''}`;
    remove.setAttribute('aria-label', `Delete breakpoint on ${targetOf(bp)}`);
    remove.appendChild(closeIcon.element({ tag: 'span' }));
    remove.addEventListener('click', () => void this._delete(bp, on));
    row.appendChild(remove);
    return row;
  }

  private async _toggle(bp: IBreakpoint, on: boolean): Promise<void> {
    const connection = this.connection;
    if (connection === null) {
      return;
    }
    try {
      if (on) {
        await connection.request('delete_breakpoint', { id: bp.id });
        connection.model.keepDisabled(bp);
      } else {
        const args: { target: string; pause: IBreakpoint['pause_point']; when?: string } = {
          target: targetOf(bp),
          pause: bp.pause_point
        };
        if (bp.when !== null) {
          args.when = bp.when;
        }
        await connection.request('set_breakpoint', args);
        connection.model.forgetDisabled(bp);
      }
    } catch {
      this.render(); // the model shows the kernel's error; put the switch back as it is
    }
  }

  private async _delete(bp: IBreakpoint, on: boolean): Promise<void> {
    const connection = this.connection;
    if (connection === null) {
      return;
    }
    if (!on) {
      connection.model.forgetDisabled(bp);
      return;
    }
    await connection.request('delete_breakpoint', { id: bp.id }).catch(() => undefined);
  }
}
