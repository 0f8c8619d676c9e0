/** Ids, lifecycle, status, results, cancel and list: written once for all suites. */
import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { CoreError, ErrorCode, errorMessage } from '../../../libs/core/src/errors';
import type { BackendName } from '../../../libs/core/src/types';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { interruptedError, JobExecutor } from '../jobs/job-executor';
import { JobQueue, ReleaseRoom } from '../jobs/job-queue';
import { JOB_QUEUE, jobOfKind, JobName, queueFor, RETRY_AFTER_CRASH } from '../jobs/job.types';
import { InvalidCursorError, ListPage, OperationsRepository } from '../store/operations.repository';
import { OperationEvents } from './operation-events';
import { isTerminal, OperationKind, OperationRecord, OperationStatus } from './operation.types';

export interface ListQuery {
  status?: OperationStatus;
  model?: string;
  since?: string;
  backend?: string;
  tag?: string;
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
   * A full queue refuses it (429, QUEUE_FULL) before anything is stored.
   */
  async start(job: JobName, modelName: string, request: Record<string, unknown>): Promise<OperationRecord> {
    return (await this.startMany(job, [{ modelName, request }]))[0]!;
  }

  /**
   * `start` for several operations of one job at once (POST /api/generator/batch): room for all of
   * them is held in their queues first, so a batch is accepted whole or refused with nothing stored.
   */
  async startMany(
    job: JobName,
    items: readonly { modelName: string; request: Record<string, unknown> }[],
  ): Promise<OperationRecord[]> {
    const releases = await this.reserveRoom(job, items);
    const enqueued = new Map<ReleaseRoom, number>();
    try {
      const ops = items.map(({ modelName, request }) => newRecord(job, modelName, request));
      const stored = await Promise.allSettled(ops.map((op) => this.repo.insert(op)));
      const failed = stored.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        const err: unknown = failed.reason;
        // STORE_UNAVAILABLE from the store's driver, or any other failure as one.
        const refusal =
          err instanceof CoreError
            ? err
            : new CoreError(ErrorCode.STORE_UNAVAILABLE, `the store is unavailable: ${errorMessage(err)}`);
        // A batch is all or nothing: the items that were stored end failed, and are not run.
        await Promise.all(
          ops
            .filter((_, i) => stored[i]!.status === 'fulfilled')
            .map((op) =>
              this.fail(op.id, ErrorCode.STORE_UNAVAILABLE, refusal.message).catch(() => undefined),
            ),
        );
        throw refusal;
      }
      const queuedAt = await Promise.allSettled(
        ops.map(async (op) => {
          const backends = backendsOf(op.request);
          await this.queue.enqueue({ name: job, data: { operationId: op.id, backends } });
          const release = releases.get(queueFor(job, backends))!;
          enqueued.set(release, (enqueued.get(release) ?? 0) + 1);
        }),
      );
      const lost = ops
        .map((op, i) => ({ op, result: queuedAt[i]! }))
        .filter(
          (x): x is { op: OperationRecord; result: PromiseRejectedResult } => x.result.status === 'rejected',
        );
      if (lost.length) {
        const refusals = await Promise.all(
          lost.map(({ op, result }) => this.enqueueFailed(op, result.reason)),
        );
        throw refusals[0]!;
      }
      return ops;
    } finally {
      for (const release of releases.values()) release(enqueued.get(release) ?? 0);
    }
  }

  /** Room in every queue the items go to (benchmarks: one per backend set), or QUEUE_FULL. */
  private async reserveRoom(
    job: JobName,
    items: readonly { request: Record<string, unknown> }[],
  ): Promise<Map<string, ReleaseRoom>> {
    const groups = new Map<string, { backends: BackendName[]; count: number }>();
    for (const { request } of items) {
      const backends = backendsOf(request);
      const key = queueFor(job, backends);
      const g = groups.get(key) ?? { backends, count: 0 };
      g.count++;
      groups.set(key, g);
    }
    const releases = new Map<string, ReleaseRoom>();
    try {
      for (const [key, g] of groups) releases.set(key, await this.queue.reserve(job, g.backends, g.count));
    } catch (err) {
      for (const release of releases.values()) release(0);
      throw err;
    }
    return releases;
  }

  private fail(id: string, code: ErrorCode, message: string): Promise<OperationRecord | undefined> {
    return this.repo.update(id, ['queued'], {
      status: 'failed',
      finished_at: new Date().toISOString(),
      error: { code, message },
    });
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
   * With the embedded driver, jobs live in memory only, so at start-up the store says what an
   * earlier process left unfinished (of this process's own suites: sibling processes with
   * `serve --components` may share the store), oldest first:
   * - `queued` ones go back on the queue in their order, through the normal lanes;
   * - `running` ones died with that process: they are queued again when their suite may be re-run
   *   and they have started fewer than JOB_MAX_ATTEMPTS times, else they end failed INTERRUPTED.
   * Taking a running one back is a compare-and-set on its status and attempt, and starting any
   * job is another (JobExecutor), so two processes sharing a store never both run one attempt.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.queue.driver !== 'embedded') return;
    const left = await this.repo.findUnfinished(this.config.components);
    const resume: OperationRecord[] = [];
    let interrupted = 0;
    for (const op of left) {
      if (op.status === 'queued') {
        resume.push(op);
        continue;
      }
      const job = jobOfKind(op.kind);
      if (this.executor.mayStartAgain(job, op.attempts)) {
        const back = await this.repo.update(
          op.id,
          ['running'],
          {
            status: 'queued',
            progress: 0,
            current_step: `queued again after a restart (attempt ${op.attempts + 1} of at most ${this.config.queue.maxAttempts})`,
            started_at: null,
            deadline_at: null,
          },
          { attempts: op.attempts },
        );
        if (back) resume.push(back);
        continue;
      }
      const done = await this.repo.update(
        op.id,
        ['running'],
        {
          status: 'failed',
          finished_at: new Date().toISOString(),
          current_step: 'interrupted',
          error: interruptedError(op, this.config.queue.maxAttempts, RETRY_AFTER_CRASH[job]),
        },
        { attempts: op.attempts },
      );
      if (done) interrupted++;
    }
    for (const op of resume) {
      await this.queue.enqueue({
        name: jobOfKind(op.kind),
        data: { operationId: op.id, backends: backendsOf(op.request) },
      });
    }
    if (resume.length || interrupted)
      this.logger.warn(
        `left unfinished by an earlier process: ${resume.length} operation(s) queued again, ${interrupted} failed INTERRUPTED`,
      );
  }
}

function newRecord(job: JobName, modelName: string, request: Record<string, unknown>): OperationRecord {
  const now = new Date().toISOString();
  return {
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
}
