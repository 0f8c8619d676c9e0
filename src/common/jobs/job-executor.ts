/**
 * Runs one job through the shared lifecycle: queued → running → completed | failed | cancelled |
 * timeout. Both queue drivers call this; suites only supply a JobHandler.
 */
import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { CoreError, ErrorCode, errorMessage } from '../../../libs/core/src/errors';
import type { ProgressReport } from '../../../libs/core/src/types';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { OperationEvents } from '../operations/operation-events';
import { OperationError, OperationRecord, OperationStatus } from '../operations/operation.types';
import { OperationsRepository } from '../store/operations.repository';
import { DeviceLocks } from './device-locks';
import { JobRegistry } from './job-registry';
import { JOB_QUEUE, JobName, JobOf, RETRY_AFTER_CRASH } from './job.types';
import { OperationLogContext, operationLog } from '../logging/operation-context';

export interface ExecuteHooks {
  /** Aborts the run from the driver (e.g. a worker shutting down). */
  signal?: AbortSignal;
  /** Extra progress sink (BullMQ: job.updateProgress). */
  onProgress?: (report: ProgressReport) => void;
}

const PROGRESS_WRITE_INTERVAL_MS = 200;

@Injectable()
export class JobExecutor implements BeforeApplicationShutdown {
  private readonly logger = new Logger('JobExecutor');
  private readonly running = new Map<string, AbortController>();
  private readonly locks = new DeviceLocks();
  /** Set once the application is shutting down gracefully (before any driver or pool stops). */
  private stopping = false;

  constructor(
    private readonly repo: OperationsRepository,
    private readonly registry: JobRegistry,
    @Inject(OperationEvents) private readonly events: OperationEvents,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Every operation has a deadline: its request's `timeout`, never above MAX_OPERATION_S, which is
   * also the deadline of a stored request that has none (rows from before every request got one).
   */
  private deadlineS(op: OperationRecord): number {
    const max = this.config.maxOperationS;
    const t = op.request.timeout;
    return typeof t === 'number' && Number.isFinite(t) && t > 0 ? Math.min(t, max) : max;
  }

  /** Aborts an operation if this process runs it. */
  abortLocal(
    id: string,
    reason: CoreError = new CoreError(ErrorCode.CANCELLED, 'cancelled by request'),
  ): boolean {
    const c = this.running.get(id);
    if (!c) return false;
    c.abort(reason);
    return true;
  }

  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  runningIds(): string[] {
    return [...this.running.keys()];
  }

  async execute(job: JobOf<JobName>, hooks: ExecuteHooks = {}): Promise<OperationStatus | undefined> {
    const id = job.data.operationId;
    const log = operationLog(id, JOB_QUEUE[job.name], job.name);
    const op = await this.repo.get(id, true);
    if (!op) {
      this.logger.warn(`job ${job.name} for unknown operation ${id} dropped`, log);
      return undefined;
    }
    if (op.status !== 'queued' && op.status !== 'running') return op.status; // cancelled while queued, or done
    // Still `running` here: its earlier start died with its worker (a stalled BullMQ job).
    if (op.status === 'running' && !this.mayStartAgain(job.name, op.attempts)) {
      await this.finish(
        id,
        'failed',
        {
          current_step: 'interrupted',
          error: interruptedError(op, this.config.queue.maxAttempts, RETRY_AFTER_CRASH[job.name]),
        },
        op.attempts,
      );
      return 'failed';
    }
    const handler = this.registry.get(job.name);
    const controller = new AbortController();
    this.running.set(id, controller);
    const onDriverAbort = () => controller.abort(hooks.signal?.reason);
    hooks.signal?.addEventListener('abort', onDriverAbort, { once: true });
    let releaseDevices: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    /** The attempt this call claimed; its final write lands only while it is still the current one. */
    let attempt: number | undefined;
    try {
      const devices = handler.exclusiveDevices?.(op) ?? [];
      if (devices.length) {
        await this.setProgress(
          op,
          { progress: 0, step: `waiting for device ${devices.join(', ')}` },
          true,
          log,
        );
        releaseDevices = await this.locks.acquire(devices, controller.signal);
      }
      const startedAt = new Date();
      const timeoutS = this.deadlineS(op);
      // The claim: one start per attempt. Only one process moves an operation from the status and
      // attempt it read to the next attempt, so two processes handed the same job never both run it.
      const running = await this.repo.update(
        id,
        [op.status],
        {
          status: 'running',
          started_at: startedAt.toISOString(),
          current_step: 'starting',
          attempts: op.attempts + 1,
          deadline_at: new Date(startedAt.getTime() + timeoutS * 1000).toISOString(),
        },
        { attempts: op.attempts },
      );
      if (!running) return (await this.repo.get(id, true))?.status;
      attempt = running.attempts;
      this.events.changed(id);
      timer = setTimeout(
        () => controller.abort(new CoreError(ErrorCode.TIMEOUT, `timed out after ${timeoutS} s`)),
        timeoutS * 1000,
      );
      const result = await handler.process(running, {
        signal: controller.signal,
        onProgress: (report) => {
          void this.setProgress(running, report, false, log);
          hooks.onProgress?.(report);
        },
      });
      if (controller.signal.aborted) throw controller.signal.reason;
      await this.finish(id, 'completed', { result, progress: 1, current_step: 'completed' }, attempt);
      return 'completed';
    } catch (err) {
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : err;
      if (attempt !== undefined && this.stopping && (await this.requeueAtStop(job.name, id, attempt, reason)))
        return 'queued';
      const { status, error } = classify(reason, err);
      if (status === 'failed' && !(err instanceof CoreError))
        this.logger.error(`${job.name} ${id} failed`, err as Error, log);
      await this.finish(id, status, { error, current_step: status }, attempt);
      return status;
    } finally {
      if (timer) clearTimeout(timer);
      releaseDevices?.();
      hooks.signal?.removeEventListener('abort', onDriverAbort);
      this.running.delete(id);
    }
  }

  private readonly lastWrite = new Map<string, number>();
  private readonly progressWrites = new Map<string, Promise<void>>();

  private async setProgress(
    op: OperationRecord,
    report: ProgressReport,
    force: boolean,
    log: OperationLogContext,
  ): Promise<void> {
    const progress = Math.max(0, Math.min(1, Number.isFinite(report.progress) ? report.progress : 0));
    const now = Date.now();
    const last = this.lastWrite.get(op.id) ?? 0;
    if (!force && now - last < PROGRESS_WRITE_INTERVAL_MS && progress < 1) {
      // Keep the in-memory status live between database writes.
      this.repo.patchCached(op.id, { progress, current_step: report.step });
      this.events.changed(op.id);
      return;
    }
    this.lastWrite.set(op.id, now);
    // One write at a time per operation, in report order: with a connection pool (PostgreSQL) two
    // unchained updates can land out of order and make the stored progress go backwards.
    const previous = this.progressWrites.get(op.id) ?? Promise.resolve();
    const write = previous.then(async () => {
      try {
        await this.repo.update(op.id, ['queued', 'running'], { progress, current_step: report.step });
      } catch (err) {
        this.logger.warn(`progress write for ${op.id} failed: ${errorMessage(err)}`, log);
      }
    });
    this.progressWrites.set(op.id, write);
    await write;
    if (this.progressWrites.get(op.id) === write) this.progressWrites.delete(op.id);
    this.events.changed(op.id);
  }

  /**
   * With the embedded driver, a job a graceful stop (SIGTERM) interrupts goes back to `queued`, its
   * attempt given back (the stop was not the job's doing), so the next start runs it again like the
   * jobs that were still waiting. With BullMQ the worker lets its jobs finish before it stops.
   */
  private async requeueAtStop(name: JobName, id: string, attempt: number, reason: unknown): Promise<boolean> {
    if (this.config.queue.driver !== 'embedded' || !RETRY_AFTER_CRASH[name]) return false;
    if (!(reason instanceof CoreError) || reason.code !== ErrorCode.INTERRUPTED) return false;
    this.lastWrite.delete(id);
    await this.progressWrites.get(id);
    this.progressWrites.delete(id);
    const back = await this.repo.update(
      id,
      ['running'],
      {
        status: 'queued',
        progress: 0,
        current_step: 'queued again: the server stopped while it ran',
        started_at: null,
        deadline_at: null,
        attempts: attempt - 1,
      },
      { attempts: attempt },
    );
    if (back) this.events.changed(id);
    return back !== undefined;
  }

  /** Whether an operation found running (its earlier start died) may be started again. */
  mayStartAgain(name: JobName, attempts: number): boolean {
    return RETRY_AFTER_CRASH[name] && attempts < this.config.queue.maxAttempts;
  }

  private async finish(
    id: string,
    status: OperationStatus,
    patch: Partial<OperationRecord>,
    attempt?: number,
  ): Promise<void> {
    this.lastWrite.delete(id);
    await this.progressWrites.get(id); // the final state is written after every progress write
    this.progressWrites.delete(id);
    const finishedAt = new Date();
    const done = await this.repo.update(
      id,
      ['queued', 'running'],
      { ...patch, status, finished_at: finishedAt.toISOString() },
      { attempts: attempt },
    );
    this.events.changed(id);
    if (done) {
      const started = done.started_at ? Date.parse(done.started_at) : finishedAt.getTime();
      this.events.finished(done, Math.max(0, (finishedAt.getTime() - started) / 1000));
    }
  }
}

/** The error of an operation whose process died while it ran and that is not started again. */
export function interruptedError(
  op: Pick<OperationRecord, 'attempts'>,
  maxAttempts: number,
  retryable: boolean,
): OperationError {
  return {
    code: ErrorCode.INTERRUPTED,
    message: retryable
      ? `the server stopped while this operation ran, ${op.attempts} time(s) (JOB_MAX_ATTEMPTS ${maxAttempts}); it is not started again: start it anew`
      : 'the server stopped while this operation ran, and it is not safe to run again; start it anew',
    details: { attempts: op.attempts, max_attempts: maxAttempts },
  };
}

function classify(reason: unknown, err: unknown): { status: OperationStatus; error: OperationError } {
  if (reason instanceof CoreError && reason.code === ErrorCode.TIMEOUT) {
    return { status: 'timeout', error: { code: ErrorCode.TIMEOUT, message: reason.message } };
  }
  if (reason instanceof CoreError && reason.code === ErrorCode.CANCELLED) {
    return { status: 'cancelled', error: { code: ErrorCode.CANCELLED, message: reason.message } };
  }
  if (err instanceof CoreError) {
    return {
      status: 'failed',
      error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
    };
  }
  return { status: 'failed', error: { code: ErrorCode.INTERNAL, message: errorMessage(err) } };
}
