/**
 * What every suite checks before it stores an operation, in one place: the deadline the operation
 * gets, and whether the backends it names can serve it. Nothing here writes anything: a request
 * refused here leaves no trace.
 */
import { Injectable } from '@nestjs/common';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import type { BackendName } from '../../../libs/core/src/types';
import { AppConfig, Component } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { HardwareService } from '../hardware/hardware.service';
import { WorkersService } from '../jobs/workers.service';

/**
 * `all`: every backend named must be able to run it (a benchmark measures each one).
 * `any`: at least one must (a test run records the others as `skipped`, with the reason).
 */
export type BackendNeed = 'all' | 'any';

export interface BackendAvailability {
  name: BackendName;
  available: boolean;
  reason?: string;
}

@Injectable()
export class AdmissionService {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly hardware: HardwareService,
    private readonly workers: WorkersService,
  ) {}

  /**
   * The deadline of a new operation, in seconds: the request's `timeout`, else the suite's default,
   * never above MAX_OPERATION_S. A requested timeout above it is a 400.
   */
  timeout(requested: number | undefined, suiteDefaultS: number): number {
    const max = this.config.maxOperationS;
    if (requested === undefined) return Math.min(suiteDefaultS, max);
    if (requested > max) {
      throw new CoreError(
        ErrorCode.VALIDATION,
        `timeout must not exceed this server's maximum of ${max} s (MAX_OPERATION_S), got ${requested}`,
        { field: 'timeout', max, value: requested },
      );
    }
    return requested;
  }

  /**
   * Throws BACKEND_UNAVAILABLE (422) unless the backends can serve a `component` operation: with the
   * embedded driver or a process that runs jobs, this process's detected backends decide; an API
   * process on BullMQ (ROLE=api) asks the live workers' heartbeats.
   */
  async requireBackends(component: Component, names: BackendName[], need: BackendNeed): Promise<void> {
    const found = await this.availability(component, names, need);
    const missing = found.filter((b) => !b.available);
    if (need === 'all' ? missing.length === 0 : missing.length < found.length) return;
    const why = missing.map((b) => `${b.name}: ${b.reason ?? 'unavailable'}`).join('; ');
    throw new CoreError(
      ErrorCode.BACKEND_UNAVAILABLE,
      need === 'all' || found.length === 1
        ? `backend ${missing.map((b) => b.name).join(', ')} cannot run this ${component} operation (${why})`
        : `none of the requested backends can run this ${component} operation (${why})`,
      { backends: missing },
    );
  }

  private async availability(
    component: Component,
    names: BackendName[],
    need: BackendNeed,
  ): Promise<BackendAvailability[]> {
    if (this.config.role !== 'api' || this.config.queue.driver !== 'bullmq') {
      const detected = await Promise.all(names.map((n) => this.hardware.detect(n)));
      return detected.map((d) => ({
        name: d.name,
        available: d.available,
        ...(d.available ? {} : { reason: d.reason ?? 'not available on this server' }),
      }));
    }
    const serving = (await this.workers.list()).filter((w) =>
      w.queues.some((q) => q === component || q.startsWith(`${component}@`)),
    );
    const offers = (w: { backends: BackendName[] }, n: BackendName) => w.backends.includes(n);
    // A backend-routed job (a benchmark) runs on one worker: one must offer every backend named.
    const together = need === 'all' ? serving.some((w) => names.every((n) => offers(w, n))) : true;
    return names.map((name) => {
      const available = together && serving.some((w) => offers(w, name));
      if (available) return { name, available };
      const reason =
        serving.length === 0
          ? `no live worker serves ${component}`
          : serving.some((w) => offers(w, name))
            ? `no live worker offers ${names.join(' + ')} together`
            : `no live worker offers ${name} (live ${component} workers offer ${[
                ...new Set(serving.flatMap((w) => w.backends)),
              ].join(', ')})`;
      return { name, available, reason };
    });
  }
}
