/**
 * The state of one kernel's engine as the views draw it: the last snapshot the comm sent,
 * the selected paused attempt and the filters. Every view reads this model and redraws on
 * `changed`; none holds engine logic. Each update replaces the snapshot whole.
 */

import { ISignal, Signal } from '@lumino/signaling';

import type {
  IBreakpoint,
  IDag,
  IInstance,
  IPaused,
  ISnapshot,
  IStep,
  IValue
} from './protocol';

/** Where the connection to the kernel's engine stands. */
export type ConnectionState =
  | 'no-kernel' // no notebook, or its kernel is not running
  | 'connecting' // the comm is being opened
  | 'no-engine' // the kernel answers, but `%load_ext maestro_nb` has not run
  | 'connected';

/** Paused attempts of one step, in display order. */
export interface IStepGroup {
  workflow: string;
  step: string;
  items: IPaused[];
}

/** Paused attempts of one workflow, by step. */
export interface IWorkflowGroup {
  workflow: string;
  steps: IStepGroup[];
}

/** A loop param filter: `name=value`, compared with the value's text. */
export interface ILoopFilter {
  name: string;
  value: string;
}

/** The steps a DAG view draws, and whose state they show. */
export interface IDagState {
  workflow: string;
  version: number;
  instance: number | null;
  steps: IStep[];
}

export class WorkflowModel {
  /** Emitted whenever anything a view shows may have changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get state(): ConnectionState {
    return this._state;
  }

  set state(value: ConnectionState) {
    if (value === this._state) {
      return;
    }
    this._state = value;
    if (value !== 'connected') {
      this._snapshot = null;
    }
    this._changed.emit();
  }

  /** The last snapshot, or null before the first one (or once disconnected). */
  get snapshot(): ISnapshot | null {
    return this._snapshot;
  }

  /** Replace the whole state by a snapshot (the reply to `hello`, or an update). */
  applySnapshot(snapshot: ISnapshot): void {
    if (this._snapshot !== null && snapshot.revision < this._snapshot.revision) {
      return; // an update overtaken by a newer one
    }
    this._snapshot = snapshot;
    this._state = 'connected';
    const keys = new Set(snapshot.paused.items.map(p => p.key));
    const focus = this._focus;
    if (focus && !snapshot.paused.items.some(p => p.workflow === focus.workflow && p.step === focus.step)) {
      this._focus = null; // the step's attempts all went on: show every paused attempt again
    }
    if (this._selectedKey !== null && !keys.has(this._selectedKey)) {
      this._selectedKey = null;
    }
    if (this._selectedKey === null) {
      this._selectedKey = this.visiblePaused()[0]?.key ?? null;
    }
    this._changed.emit();
  }

  /** The last error a request got back from the kernel, shown until the next action. */
  get error(): string | null {
    return this._error;
  }

  set error(value: string | null) {
    if (value !== this._error) {
      this._error = value;
      this._changed.emit();
    }
  }

  get breakpoints(): IBreakpoint[] {
    return this._snapshot?.breakpoints ?? [];
  }

  /** The breakpoints on one step of a workflow. */
  breakpointsOn(workflow: string, step: string): IBreakpoint[] {
    return this.breakpoints.filter(
      bp => bp.workflow === workflow && bp.step === step
    );
  }

  /**
   * Breakpoints switched off in the sidebar: deleted in the kernel, kept here with their
   * settings so that switching one on again sets it as it was.
   */
  get disabled(): IBreakpoint[] {
    return this._disabled;
  }

  /** Keep a breakpoint's settings once it is switched off (deleted in the kernel). */
  keepDisabled(bp: IBreakpoint): void {
    this._disabled = [...this._disabled.filter(d => !sameSettings(d, bp)), bp];
    this._changed.emit();
  }

  /** Forget a switched-off breakpoint (switched on again, or deleted for good). */
  forgetDisabled(bp: IBreakpoint): void {
    this._disabled = this._disabled.filter(d => !sameSettings(d, bp));
    this._changed.emit();
  }

  /** How many attempts are paused in all (the snapshot lists the first 200). */
  get pausedTotal(): number {
    return this._snapshot?.paused.total ?? 0;
  }

  // --- filters and selection ------------------------------------------------------------
  get loopFilter(): ILoopFilter | null {
    return this._loopFilter;
  }

  /** Show only the paused attempts whose loop param `name` reads `value`; null shows all. */
  setLoopFilter(filter: ILoopFilter | null): void {
    this._loopFilter = filter;
    this._reselect();
  }

  /** Parse `name=value` into a filter; blank text clears it. Null when it cannot be read. */
  static parseLoopFilter(text: string): ILoopFilter | null | undefined {
    const trimmed = text.trim();
    if (!trimmed) {
      return null;
    }
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)$/.exec(trimmed);
    if (!match) {
      return undefined;
    }
    return { name: match[1], value: match[2].trim() };
  }

  get focus(): { workflow: string; step: string } | null {
    return this._focus;
  }

  /** Show only one step's paused attempts (a click on a paused DAG node); null shows all. */
  setFocus(focus: { workflow: string; step: string } | null): void {
    this._focus = focus;
    this._reselect();
  }

  private _reselect(): void {
    const visible = this.visiblePaused();
    if (!visible.some(p => p.key === this._selectedKey)) {
      this._selectedKey = visible[0]?.key ?? null;
    }
    this._changed.emit();
  }

  /** The paused attempts the filters let through, in display order. */
  visiblePaused(): IPaused[] {
    const items = this._snapshot?.paused.items ?? [];
    return items.filter(p => this._passes(p));
  }

  private _passes(p: IPaused): boolean {
    if (
      this._focus &&
      (p.workflow !== this._focus.workflow || p.step !== this._focus.step)
    ) {
      return false;
    }
    const filter = this._loopFilter;
    if (filter) {
      const value = p.loop_params[filter.name];
      return value !== undefined && sameValue(value, filter.value);
    }
    return true;
  }

  /** The visible paused attempts grouped by workflow, then step, in display order. */
  pausedGroups(): IWorkflowGroup[] {
    const groups: IWorkflowGroup[] = [];
    for (const p of this.visiblePaused()) {
      let workflow = groups[groups.length - 1];
      if (!workflow || workflow.workflow !== p.workflow) {
        workflow = { workflow: p.workflow, steps: [] };
        groups.push(workflow);
      }
      let step = workflow.steps[workflow.steps.length - 1];
      if (!step || step.step !== p.step) {
        step = { workflow: p.workflow, step: p.step, items: [] };
        workflow.steps.push(step);
      }
      step.items.push(p);
    }
    return groups;
  }

  /** The names of the loop params of the paused attempts, for the filter's hint. */
  loopParamNames(): string[] {
    const names = new Set<string>();
    for (const p of this._snapshot?.paused.items ?? []) {
      Object.keys(p.loop_params).forEach(name => names.add(name));
    }
    return [...names].sort();
  }

  get selectedKey(): string | null {
    return this._selectedKey;
  }

  select(key: string | null): void {
    if (key !== this._selectedKey) {
      this._selectedKey = key;
      this._changed.emit();
    }
  }

  /** The selected paused attempt, or null. */
  get selected(): IPaused | null {
    const key = this._selectedKey;
    return this._snapshot?.paused.items.find(p => p.key === key) ?? null;
  }

  // --- the DAG ----------------------------------------------------------------------------
  /**
   * What a DAG view shows now: the live steps of its instance when the snapshot details it;
   * for a definition (`instance` null), the latest instance of its workflow once one ran.
   * Otherwise the payload's own steps, with the breakpoints marked as they are now.
   */
  dagState(dag: IDag): IDagState {
    const snapshot = this._snapshot;
    if (snapshot === null) {
      return { ...dag };
    }
    const detail = this._detailFor(snapshot, dag);
    if (detail !== undefined) {
      return {
        workflow: detail.workflow,
        version: detail.version,
        instance: detail.instance,
        steps: detail.steps
      };
    }
    const marks = new Map<string, number[]>();
    for (const bp of snapshot.breakpoints) {
      if (bp.workflow === dag.workflow && bp.step !== null) {
        marks.set(bp.step, [...(marks.get(bp.step) ?? []), bp.id]);
      }
    }
    const steps = dag.steps.map(s => ({
      ...s,
      breakpoints: marks.get(s.id) ?? []
    }));
    return { ...dag, steps };
  }

  private _detailFor(snapshot: ISnapshot, dag: IDag): IInstance | undefined {
    const mine = snapshot.details.filter(d => d.workflow === dag.workflow);
    if (dag.instance !== null) {
      return (
        mine.find(d => d.instance === dag.instance) ??
        this._ended.get(`${dag.workflow}#${dag.instance}`)
      );
    }
    // A definition shows its version's latest instance, once one ran.
    return mine.filter(d => d.version === dag.version).reduce<IInstance | undefined>(
      (latest, d) =>
        latest === undefined || d.instance > latest.instance ? d : latest,
      undefined
    );
  }

  /**
   * Whether a DAG view of this instance needs its state fetched (`instance` op): the
   * snapshot details only the latest and the paused instances, and an ended one no longer
   * changes, so it is fetched once.
   */
  needsInstance(dag: IDag): boolean {
    const snapshot = this._snapshot;
    if (snapshot === null || dag.instance === null) {
      return false;
    }
    const key = `${dag.workflow}#${dag.instance}`;
    return (
      !snapshot.details.some(d => d.workflow === dag.workflow && d.instance === dag.instance) &&
      !this._ended.has(key) &&
      snapshot.instances.some(i => i.workflow === dag.workflow && i.instance === dag.instance)
    );
  }

  /** Keep an ended instance's state (the `instance` op's result) for its DAG views. */
  keepInstance(view: IInstance): void {
    this._ended.set(`${view.workflow}#${view.instance}`, view);
    this._changed.emit();
  }

  /** The first paused attempt of a step in a DAG view's instance (or any instance). */
  firstPausedOf(workflow: string, step: string): IPaused | null {
    return (
      this._snapshot?.paused.items.find(
        p => p.workflow === workflow && p.step === step
      ) ?? null
    );
  }

  private _state: ConnectionState = 'no-kernel';
  private _snapshot: ISnapshot | null = null;
  private _selectedKey: string | null = null;
  private _loopFilter: ILoopFilter | null = null;
  private _focus: { workflow: string; step: string } | null = null;
  private _error: string | null = null;
  private _disabled: IBreakpoint[] = [];
  private _ended = new Map<string, IInstance>();
  private _changed = new Signal<this, void>(this);
}

/** Whether two breakpoints have the same target, pause point and condition. */
export function sameSettings(a: IBreakpoint, b: IBreakpoint): boolean {
  return (
    a.workflow === b.workflow &&
    a.step === b.step &&
    a.pause_point === b.pause_point &&
    a.when === b.when
  );
}

/** A breakpoint's target as the magics write it: `WF.STEP`, or `WF` for every step. */
export function targetOf(bp: { workflow: string; step: string | null }): string {
  return bp.step === null ? bp.workflow : `${bp.workflow}.${bp.step}`;
}

/** Whether a shown value matches a filter's text: its text, or the same JSON value. */
export function sameValue(value: IValue, text: string): boolean {
  if (value.text === text) {
    return true;
  }
  if (!value.editable) {
    return false;
  }
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(value.value);
  } catch {
    return value.value === text;
  }
}

/**
 * Read what the user typed into a param's field as a value of the param's kind; the kernel
 * checks it again. Returns `{ value }`, or `{ error }` in one line.
 */
export function parseEdit(
  kind: string,
  text: string
): { value: unknown } | { error: string } {
  const trimmed = text.trim();
  switch (kind) {
    case 'str':
      return { value: text };
    case 'int':
      if (/^[-+]?\d+$/.test(trimmed)) {
        return { value: Number(trimmed) };
      }
      return { error: `${JSON.stringify(text)} is not an integer` };
    case 'float': {
      const n = Number(trimmed);
      if (trimmed !== '' && Number.isFinite(n)) {
        return { value: n };
      }
      return { error: `${JSON.stringify(text)} is not a number` };
    }
    case 'bool':
      if (trimmed === 'true' || trimmed === 'True') {
        return { value: true };
      }
      if (trimmed === 'false' || trimmed === 'False') {
        return { value: false };
      }
      return { error: `${JSON.stringify(text)} is not true or false` };
    default:
      try {
        return { value: JSON.parse(trimmed) };
      } catch {
        return { error: `${JSON.stringify(text)} is not JSON` };
      }
  }
}

/** The text a value's field starts with when it is edited. */
export function editText(value: IValue): string {
  if (value.kind === 'str') {
    return String(value.value ?? '');
  }
  if (value.kind === 'bool') {
    return value.value ? 'true' : 'false';
  }
  return JSON.stringify(value.value);
}
