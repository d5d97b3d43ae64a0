/**
 * One kernel's end of the `maestro_nb` comm: opens it, says hello, turns replies into
 * resolved requests and updates into the model's snapshot. When the kernel has no engine yet
 * (the comm target is not registered, so the kernel closes the comm), it says so in the model
 * and opens the comm again each time the kernel goes idle after running code.
 */

import type { Kernel, KernelMessage } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';

import { WorkflowModel } from './model';
import {
  COMM_TARGET,
  IOps,
  ISnapshot,
  isKernelMessage,
  Op,
  PROTOCOL
} from './protocol';

interface IPending {
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

export class KernelConnection implements IDisposable {
  constructor(kernel: Kernel.IKernelConnection) {
    this.kernel = kernel;
    this.model = new WorkflowModel();
    kernel.statusChanged.connect(this._onStatus, this);
    kernel.iopubMessage.connect(this._onIOPub, this);
    kernel.connectionStatusChanged.connect(this._onConnection, this);
    this._open();
  }

  readonly kernel: Kernel.IKernelConnection;
  readonly model: WorkflowModel;

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Send a request; resolves with its result, rejects with the kernel's one-line error. */
  request<K extends Op>(op: K, args?: IOps[K]): Promise<unknown> {
    const comm = this._comm;
    if (comm === null || comm.isDisposed || this.model.state !== 'connected') {
      const why =
        this.model.state === 'no-engine'
          ? 'this kernel has no engine: run %load_ext maestro_nb'
          : 'not connected to the kernel';
      this.model.error = why;
      return Promise.reject(new Error(why));
    }
    const id = `r${++this._counter}`;
    const message: Record<string, unknown> = { protocol: PROTOCOL, id, op };
    if (args !== undefined) {
      message.args = args;
    }
    return new Promise<unknown>((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      comm.send(message as never);
    }).then(
      result => {
        this.model.error = null;
        return result;
      },
      (error: Error) => {
        this.model.error = error.message;
        throw error;
      }
    );
  }

  private _open(): void {
    if (this._disposed || this._opening) {
      return;
    }
    if (this.kernel.connectionStatus !== 'connected') {
      this.model.state = 'no-kernel';
      return;
    }
    this._opening = true;
    if (this.model.state !== 'no-engine') {
      this.model.state = 'connecting';
    }
    const comm = this.kernel.createComm(COMM_TARGET);
    this._comm = comm;
    comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => {
      this._onMessage(msg.content.data);
    };
    comm.onClose = () => {
      // The kernel closes a comm whose target it does not know: no engine yet.
      this._opening = false;
      if (this._comm === comm) {
        this._comm = null;
      }
      this._failPending('the kernel closed the connection');
      if (!this._disposed && this.kernel.connectionStatus === 'connected') {
        this.model.state = 'no-engine';
      }
    };
    comm.open({});
    const hello = { protocol: PROTOCOL, id: 'hello', op: 'hello' };
    this._pending.set('hello', {
      resolve: result => {
        this._opening = false;
        this.model.applySnapshot(result as ISnapshot);
      },
      reject: () => {
        this._opening = false;
      }
    });
    comm.send(hello);
  }

  private _onMessage(data: unknown): void {
    if (!isKernelMessage(data)) {
      return; // a later protocol, or not ours: nothing to draw from it
    }
    if (data.type === 'update') {
      this.model.applySnapshot(data.snapshot);
      return;
    }
    const pending = data.id !== null ? this._pending.get(data.id) : undefined;
    if (pending === undefined) {
      if (!data.ok && data.error) {
        this.model.error = data.error;
      }
      return;
    }
    this._pending.delete(data.id as string);
    if (data.ok) {
      pending.resolve(data.result);
    } else {
      pending.reject(new Error(data.error ?? 'the kernel refused the request'));
    }
  }

  private _failPending(why: string): void {
    const pending = [...this._pending.values()];
    this._pending.clear();
    pending.forEach(p => p.reject(new Error(why)));
  }

  private _onIOPub(_: Kernel.IKernelConnection, msg: KernelMessage.IIOPubMessage): void {
    // After a cell ran (`%load_ext maestro_nb`, perhaps), try again to reach the engine. Only
    // after code ran: the comm's own open makes the kernel busy and idle too.
    if (
      msg.header.msg_type === 'status' &&
      (msg.content as KernelMessage.IStatusMsg['content']).execution_state === 'idle' &&
      msg.parent_header &&
      (msg.parent_header as KernelMessage.IHeader).msg_type === 'execute_request' &&
      this._comm === null &&
      this.model.state !== 'connected'
    ) {
      this._open();
    }
  }

  private _onStatus(_: Kernel.IKernelConnection, status: KernelMessage.Status): void {
    if (status === 'idle' && this._restarted) {
      this._restarted = false;
      this._open(); // a restarted kernel: its engine is gone until %load_ext runs again
    }
    if (status === 'restarting' || status === 'dead' || status === 'autorestarting') {
      this._restarted = true;
      this._comm = null;
      this._opening = false;
      this._failPending('the kernel restarted');
      this.model.state = 'no-kernel';
    }
  }

  private _onConnection(
    _: Kernel.IKernelConnection,
    status: Kernel.ConnectionStatus
  ): void {
    if (status === 'connected' && this._comm === null) {
      this._open();
    } else if (status !== 'connected') {
      this.model.state = 'no-kernel';
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.kernel.statusChanged.disconnect(this._onStatus, this);
    this.kernel.iopubMessage.disconnect(this._onIOPub, this);
    this.kernel.connectionStatusChanged.disconnect(this._onConnection, this);
    this._failPending('closed');
    const comm = this._comm;
    this._comm = null;
    if (comm !== null && !comm.isDisposed && !this.kernel.isDisposed) {
      try {
        comm.close();
      } catch {
        // the kernel went away first: nothing left to close
      }
    }
    this.model.state = 'no-kernel';
  }

  private _comm: Kernel.IComm | null = null;
  private _opening = false;
  private _restarted = false;
  private _disposed = false;
  private _counter = 0;
  private _pending = new Map<string, IPending>();
}

/** One connection per kernel, shared by the sidebar, the gutters and the DAG views. */
export class Connections implements IDisposable {
  /** The connection to a kernel, made on first use. */
  get(kernel: Kernel.IKernelConnection): KernelConnection {
    let found = this._byKernel.get(kernel.id);
    if (found === undefined || found.kernel !== kernel || found.isDisposed) {
      found?.dispose();
      found = new KernelConnection(kernel);
      this._byKernel.set(kernel.id, found);
      kernel.disposed.connect(() => {
        const current = this._byKernel.get(kernel.id);
        if (current?.kernel === kernel) {
          current.dispose();
          this._byKernel.delete(kernel.id);
        }
      });
    }
    return found;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    this._byKernel.forEach(c => c.dispose());
    this._byKernel.clear();
  }

  private _byKernel = new Map<string, KernelConnection>();
  private _disposed = false;
}
