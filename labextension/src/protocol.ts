/**
 * The `maestro_nb` comm protocol, version 1 (docs/protocol.md): what the kernel sends and
 * what the frontend asks. Objects may gain fields within protocol 1 (a `gate` flag on
 * breakpoints and paused attempts, for one); the frontend ignores fields it does not know.
 */

export const PROTOCOL = 1;
export const COMM_TARGET = 'maestro_nb';
export const DAG_MIME = 'application/vnd.maestro-nb.dag+json';

/** How a value is shown and edited. */
export interface IValue {
  kind: string;
  text: string;
  editable: boolean;
  value?: unknown;
}

export interface IStep {
  id: string;
  label: string;
  kind: string;
  parent: string | null;
  depth: number;
  after: string[];
  iterations: boolean;
  status: string;
  counts: Record<string, number>;
  total: number | null;
  error: string | null;
  breakpoints: number[];
}

export interface IWorkflow {
  name: string;
  version: number;
  description: string;
  steps: IStep[];
}

export interface IInstanceLine {
  workflow: string;
  instance: number;
  version: number;
  run: number;
  status: string;
  word: string;
  paused: number;
}

export interface IInstance extends IInstanceLine {
  steps: IStep[];
}

export interface IBreakpoint {
  id: number;
  name: string | null;
  workflow: string;
  step: string | null;
  pause_point: 'before' | 'after' | 'error';
  when: string | null;
  scope: string;
  version: number | null;
  instance: number | null;
  run: number | null;
  iteration: string | null;
  paused: number;
}

export interface IPaused {
  key: string;
  label: string;
  workflow: string;
  instance: number;
  run: number;
  step: string;
  iteration: string;
  attempt: number;
  pause_point: 'before' | 'after' | 'error';
  loop_params: Record<string, IValue>;
  params: Record<string, IValue>;
  output: IValue | null;
  error: string | null;
  held_by: string[];
  error_type: string | null;
  error_message: string | null;
  traceback: string | null;
}

export interface IPausedPage {
  items: IPaused[];
  total: number;
}

export interface ISnapshot {
  revision: number;
  state_file: string | null;
  workflows: IWorkflow[];
  instances: IInstanceLine[];
  details: IInstance[];
  breakpoints: IBreakpoint[];
  paused: IPausedPage;
}

/** The DAG view's payload: a definition (`instance` null) or an instance's steps. */
export interface IDag {
  protocol: number;
  workflow: string;
  version: number;
  instance: number | null;
  steps: IStep[];
}

export interface IReply {
  protocol: number;
  type: 'reply';
  id: string | null;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface IUpdate {
  protocol: number;
  type: 'update';
  snapshot: ISnapshot;
}

export type KernelMessage = IReply | IUpdate;

/** The ops a frontend sends, with their arguments. */
export interface IOps {
  hello: Record<string, never>;
  snapshot: Record<string, never>;
  instance: { workflow: string; instance?: number };
  set_breakpoint: { target: string; pause?: 'before' | 'after' | 'error'; when?: string };
  delete_breakpoint: { id: number; keep_paused?: boolean };
  toggle_breakpoint: { target: string };
  resume: { keys: string[] };
  step: { keys: string[] };
  skip: { keys: string[]; output?: unknown };
  stop: { keys: string[] };
  retry: { keys: string[] };
  set_param: { key: string; name: string; value: unknown };
  set_output: { key: string; value: unknown };
}

export type Op = keyof IOps;

/** The actions on paused attempts the toolbar offers. */
export type AttemptAction = 'resume' | 'step' | 'skip' | 'stop' | 'retry';

export function isKernelMessage(data: unknown): data is KernelMessage {
  if (typeof data !== 'object' || data === null) {
    return false;
  }
  const message = data as Record<string, unknown>;
  return (
    message.protocol === PROTOCOL &&
    (message.type === 'reply' || message.type === 'update')
  );
}
