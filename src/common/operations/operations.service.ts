/** Ids, lifecycle, status, results, cancel and list: written once for all suites. */
import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { CoreError, ErrorCode, errorMessage } from '../../../libs/core/src/errors';
import type { BackendName } from '../../../libs/core/src/types';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JobExecutor } from '../jobs/job-executor';
import { JobQueue } from '../jobs/job-queue';
import { JOB_QUEUE, JobName } from '../jobs/job.types';
import { InvalidCursorError, ListPage, OperationsRepository } from '../store/operations.repository';
import { OperationEvents } from './operation-events';
import { isTerminal, OperationKind, OperationRecord, OperationStatus } from './operation.types';

export interface ListQuery {
  status?: OperationStatus;
  model?: string;
  since?: string;
  limit?: number;
  cursor?: string;
}

function backendsOf(request: Record<string, unknown>): BackendName[] {
  return Array.isArray(request.hardware) ? (request.hardware as BackendName[]) : ['cpu'];
}

/**
 * Random bytes for ids, drawn from the OS 4 KiB at a time (uuid's default asks for 16 bytes per id,
 * one native call each; Node's own randomUUID pools the same way).
 */
const randomPool = new Uint8Array(4096);
let randomAt = randomPool.length;
function pooledRandom16(): Uint8Array {
  if (randomAt + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  return randomPool.subarray(randomAt, (randomAt += 16));
}

/** The last id's time and counter: ids made in the same millisecond still sort in order. */
const idState = { msecs: -Infinity, seq: 0 };

/**
 * A new operation id: a UUID, time-ordered (RFC 9562 version 7), monotonic within the process.
 * uuid keeps its monotonic counter only when called without options, so with our rng it is kept
 * here (as uuid does: a random 31-bit start each millisecond, then +1; RFC 9562 method 1).
 */
export function newOperationId(): string {
  const random = pooledRandom16();
  const now = Date.now();
  if (now > idState.msecs) {
    idState.msecs = now;
    idState.seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    idState.seq = (idState.seq + 1) | 0;
    if (idState.seq === 0) idState.msecs++;
  }
  return uuidv7({ random, msecs: idState.msecs, seq: idState.seq });
}

@Injectable()
export class OperationsService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Operations');

  constructor(
    private readonly repo: OperationsRepository,
    private readonly queue: JobQueue,
    private readonly executor: JobExecutor,
    @Inject(OperationEvents) private readonly events: OperationEvents,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Stores the operation as `queued`, then hands its job to the queue. The operation is durable
   * before this resolves, so the 202 that follows never announces something that could vanish.
   */
  async start(job: JobName, modelName: string, request: Record<string, unknown>): Promise<OperationRecord> {
    const now = new Date().toISOString();
    const op: OperationRecord = {
      // Time-ordered (RFC 9562 v7): new rows append to the primary-key index instead of landing on a
      // random page of it, which halves the cost of an insert under load; still a UUID to clients.
      id: newOperationId(),
      kind: JOB_QUEUE[job],
      status: 'queued',
      model_name: modelName,
      request,
      progress: 0,
      current_step: 'queued',
      result: null,
      error: null,
      attempts: 0,
      created_at: now,
      started_at: null,
      finished_at: null,
      updated_at: now,
      deadline_at: null,
    };
    try {
      await this.repo.insert(op);
    } catch (err) {
      if (err instanceof CoreError) throw err; // STORE_UNAVAILABLE from the store's driver
      throw new CoreError(ErrorCode.STORE_UNAVAILABLE, `the store is unavailable: ${errorMessage(err)}`);
    }
    try {
      await this.queue.enqueue({ name: job, data: { operationId: op.id, backends: backendsOf(request) } });
    } catch (err) {
      throw await this.enqueueFailed(op, err);
    }
    return op;
  }

  /**
   * The queue refused (or did not answer) after the operation was stored: it is marked failed
   * QUEUE_UNAVAILABLE, so it is neither lost nor left queued, and the client's 503 names it. If the
   * store cannot take that update either (both down), the row stays queued and the reconciler
   * (BullMQ) puts its job on the queue once Redis is back; a job that did reach Redis meanwhile
   * finds its operation failed and does nothing.
   */
  private async enqueueFailed(op: OperationRecord, err: unknown): Promise<CoreError> {
    const reason =
      err instanceof CoreError ? err.message : `the job queue is unavailable: ${errorMessage(err)}`;
    let status: OperationStatus = 'queued';
    try {
      const failed = await this.repo.update(op.id, ['queued'], {
        status: 'failed',
        finished_at: new Date().toISOString(),
        current_step: 'failed',
        error: { code: ErrorCode.QUEUE_UNAVAILABLE, message: reason },
      });
      if (failed) {
        status = failed.status;
        this.events.changed(op.id);
      }
    } catch (updateErr) {
      this.logger.warn(
        `operation ${op.id}: could not record the enqueue failure: ${errorMessage(updateErr)}`,
      );
    }
    return new CoreError(ErrorCode.QUEUE_UNAVAILABLE, reason, { id: op.id, status });
  }

  async get(kind: OperationKind, id: string): Promise<OperationRecord> {
    const op = await this.repo.get(id);
    if (!op || op.kind !== kind)
      throw new CoreError(ErrorCode.NOT_FOUND, `no ${kind} operation with id ${id}`);
    return op;
  }

  /** The stored result; NOT_FINISHED (409) while it is not done. */
  async result(kind: OperationKind, id: string): Promise<{ op: OperationRecord; result: unknown }> {
    const op = await this.get(kind, id);
    if (op.status === 'completed') return { op, result: op.result };
    if (isTerminal(op.status)) {
      throw new CoreError(ErrorCode.UNPROCESSABLE, `${kind} operation ${id} ended ${op.status}: no results`, {
        status: op.status,
        error: op.error,
      });
    }
    throw new CoreError(
      ErrorCode.NOT_FINISHED,
      `${kind} operation ${id} is ${op.status}; results are not ready`,
      {
        status: op.status,
        progress: op.progress,
      },
    );
  }

  async list(kind: OperationKind, query: ListQuery): Promise<ListPage> {
    try {
      return await this.repo.list({ kind, ...query, limit: query.limit ?? 50 });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new CoreError(ErrorCode.VALIDATION, err.message);
      throw err;
    }
  }

  /**
   * Cancels a queued or running operation. Returns the operation afterwards; an operation already
   * finished is returned unchanged (cancelled: false).
   */
  async cancel(kind: OperationKind, id: string): Promise<{ cancelled: boolean; op: OperationRecord }> {
    const op = await this.get(kind, id);
    if (isTerminal(op.status)) return { cancelled: false, op };
    const job = (Object.keys(JOB_QUEUE) as JobName[]).find((n) => JOB_QUEUE[n] === kind)!;
    if (op.status === 'queued' && (await this.queue.remove(job, id, backendsOf(op.request)))) {
      const done = await this.repo.update(id, ['queued'], {
        status: 'cancelled',
        finished_at: new Date().toISOString(),
        current_step: 'cancelled',
        error: { code: ErrorCode.CANCELLED, message: 'cancelled before it started' },
      });
      if (done) {
        this.events.changed(id);
        return { cancelled: true, op: done };
      }
    }
    if (!this.executor.abortLocal(id)) await this.queue.signalCancel(id);
    const after = await this.waitForTerminal(id, 2000);
    return { cancelled: true, op: after };
  }

  private async waitForTerminal(id: string, ms: number): Promise<OperationRecord> {
    const deadline = Date.now() + ms;
    for (;;) {
      const op = (await this.repo.get(id, true))!;
      if (isTerminal(op.status) || Date.now() > deadline) return op;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * With the embedded driver, nothing outlives the process: operations an earlier process left
   * queued or running are marked failed (INTERRUPTED) so none vanishes silently.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.queue.driver !== 'embedded') return;
    // Only this process's own suites: sibling processes (serve --components) may share the store.
    const left = await this.repo.findUnfinished(this.config.components);
    for (const op of left) {
      await this.repo.update(op.id, ['queued', 'running'], {
        status: 'failed',
        finished_at: new Date().toISOString(),
        current_step: 'interrupted',
        error: {
          code: ErrorCode.INTERRUPTED,
          message: `the server stopped while this operation was ${op.status}; start it again`,
        },
      });
    }
    if (left.length)
      this.logger.warn(`${left.length} operation(s) interrupted by an earlier shutdown marked failed`);
  }
}
