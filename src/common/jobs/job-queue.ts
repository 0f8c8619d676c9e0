import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import type { BackendName } from '../../../libs/core/src/types';
import type { JobName, JobOf } from './job.types';

/** Gives back room held by `reserve`, saying how many of the jobs were enqueued meanwhile. */
export type ReleaseRoom = (enqueued: number) => void;

/** The queue port. Drivers: embedded (in-process, default) and BullMQ (Redis, several processes). */
export abstract class JobQueue {
  abstract readonly driver: 'embedded' | 'bullmq';
  /** Durably accepts a job; rejects when the queue is down (the caller answers 503). */
  abstract enqueue<N extends JobName>(job: JobOf<N>): Promise<void>;
  /**
   * Holds room for `count` jobs of `name` in their queue before anything is stored: throws
   * QUEUE_FULL (429, with `retry_after_s`) when the queue would then hold more than QUEUE_MAX_DEPTH
   * waiting jobs. The caller releases the room once the jobs are enqueued (or given up).
   */
  abstract reserve(name: JobName, backends: BackendName[], count: number): Promise<ReleaseRoom>;
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

/**
 * The admission rule both drivers share: `count` more jobs fit while waiting + count stays within
 * `max`. A request larger than the whole queue can never fit (UNPROCESSABLE, not worth retrying);
 * otherwise QUEUE_FULL with an estimate of when there will be room: the excess over the drain rate
 * (jobs leaving the queue per second), 1 to 60 s.
 */
export function admit(
  queue: string,
  waiting: number,
  count: number,
  max: number,
  drainPerS: number | undefined,
): void {
  if (count > max) {
    throw new CoreError(
      ErrorCode.UNPROCESSABLE,
      `${count} jobs at once is more than the ${queue} queue may hold (QUEUE_MAX_DEPTH ${max})`,
      { queue, count, max_depth: max },
    );
  }
  if (waiting + count <= max) return;
  const excess = waiting + count - max;
  const estimate = drainPerS && drainPerS > 0 ? excess / drainPerS : 5;
  const retryAfterS = Math.min(60, Math.max(1, Math.ceil(estimate)));
  throw new CoreError(
    ErrorCode.QUEUE_FULL,
    `the ${queue} queue is full (${waiting} waiting, QUEUE_MAX_DEPTH ${max}); retry in about ${retryAfterS} s`,
    { queue, waiting, max_depth: max, retry_after_s: retryAfterS },
  );
}
