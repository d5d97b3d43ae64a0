/**
 * The sidebar's Params section: the selected paused attempt's params, editable when their
 * values can be (the kernel checks each change again), and its output or error. The
 * section's toolbar (Resume, Step, Skip, Stop, Retry) runs the plugin's commands.
 */

import { editText, parseEdit } from './model';
import type { IPaused, IValue } from './protocol';
import { h, ModelView } from './view';

export class AttemptView extends ModelView {
  constructor() {
    super();
    this.addClass('jp-maestro-attempt');
  }

  protected render(): void {
    const model = this.model;
    const attempt = model?.state === 'connected' ? model.selected : null;
    // Do not redraw under the user's typing: an update for another attempt must not eat it.
    const active = document.activeElement;
    if (
      attempt !== null &&
      attempt.key === this._shownKey &&
      active instanceof HTMLInputElement &&
      this.node.contains(active) &&
      sameParams(attempt, this._shown)
    ) {
      return;
    }
    this._shownKey = attempt?.key ?? null;
    this._shown = attempt;
    this.node.textContent = '';
    if (model !== null && model.error !== null) {
      this.node.appendChild(h('div', 'jp-maestro-error-line', model.error));
    }
    if (attempt === null) {
      this.node.appendChild(h('div', 'jp-maestro-empty', 'Select a paused attempt.'));
      return;
    }
    const head = h('div', 'jp-maestro-attempt-head');
    head.appendChild(h('span', 'jp-maestro-attempt-label', attempt.label));
    head.appendChild(h('span', `jp-maestro-point jp-mod-${attempt.pause_point}`, attempt.pause_point));
    this.node.appendChild(head);
    this.node.appendChild(
      h('div', 'jp-maestro-attempt-held', `attempt ${attempt.attempt}, held by ${attempt.held_by.join(', ') || 'nothing'}`)
    );
    const table = h('table', 'jp-maestro-params');
    const editable = attempt.pause_point !== 'after';
    for (const [name, value] of Object.entries(attempt.params)) {
      table.appendChild(this._param(attempt, name, value, editable));
    }
    if (Object.keys(attempt.params).length === 0) {
      this.node.appendChild(h('div', 'jp-maestro-empty', 'No params.'));
    } else {
      this.node.appendChild(table);
    }
    if (attempt.output !== null) {
      this.node.appendChild(h('div', 'jp-maestro-section-title', 'Output'));
      this.node.appendChild(this._output(attempt, attempt.output));
    }
    if (attempt.error !== null) {
      this.node.appendChild(h('div', 'jp-maestro-section-title', 'Error'));
      this.node.appendChild(h('div', 'jp-maestro-error-line', attempt.error));
      if (attempt.traceback) {
        this.node.appendChild(h('pre', 'jp-maestro-traceback', attempt.traceback));
      }
    }
  }

  private _param(attempt: IPaused, name: string, value: IValue, editable: boolean): HTMLElement {
    const row = h('tr', 'jp-maestro-param');
    row.dataset.param = name;
    row.appendChild(h('th', 'jp-maestro-param-name', name));
    const cell = h('td', 'jp-maestro-param-value');
    if (editable && value.editable) {
      cell.appendChild(
        this._field(value, `Param ${name} (${value.kind})`, v =>
          this.connection!.request('set_param', { key: attempt.key, name, value: v })
        )
      );
    } else {
      cell.appendChild(h('code', 'jp-maestro-value', value.text));
    }
    cell.appendChild(h('span', 'jp-maestro-kind', value.kind));
    row.appendChild(cell);
    return row;
  }

  private _output(attempt: IPaused, value: IValue): HTMLElement {
    if (!value.editable) {
      return h('code', 'jp-maestro-value', value.text);
    }
    return this._field(value, 'Output', v =>
      this.connection!.request('set_output', { key: attempt.key, value: v })
    );
  }

  /** An input that sends its value on Enter or when it loses focus, if it changed. */
  private _field(value: IValue, label: string, send: (value: unknown) => Promise<unknown>): HTMLElement {
    const wrap = h('span', 'jp-maestro-field');
    const input = h('input', 'jp-maestro-input jp-mod-styled');
    input.value = editText(value);
    input.setAttribute('aria-label', label);
    const problem = h('span', 'jp-maestro-field-error');
    const start = input.value;
    let sent = start; // Enter, then the blur's change event: send once
    const commit = async () => {
      if (input.value === sent) {
        return;
      }
      const parsed = parseEdit(value.kind, input.value);
      if ('error' in parsed) {
        problem.textContent = parsed.error;
        input.classList.add('jp-mod-invalid');
        return;
      }
      problem.textContent = '';
      input.classList.remove('jp-mod-invalid');
      sent = input.value;
      try {
        await send(parsed.value);
        input.blur();
      } catch (error) {
        sent = start;
        problem.textContent = (error as Error).message;
        input.classList.add('jp-mod-invalid');
      }
    };
    input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        event.preventDefault();
        void commit();
      } else if (event.key === 'Escape') {
        input.value = start;
        problem.textContent = '';
        input.classList.remove('jp-mod-invalid');
      }
    });
    input.addEventListener('change', () => void commit());
    wrap.appendChild(input);
    wrap.appendChild(problem);
    return wrap;
  }

  private _shownKey: string | null = null;
  private _shown: IPaused | null = null;
}

function sameParams(a: IPaused, b: IPaused | null): boolean {
  return b !== null && JSON.stringify(a.params) === JSON.stringify(b.params) && a.error === b.error;
}
