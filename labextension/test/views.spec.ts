/**
 * What the views compute without a DOM: which line of a `%%workflow` cell names which step
 * (the gutter), and how the DAG view lays out and labels steps.
 */

import { readWorkflowCell } from '../src/cells';
import { layoutSteps, statusClass, statusText } from '../src/layout';
import type { IStep } from '../src/protocol';

function step(id: string, extra: Partial<IStep> = {}): IStep {
  return {
    id,
    label: `run ${id}`,
    kind: 'run',
    parent: null,
    depth: 0,
    after: [],
    iterations: false,
    status: 'NOT_STARTED',
    counts: {},
    total: null,
    error: null,
    breakpoints: [],
    ...extra
  };
}

describe('a %%workflow cell', () => {
  it("maps each '- id:' line to its step", () => {
    const cell = readWorkflowCell(
      ['%%workflow curve', 'params:', '  alpha: 0.1', 'steps:', '  - id: data', '    run: make_data',
        "  - id: 'fit'   # the model", '    after: [data]', '  - id: report'].join('\n')
    );
    expect(cell?.workflow).toBe('curve');
    expect([...cell!.steps]).toEqual([
      [5, 'data'],
      [7, 'fit'],
      [9, 'report']
    ]);
  });

  it('is not any other cell', () => {
    expect(readWorkflowCell('x = 1\n  - id: data')).toBeNull();
    expect(readWorkflowCell('%workflow run curve')).toBeNull();
    expect(readWorkflowCell('')).toBeNull();
    expect(readWorkflowCell('\n%%workflow sweep\n')?.steps.size).toBe(0);
  });
});

describe('the DAG layout', () => {
  it('places each step below the steps it comes after', () => {
    const { nodes, edges, width, height } = layoutSteps([
      step('load'),
      step('fit', { after: ['load'] }),
      step('score', { after: ['load'] }),
      step('best', { after: ['fit', 'score'] })
    ]);
    expect(nodes.get('load')!.y).toBeLessThan(nodes.get('fit')!.y);
    expect(nodes.get('fit')!.y).toBe(nodes.get('score')!.y);
    expect(nodes.get('fit')!.x).not.toBe(nodes.get('score')!.x);
    expect(nodes.get('best')!.y).toBeGreaterThan(nodes.get('fit')!.y);
    expect(edges.map(e => `${e.from}->${e.to}`).sort()).toEqual(['fit->best', 'load->fit', 'load->score', 'score->best']);
    expect(edges.every(e => e.points.length >= 2)).toBe(true);
    expect(width).toBeGreaterThan(0);
    expect(height).toBeGreaterThan(0);
  });

  it('runs a foreach body from its foreach step, dashed', () => {
    const { edges } = layoutSteps([
      step('outer', { iterations: true }),
      step('inner', { parent: 'outer', depth: 1, iterations: true }),
      step('total', { parent: 'outer', depth: 1, after: ['inner'], iterations: true })
    ]);
    expect(edges.map(e => [e.from, e.to, e.body])).toEqual([
      ['outer', 'inner', true],
      ['inner', 'total', false]
    ]);
  });

  it('labels a node by its status, with iterations counted', () => {
    expect(statusText(step('a'))).toBe('not started');
    expect(statusText(step('a', { status: 'SUCCEEDED' }))).toBe('SUCCEEDED');
    expect(
      statusText(step('fit', { status: 'PAUSED', iterations: true, counts: { SUCCEEDED: 3, PAUSED: 6 }, total: 9 }))
    ).toBe('3 succeeded, 6 paused (9/9)');
    expect(statusClass('PAUSED')).toBe('paused');
    expect(statusClass('USER_FAILED')).toBe('failed');
    expect(statusClass('BLOCKED')).toBe('failed');
    expect(statusClass('NOT_STARTED')).toBe('not-started');
  });
});
