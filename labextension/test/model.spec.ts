/**
 * The model: snapshots and updates in, view state out (groups, selection, filters, the DAG's
 * live steps), as the sidebar and the DAG view read it.
 */

import { editText, parseEdit, sameValue, WorkflowModel } from '../src/model';
import type { IBreakpoint, IDag, IInstance, IPaused, ISnapshot, IStep } from '../src/protocol';

function value(v: unknown, kind = typeof v === 'number' ? (Number.isInteger(v) ? 'int' : 'float') : 'str') {
  return { kind, text: typeof v === 'string' ? `'${v}'` : String(v), editable: true, value: v };
}

function step(id: string, status = 'NOT_STARTED', extra: Partial<IStep> = {}): IStep {
  return {
    id,
    label: `run ${id}`,
    kind: 'run',
    parent: null,
    depth: 0,
    after: [],
    iterations: false,
    status,
    counts: {},
    total: null,
    error: null,
    breakpoints: [],
    ...extra
  };
}

function paused(workflow: string, instance: number, stepId: string, iteration: string, alpha: number): IPaused {
  return {
    key: `${workflow}#${instance}/1/${stepId}[${iteration}]/1`,
    label: `${workflow}#${instance} ${stepId}${iteration ? `[${iteration}]` : ''}`,
    workflow,
    instance,
    run: 1,
    step: stepId,
    iteration,
    attempt: 1,
    pause_point: 'before',
    loop_params: iteration ? { alpha: value(alpha) } : {},
    params: { alpha: value(alpha) },
    output: null,
    error: null,
    held_by: ['bp_fit'],
    error_type: null,
    error_message: null,
    traceback: null
  };
}

function breakpoint(id: number, workflow: string, stepId: string | null, when: string | null = null): IBreakpoint {
  return {
    id,
    name: `bp_${stepId}`,
    workflow,
    step: stepId,
    pause_point: 'before',
    when,
    scope: 'all instances',
    version: null,
    instance: null,
    run: null,
    iteration: null,
    paused: 0
  };
}

function instance(workflow: string, n: number, version: number, steps: IStep[], paused = 0): IInstance {
  return { workflow, instance: n, version, run: 1, status: 'IN_PROGRESS', word: paused ? 'paused' : 'IN_PROGRESS', paused, steps };
}

function snapshot(revision: number, extra: Partial<ISnapshot> = {}): ISnapshot {
  return {
    revision,
    state_file: 'state.duckdb',
    workflows: [],
    instances: [],
    details: [],
    breakpoints: [],
    paused: { items: [], total: 0 },
    ...extra
  };
}

const SWEEP_PAUSED = [0.1, 0.2, 0.3].map((alpha, i) => paused('sweep', 1, 'fit', String(i), alpha));

describe('WorkflowModel', () => {
  it('starts with no kernel and nothing to show', () => {
    const model = new WorkflowModel();
    expect(model.state).toBe('no-kernel');
    expect(model.snapshot).toBeNull();
    expect(model.pausedGroups()).toEqual([]);
    expect(model.selected).toBeNull();
  });

  it('takes a snapshot whole and tells its views', () => {
    const model = new WorkflowModel();
    let told = 0;
    model.changed.connect(() => told++);
    model.applySnapshot(snapshot(3, { paused: { items: SWEEP_PAUSED, total: 3 } }));
    expect(model.state).toBe('connected');
    expect(model.pausedTotal).toBe(3);
    expect(told).toBe(1);
  });

  it('groups paused attempts by workflow, then step, in display order', () => {
    const model = new WorkflowModel();
    const items = [...SWEEP_PAUSED, paused('sweep', 1, 'best', '', 0), paused('tune', 2, 'train', '0', 0.5)];
    model.applySnapshot(snapshot(1, { paused: { items, total: 5 } }));
    const groups = model.pausedGroups();
    expect(groups.map(g => g.workflow)).toEqual(['sweep', 'tune']);
    expect(groups[0].steps.map(s => [s.step, s.items.length])).toEqual([
      ['fit', 3],
      ['best', 1]
    ]);
    expect(groups[1].steps[0].items[0].key).toBe('tune#2/1/train[0]/1');
  });

  it('selects the first paused attempt, keeps a selection that stays paused, and drops one that is gone', () => {
    const model = new WorkflowModel();
    model.applySnapshot(snapshot(1, { paused: { items: SWEEP_PAUSED, total: 3 } }));
    expect(model.selectedKey).toBe('sweep#1/1/fit[0]/1');
    model.select('sweep#1/1/fit[2]/1');
    model.applySnapshot(snapshot(2, { paused: { items: SWEEP_PAUSED, total: 3 } }));
    expect(model.selected?.label).toBe('sweep#1 fit[2]');
    // fit[2] resumed: the selection falls to the first that is still paused
    model.applySnapshot(snapshot(3, { paused: { items: SWEEP_PAUSED.slice(0, 2), total: 2 } }));
    expect(model.selectedKey).toBe('sweep#1/1/fit[0]/1');
    model.applySnapshot(snapshot(4));
    expect(model.selected).toBeNull();
  });

  it('ignores an update older than the state it has', () => {
    const model = new WorkflowModel();
    model.applySnapshot(snapshot(5, { paused: { items: SWEEP_PAUSED, total: 3 } }));
    model.applySnapshot(snapshot(4));
    expect(model.pausedTotal).toBe(3);
  });

  it('filters paused attempts by a loop param, by text or by JSON value', () => {
    const model = new WorkflowModel();
    model.applySnapshot(snapshot(1, { paused: { items: SWEEP_PAUSED, total: 3 } }));
    model.setLoopFilter(WorkflowModel.parseLoopFilter('alpha=0.2')!);
    expect(model.visiblePaused().map(p => p.iteration)).toEqual(['1']);
    expect(model.selectedKey).toBe('sweep#1/1/fit[1]/1');
    model.setLoopFilter(WorkflowModel.parseLoopFilter('alpha = 0.30')!);
    expect(model.visiblePaused().map(p => p.iteration)).toEqual(['2']);
    model.setLoopFilter(WorkflowModel.parseLoopFilter('degree=3')!);
    expect(model.visiblePaused()).toEqual([]);
    expect(model.selected).toBeNull();
    model.setLoopFilter(WorkflowModel.parseLoopFilter('  ')!);
    expect(model.visiblePaused()).toHaveLength(3);
  });

  it('reads a filter as name=value, and says when it cannot', () => {
    expect(WorkflowModel.parseLoopFilter('lr=0.1')).toEqual({ name: 'lr', value: '0.1' });
    expect(WorkflowModel.parseLoopFilter('')).toBeNull();
    expect(WorkflowModel.parseLoopFilter('0.1')).toBeUndefined();
    expect(WorkflowModel.parseLoopFilter('a b=1')).toBeUndefined();
  });

  it("focuses on one step's attempts (a click on a paused DAG node)", () => {
    const model = new WorkflowModel();
    const items = [...SWEEP_PAUSED, paused('sweep', 1, 'best', '', 0)];
    model.applySnapshot(snapshot(1, { paused: { items, total: 4 } }));
    model.setFocus({ workflow: 'sweep', step: 'best' });
    expect(model.visiblePaused().map(p => p.step)).toEqual(['best']);
    expect(model.selected?.step).toBe('best');
    model.setFocus(null);
    expect(model.visiblePaused()).toHaveLength(4);
  });

  it("drops the focus once the step's attempts all went on", () => {
    const model = new WorkflowModel();
    model.applySnapshot(snapshot(1, { paused: { items: [...SWEEP_PAUSED, paused('sweep', 1, 'best', '', 0)], total: 4 } }));
    model.setFocus({ workflow: 'sweep', step: 'best' });
    model.applySnapshot(snapshot(2, { paused: { items: SWEEP_PAUSED, total: 3 } }));
    expect(model.focus).toBeNull();
    expect(model.selectedKey).toBe('sweep#1/1/fit[0]/1');
  });

  it('forgets the snapshot when the kernel goes away', () => {
    const model = new WorkflowModel();
    model.applySnapshot(snapshot(1, { paused: { items: SWEEP_PAUSED, total: 3 } }));
    model.state = 'no-engine';
    expect(model.snapshot).toBeNull();
    expect(model.breakpoints).toEqual([]);
    expect(model.pausedGroups()).toEqual([]);
  });

  it('keeps switched-off breakpoints until they are switched on or deleted', () => {
    const model = new WorkflowModel();
    const bp = breakpoint(1, 'sweep', 'fit', 'alpha > 0.1');
    model.keepDisabled(bp);
    model.keepDisabled({ ...bp, id: 7 }); // the same settings: kept once
    expect(model.disabled).toHaveLength(1);
    model.forgetDisabled(bp);
    expect(model.disabled).toEqual([]);
  });

  it('ignores fields a later kernel adds (a gate flag)', () => {
    const model = new WorkflowModel();
    const gated = { ...SWEEP_PAUSED[0], gate: true } as IPaused;
    model.applySnapshot(snapshot(1, { paused: { items: [gated], total: 1 } }));
    expect(model.selected?.key).toBe(gated.key);
  });
});

describe('the DAG view state', () => {
  const definition: IDag = {
    protocol: 1,
    workflow: 'sweep',
    version: 1,
    instance: null,
    steps: [step('load'), step('fit', 'NOT_STARTED', { after: ['load'], iterations: true })]
  };

  it('draws the payload as it is before the comm connects', () => {
    expect(new WorkflowModel().dagState(definition).steps.map(s => s.status)).toEqual(['NOT_STARTED', 'NOT_STARTED']);
  });

  it("shows a definition's latest instance of the same version, with live counts", () => {
    const model = new WorkflowModel();
    const live = [
      step('load', 'SUCCEEDED'),
      step('fit', 'PAUSED', { after: ['load'], iterations: true, counts: { SUCCEEDED: 1, PAUSED: 2 }, total: 3, breakpoints: [1] })
    ];
    model.applySnapshot(
      snapshot(1, {
        details: [instance('sweep', 1, 1, [step('load', 'SUCCEEDED'), step('fit', 'SUCCEEDED')]), instance('sweep', 2, 1, live, 2), instance('sweep', 3, 2, [])]
      })
    );
    const state = model.dagState(definition);
    expect(state.instance).toBe(2);
    expect(state.steps[1].counts).toEqual({ SUCCEEDED: 1, PAUSED: 2 });
    expect(state.steps[1].breakpoints).toEqual([1]);
  });

  it("marks a definition's breakpoints live when no instance of it ran", () => {
    const model = new WorkflowModel();
    model.applySnapshot(snapshot(1, { breakpoints: [breakpoint(4, 'sweep', 'fit'), breakpoint(5, 'other', 'fit')] }));
    const state = model.dagState(definition);
    expect(state.instance).toBeNull();
    expect(state.steps.map(s => s.breakpoints)).toEqual([[], [4]]);
  });

  it('follows its own instance, and fetches an ended one once', () => {
    const model = new WorkflowModel();
    const old: IDag = { ...definition, instance: 1, steps: [step('load', 'SUCCEEDED'), step('fit', 'PAUSED')] };
    model.applySnapshot(
      snapshot(1, {
        instances: [
          { workflow: 'sweep', instance: 1, version: 1, run: 1, status: 'SUCCEEDED', word: 'SUCCEEDED', paused: 0 },
          { workflow: 'sweep', instance: 2, version: 1, run: 1, status: 'IN_PROGRESS', word: 'IN_PROGRESS', paused: 0 }
        ],
        details: [instance('sweep', 2, 1, [step('load', 'RUNNING'), step('fit')])]
      })
    );
    expect(model.needsInstance(old)).toBe(true);
    expect(model.dagState(old).steps[1].status).toBe('PAUSED'); // as stored in the output, until fetched
    model.keepInstance(instance('sweep', 1, 1, [step('load', 'SUCCEEDED'), step('fit', 'SUCCEEDED')]));
    expect(model.needsInstance(old)).toBe(false);
    expect(model.dagState(old).steps[1].status).toBe('SUCCEEDED');
    expect(model.dagState({ ...old, instance: 2 }).steps[0].status).toBe('RUNNING');
  });
});

describe('editing values', () => {
  it('reads what was typed as the kind of the param', () => {
    expect(parseEdit('float', ' 0.01 ')).toEqual({ value: 0.01 });
    expect(parseEdit('float', 'abc')).toEqual({ error: '"abc" is not a number' });
    expect(parseEdit('int', '3')).toEqual({ value: 3 });
    expect(parseEdit('int', '3.5')).toHaveProperty('error');
    expect(parseEdit('bool', 'True')).toEqual({ value: true });
    expect(parseEdit('bool', 'yes')).toHaveProperty('error');
    expect(parseEdit('str', ' a b ')).toEqual({ value: ' a b ' });
    expect(parseEdit('list', '[1, 2]')).toEqual({ value: [1, 2] });
    expect(parseEdit('dict', '{bad')).toHaveProperty('error');
  });

  it('starts a field from the value', () => {
    expect(editText(value(0.001))).toBe('0.001');
    expect(editText(value('abc'))).toBe('abc');
    expect(editText({ kind: 'bool', text: 'True', editable: true, value: true })).toBe('true');
    expect(editText({ kind: 'list', text: '[1, 2]', editable: true, value: [1, 2] })).toBe('[1,2]');
  });

  it('matches a shown value by its text or its JSON value', () => {
    expect(sameValue(value(0.1), '0.1')).toBe(true);
    expect(sameValue(value(0.1), '0.10')).toBe(true);
    expect(sameValue(value('a'), "'a'")).toBe(true);
    expect(sameValue(value('a'), 'a')).toBe(true);
    expect(sameValue({ kind: 'DataFrame', text: '<DataFrame 3x2>', editable: false }, '3')).toBe(false);
  });
});
