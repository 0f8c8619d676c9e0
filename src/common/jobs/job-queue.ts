import type { BackendName } from '../../../libs/core/src/types';
import type { JobName, JobOf } from './job.types';

/** The queue port. Drivers: embedded (in-process, default) and BullMQ (Redis, several processes). */
export abstract class JobQueue {
  abstract readonly driver: 'embedded' | 'bullmq';
  /** Durably accepts a job; rejects when the queue is down (the caller answers 503). */
  abstract enqueue<N extends JobName>(job: JobOf<N>): Promise<void>;
  /** Removes a job that has not started yet; true when it was removed. */
  abstract remove(name: JobName, operationId: string, backends: BackendName[]): Promise<boolean>;
  /** Asks whichever process runs the operation to abort it. */
  abstract signalCancel(operationId: string): Promise<void>;
  /** Jobs waiting per queue. */
  abstract depth(): Promise<Record<string, number>>;
  /** Resolves when the queue's backing service answers; rejects (QUEUE_UNAVAILABLE) when it does not. */
  ping(): Promise<void> {
    return Promise.resolve();
  }
}
