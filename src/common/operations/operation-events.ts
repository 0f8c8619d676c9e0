import { EventEmitter } from 'node:events';

/** In-process notifications that an operation changed; the gateway reads the new status. */
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
}
