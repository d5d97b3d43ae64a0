/**
 * How the DAG view lays out and labels steps: dagre places the nodes (top to bottom, `after`
 * edges, a dashed edge from a foreach step to its body), and each node says its status with
 * its iterations counted. Pure functions, tested under jest.
 */

import dagre from '@dagrejs/dagre';

import type { IStep } from './protocol';

export const NODE_WIDTH = 176;
export const NODE_HEIGHT = 52;

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
