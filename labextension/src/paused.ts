/**
 * The sidebar's Paused attempts section: paused attempts grouped by workflow and step, a
 * filter by loop param (`alpha=0.1`), and the selection the Params section shows.
 */

import { WorkflowModel } from './model';
import { h, ModelView } from './view';

export class PausedView extends ModelView {
  constructor() {
    super();
    this.addClass('jp-maestro-paused');
    this._filter = h('input', 'jp-maestro-filter jp-mod-styled');
    this._filter.type = 'search';
    this._filter.placeholder = 'filter by loop param: name=value';
    this._filter.setAttribute('aria-label', 'Filter paused attempts by loop param');
    this._filter.addEventListener('input', () => this._onFilter());
    this._list = h('div', 'jp-maestro-paused-list');
    this.node.appendChild(this._filter);
    this.node.appendChild(this._list);
  }

  private _onFilter(): void {
    const model = this.model;
    if (model === null) {
      return;
    }
    const parsed = WorkflowModel.parseLoopFilter(this._filter.value);
    this._filter.classList.toggle('jp-mod-invalid', parsed === undefined);
    if (parsed !== undefined) {
      model.setLoopFilter(parsed);
    }
  }

  protected render(): void {
    this._list.textContent = '';
    const model = this.model;
    const connected = model !== null && model.state === 'connected';
    this._filter.hidden = !connected;
    if (model === null || !connected) {
      return;
    }
    const names = model.loopParamNames();
    this._filter.title = names.length ? `loop params: ${names.join(', ')}` : 'no loop params';
    const focus = model.focus;
    if (focus !== null) {
      const bar = h('div', 'jp-maestro-focus', `${focus.workflow}.${focus.step} only · `);
      const all = h('a', 'jp-maestro-link', 'show all');
      all.href = '#';
      all.addEventListener('click', event => {
        event.preventDefault();
        model.setFocus(null);
      });
      bar.appendChild(all);
      this._list.appendChild(bar);
    }
    const groups = model.pausedGroups();
    if (groups.length === 0) {
      this._list.appendChild(
        h('div', 'jp-maestro-empty', model.pausedTotal ? 'No paused attempt matches the filter.' : 'Nothing is paused.')
      );
      return;
    }
    for (const workflow of groups) {
      const section = h('div', 'jp-maestro-paused-workflow');
      section.appendChild(h('div', 'jp-maestro-group-title', workflow.workflow));
      for (const step of workflow.steps) {
        const title = h('div', 'jp-maestro-group-step', `${step.step}`);
        title.appendChild(h('span', 'jp-maestro-badge', String(step.items.length)));
        section.appendChild(title);
        for (const p of step.items) {
          const item = h('div', 'jp-maestro-paused-item');
          item.dataset.key = p.key;
          item.tabIndex = 0;
          item.setAttribute('role', 'option');
          item.setAttribute('aria-selected', String(p.key === model.selectedKey));
          item.classList.toggle('jp-mod-selected', p.key === model.selectedKey);
          item.appendChild(h('span', 'jp-maestro-paused-label', p.label));
          const loop = Object.entries(p.loop_params).map(([k, v]) => `${k}=${v.text}`).join(' ');
          if (loop) {
            item.appendChild(h('span', 'jp-maestro-paused-loop', loop));
          }
          item.appendChild(h('span', `jp-maestro-point jp-mod-${p.pause_point}`, p.pause_point));
          item.addEventListener('click', () => model.select(p.key));
          item.addEventListener('keydown', event => {
            if (event.key === 'Enter' || event.key === ' ') {
              model.select(p.key);
            }
          });
          section.appendChild(item);
        }
      }
      this._list.appendChild(section);
    }
    const shown = model.snapshot?.paused.items.length ?? 0;
    if (model.pausedTotal > shown) {
      this._list.appendChild(
        h('div', 'jp-maestro-more', `${model.pausedTotal - shown} more paused (the first ${shown} are listed)`)
      );
    }
  }

  private _filter: HTMLInputElement;
  private _list: HTMLElement;
}
