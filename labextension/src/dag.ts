/**
 * The live DAG view: a MIME renderer for `application/vnd.maestro-nb.dag+json`. It lays the
 * steps out with dagre, colours each node by its live status (with foreach counts), and
 * follows the notebook kernel's model while the comm is connected. A click on a node toggles
 * a breakpoint on its step; a click on a paused node opens its attempts in the sidebar (its
 * dot still toggles the breakpoint).
 */

import dagre from '@dagrejs/dagre';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import type { NotebookLink } from './link';
import type { IDagState } from './model';
import type { IDag, IInstance, IStep } from './protocol';
import { DAG_MIME } from './protocol';

const SVG = 'http://www.w3.org/2000/svg';
const NODE_WIDTH = 176;
const NODE_HEIGHT = 52;

/** The colour family of a status, as the magics' HTML displays colour them. */
export function statusClass(status: string): string {
  switch (status) {
    case 'SUCCEEDED':
      return 'succeeded';
    case 'PAUSED':
      return 'paused';
    case 'RUNNING':
    case 'CREATED':
    case 'INITIALIZED':
    case 'EVALUATING_PARAMS':
      return 'running';
    case 'SKIPPED':
    case 'UNSATISFIED':
      return 'skipped';
    case 'STOPPED':
      return 'stopped';
    case 'USER_FAILED':
    case 'PLATFORM_FAILED':
    case 'FATALLY_FAILED':
    case 'INTERRUPTED':
    case 'BLOCKED':
      return 'failed';
    case 'COMPLETED_WITH_ERROR':
      return 'warning';
    default:
      return 'not-started';
  }
}

/** The second line of a node: its status, and for iterations how many ended how. */
export function statusText(step: IStep): string {
  const words = step.status === 'NOT_STARTED' ? 'not started' : step.status;
  if (!step.iterations) {
    return words;
  }
  const done = Object.values(step.counts).reduce((a, b) => a + b, 0);
  if (done === 0) {
    return words;
  }
  const parts = Object.entries(step.counts)
    .filter(([s]) => s !== 'NOT_CREATED')
    .map(([s, n]) => `${n} ${s.toLowerCase().replace(/_/g, ' ')}`);
  const total = step.total !== null ? `/${step.total}` : '';
  return `${parts.join(', ')}${total ? ` (${done}${total})` : ''}`;
}

/** Node positions and edge routes for a DAG's steps. */
export function layoutSteps(steps: IStep[]): {
  nodes: Map<string, { x: number; y: number }>;
  edges: { from: string; to: string; body: boolean; points: { x: number; y: number }[] }[];
  width: number;
  height: number;
} {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(steps.map(s => s.id));
  for (const step of steps) {
    graph.setNode(step.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  }
  const body = new Set<string>();
  for (const step of steps) {
    const inBody = step.after.filter(a => ids.has(a));
    inBody.forEach(a => graph.setEdge(a, step.id));
    if (step.parent !== null && ids.has(step.parent) && inBody.length === 0) {
      graph.setEdge(step.parent, step.id); // a foreach runs its body
      body.add(`${step.parent}->${step.id}`);
    }
  }
  dagre.layout(graph);
  const nodes = new Map<string, { x: number; y: number }>();
  graph.nodes().forEach((id: string) => {
    const n = graph.node(id);
    nodes.set(id, { x: n.x ?? 0, y: n.y ?? 0 });
  });
  const edges = graph.edges().map((e: { v: string; w: string }) => ({
    from: e.v,
    to: e.w,
    body: body.has(`${e.v}->${e.w}`),
    points: (graph.edge(e).points ?? []) as { x: number; y: number }[]
  }));
  const label = graph.graph();
  return { nodes, edges, width: label.width ?? 0, height: label.height ?? 0 };
}

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
