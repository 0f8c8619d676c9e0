import { EventEmitter } from 'node:events';
import type { OperationRecord } from './operation.types';

/**
 * In-process notifications about operations: `changed(id)` on every update (the gateway reads the
 * new status), `finished(op)` once per run that ends in this process (metrics, logs).
 */
export class OperationEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  changed(id: string): void {
    this.emitter.emit(id, id);
    this.emitter.emit('*', id);
  }

  subscribe(id: string, listener: (id: string) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }

  /** A job this process ran reached a terminal state; `durationS` is its running time. */
  finished(op: OperationRecord, durationS: number): void {
    this.emitter.emit('finished', op, durationS);
  }

  onFinished(listener: (op: OperationRecord, durationS: number) => void): () => void {
    this.emitter.on('finished', listener);
    return () => this.emitter.off('finished', listener);
  }
}
