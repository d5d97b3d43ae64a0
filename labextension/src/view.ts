/**
 * What the sidebar's sections share: each draws from one kernel connection's model, redraws
 * (at most once a frame) when it changes, and switches model when the sidebar follows another
 * notebook's kernel.
 */

import { Widget } from '@lumino/widgets';

import type { KernelConnection } from './connection';
import type { WorkflowModel } from './model';

export abstract class ModelView extends Widget {
  get connection(): KernelConnection | null {
    return this._connection;
  }

  set connection(value: KernelConnection | null) {
    if (value === this._connection) {
      return;
    }
    this._connection?.model.changed.disconnect(this._schedule, this);
    this._connection = value;
    value?.model.changed.connect(this._schedule, this);
    this.render();
  }

  get model(): WorkflowModel | null {
    return this._connection?.model ?? null;
  }

  /** Draw the section from the model (null: no notebook with an engine). */
  protected abstract render(): void;

  private _schedule(): void {
    if (this._frame === 0 && !this.isDisposed) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this.render();
      });
    }
  }

  dispose(): void {
    if (this._frame !== 0) {
      cancelAnimationFrame(this._frame);
    }
    this._connection?.model.changed.disconnect(this._schedule, this);
    super.dispose();
  }

  private _connection: KernelConnection | null = null;
  private _frame = 0;
}

/** A DOM element with a class and, optionally, its text. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) {
    element.textContent = text;
  }
  return element;
}
