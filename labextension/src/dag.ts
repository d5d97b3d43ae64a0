/**
 * The live DAG view: a MIME renderer for `application/vnd.maestro-nb.dag+json`. It lays the
 * steps out with dagre (layout.ts), colours each node by its live status (with foreach counts), and
 * follows the notebook kernel's model while the comm is connected. A click on a node toggles
 * a breakpoint on its step; a click on a paused node opens its attempts in the sidebar (its
 * dot still toggles the breakpoint).
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import type { NotebookLink } from './link';
import type { IDagState } from './model';
import type { IDag, IInstance, IStep } from './protocol';
import { DAG_MIME } from './protocol';
import { layoutSteps, NODE_HEIGHT, NODE_WIDTH, statusClass, statusText } from './layout';

const SVG = 'http://www.w3.org/2000/svg';

/** Renders one DAG output and keeps it live from the notebook's model. */
export class DagRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(link: NotebookLink | null, openAttempts: (workflow: string, step: string) => void) {
    super();
    this._link = link;
    this._openAttempts = openAttempts;
    this.addClass('jp-maestro-dag');
    link?.changed.connect(this._schedule, this);
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this._dag = model.data[DAG_MIME] as unknown as IDag;
    this._draw();
  }

  private _schedule(): void {
    if (this._frame === 0 && !this.isDisposed) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._draw();
      });
    }
  }

  private _draw(): void {
    const dag = this._dag;
    if (dag === null || this.isDisposed) {
      return;
    }
    const connection = this._link?.connection ?? null;
    const model = connection?.model ?? null;
    if (connection !== null && model !== null && model.needsInstance(dag) && !this._fetching) {
      this._fetching = true;
      void connection
        .request('instance', { workflow: dag.workflow, instance: dag.instance! })
        .then(view => model.keepInstance(view as IInstance))
        .catch(() => undefined)
        .finally(() => (this._fetching = false));
    }
    const state: IDagState = model !== null ? model.dagState(dag) : dag;
    const structure = JSON.stringify(state.steps.map(s => [s.id, s.after, s.parent]));
    if (structure !== this._structure) {
      this._structure = structure;
      this._graph = layoutSteps(state.steps);
    }
    const layout = this._graph!;
    this.node.textContent = '';
    const caption = document.createElement('div');
    caption.className = 'jp-maestro-dag-caption';
    caption.textContent =
      state.instance !== null
        ? `${state.workflow}#${state.instance} (version ${state.version})`
        : `${state.workflow}, version ${state.version}`;
    if (model === null || model.state !== 'connected') {
      caption.textContent += ' · not live: the kernel has no engine connected';
    }
    this.node.appendChild(caption);
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', String(layout.width));
    svg.setAttribute('height', String(layout.height));
    svg.setAttribute('viewBox', `0 0 ${layout.width} ${layout.height}`);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `DAG of workflow ${state.workflow}`);
    const defs = document.createElementNS(SVG, 'defs');
    const arrow = document.createElementNS(SVG, 'marker');
    arrow.setAttribute('id', 'jp-maestro-arrow');
    arrow.setAttribute('viewBox', '0 0 10 10');
    arrow.setAttribute('refX', '10');
    arrow.setAttribute('refY', '5');
    arrow.setAttribute('markerWidth', '7');
    arrow.setAttribute('markerHeight', '7');
    arrow.setAttribute('orient', 'auto-start-reverse');
    const head = document.createElementNS(SVG, 'path');
    head.setAttribute('d', 'M 0 0 L 10 5 L 0 10 z');
    head.setAttribute('class', 'jp-maestro-dag-arrow');
    arrow.appendChild(head);
    defs.appendChild(arrow);
    svg.appendChild(defs);
    for (const edge of layout.edges) {
      const path = document.createElementNS(SVG, 'path');
      path.setAttribute('d', edge.points.map((p, i) => `${i ? 'L' : 'M'} ${p.x} ${p.y}`).join(' '));
      path.setAttribute('class', edge.body ? 'jp-maestro-dag-edge jp-mod-body' : 'jp-maestro-dag-edge');
      path.setAttribute('marker-end', 'url(#jp-maestro-arrow)');
      svg.appendChild(path);
    }
    for (const step of state.steps) {
      const at = layout.nodes.get(step.id);
      if (at !== undefined) {
        svg.appendChild(this._node(state, step, at.x - NODE_WIDTH / 2, at.y - NODE_HEIGHT / 2));
      }
    }
    this.node.appendChild(svg);
  }

  private _node(state: IDagState, step: IStep, x: number, y: number): SVGGElement {
    const g = document.createElementNS(SVG, 'g');
    const css = statusClass(step.status);
    g.setAttribute('class', `jp-maestro-dag-node jp-mod-${css}`);
    g.setAttribute('transform', `translate(${x}, ${y})`);
    g.dataset.step = step.id;
    g.dataset.status = step.status;
    g.setAttribute('role', 'button');
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('width', String(NODE_WIDTH));
    rect.setAttribute('height', String(NODE_HEIGHT));
    rect.setAttribute('rx', '6');
    g.appendChild(rect);
    const title = document.createElementNS(SVG, 'text');
    title.setAttribute('x', '22');
    title.setAttribute('y', '20');
    title.setAttribute('class', 'jp-maestro-dag-title');
    title.textContent = step.id;
    g.appendChild(title);
    const status = document.createElementNS(SVG, 'text');
    status.setAttribute('x', '22');
    status.setAttribute('y', '38');
    status.setAttribute('class', 'jp-maestro-dag-status');
    status.textContent = clip(statusText(step), 24);
    g.appendChild(status);
    const tip = document.createElementNS(SVG, 'title');
    tip.textContent = `${step.id}: ${step.label}\n${statusText(step)}${step.error ? `\n${step.error}` : ''}`;
    g.appendChild(tip);
    const dot = document.createElementNS(SVG, 'circle');
    dot.setAttribute('cx', '11');
    dot.setAttribute('cy', '16');
    dot.setAttribute('r', '5');
    const marked = step.breakpoints.length > 0;
    dot.setAttribute('class', marked ? 'jp-maestro-dag-dot jp-mod-set' : 'jp-maestro-dag-dot');
    g.dataset.breakpoint = marked ? 'set' : 'none';
    g.appendChild(dot);
    const toggle = (event: Event) => {
      event.stopPropagation();
      const connection = this._link?.connection;
      void connection
        ?.request('toggle_breakpoint', { target: `${state.workflow}.${step.id}` })
        .catch(() => undefined); // the model shows the error in the sidebar
    };
    dot.addEventListener('click', toggle);
    g.addEventListener('click', event => {
      if (step.status === 'PAUSED' || (step.counts.PAUSED ?? 0) > 0) {
        event.stopPropagation();
        this._openAttempts(state.workflow, step.id);
      } else {
        toggle(event);
      }
    });
    return g;
  }

  dispose(): void {
    if (this._frame !== 0) {
      cancelAnimationFrame(this._frame);
    }
    this._link?.changed.disconnect(this._schedule, this);
    super.dispose();
  }

  private _link: NotebookLink | null;
  private _openAttempts: (workflow: string, step: string) => void;
  private _dag: IDag | null = null;
  private _structure = '';
  private _graph: ReturnType<typeof layoutSteps> | null = null;
  private _frame = 0;
  private _fetching = false;
}

function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
