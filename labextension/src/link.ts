/**
 * A notebook's link to its kernel's engine: follows the notebook's kernel as it starts,
 * restarts or changes, and re-emits its model's changes, so a view in the notebook (a gutter,
 * a DAG view) draws from whichever kernel the notebook has now.
 */

import type { NotebookPanel } from '@jupyterlab/notebook';
import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { Connections, KernelConnection } from './connection';

export class NotebookLink implements IDisposable {
  constructor(panel: NotebookPanel, connections: Connections) {
    this.panel = panel;
    this._connections = connections;
    panel.sessionContext.kernelChanged.connect(this._follow, this);
    void panel.sessionContext.ready.then(() => this._follow());
    this._follow();
  }

  readonly panel: NotebookPanel;

  /** The connection to the notebook's kernel now, or null without a kernel. */
  get connection(): KernelConnection | null {
    return this._connection;
  }

  /** Emitted when the kernel changed or its model did. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  private _follow(): void {
    if (this._disposed) {
      return;
    }
    const kernel = this.panel.sessionContext.session?.kernel ?? null;
    const next = kernel !== null ? this._connections.get(kernel) : null;
    if (next === this._connection) {
      return;
    }
    this._connection?.model.changed.disconnect(this._emit, this);
    this._connection = next;
    next?.model.changed.connect(this._emit, this);
    this._changed.emit();
  }

  private _emit(): void {
    this._changed.emit();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._connection?.model.changed.disconnect(this._emit, this);
    this.panel.sessionContext.kernelChanged.disconnect(this._follow, this);
    Signal.clearData(this);
  }

  private _connection: KernelConnection | null = null;
  private _connections: Connections;
  private _changed = new Signal<this, void>(this);
  private _disposed = false;
}
