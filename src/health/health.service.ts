/**
 * Readiness through @nestjs/terminus's HealthCheckService over the store and queue indicators,
 * answered in this server's /health contract: the health fields, and with a dependency down HTTP
 * 503 with DESIGN's error body beside them.
 */
import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckResult, HealthCheckService, HealthIndicatorResult } from '@nestjs/terminus';
import { AppConfig } from '../common/config/app-config';
import { InjectConfig } from '../common/config/config.module';
import { errorBody } from '../common/errors/error-body';
import { VERSION } from '../common/version';
import { Dependency, HealthDto, LivenessDto, UnhealthyDto } from './health.dto';
import { QueueHealthIndicator, StoreHealthIndicator } from './health.indicators';

export type HealthAnswer = { statusCode: 200; body: HealthDto } | { statusCode: 503; body: UnhealthyDto };

@Injectable()
export class HealthService {
  constructor(
    private readonly checks: HealthCheckService,
    private readonly store: StoreHealthIndicator,
    private readonly queue: QueueHealthIndicator,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  liveness(): LivenessDto {
    return { status: 'ok', uptime_s: Math.round(process.uptime()) };
  }

  /** Asks each dependency once, all at once, each within its own timeout. */
  async readiness(): Promise<HealthAnswer> {
    const result = await this.run();
    const state = (key: string): Dependency | undefined => {
      const entry = result.details[key];
      return entry ? (entry.status === 'up' ? 'ok' : 'down') : undefined;
    };
    const store = state('store') ?? 'down';
    const queue = state('queue');
    const health: HealthDto = {
      status: result.status === 'ok' ? 'ok' : 'degraded',
      version: VERSION,
      uptime_s: Math.round(process.uptime()),
      queue_driver: this.config.queue.driver,
      components: this.config.components,
      store,
      ...(queue ? { queue } : {}),
    };
    if (health.status === 'ok') return { statusCode: 200, body: health };
    const problems = Object.entries(result.error ?? {}).map(
      ([key, value]) => `${key}: ${String((value as { message?: unknown }).message ?? 'down')}`,
    );
    // Every dependency up but the process stopping (terminus answers `shutting_down`): not ready.
    const code =
      store === 'down' ? 'STORE_UNAVAILABLE' : queue === 'down' ? 'QUEUE_UNAVAILABLE' : 'SHUTTING_DOWN';
    const details = { store, ...(queue ? { queue } : {}) };
    const message = problems.join('; ') || 'the server is shutting down';
    return {
      statusCode: 503,
      body: { ...errorBody(503, message, code, details), details, ...health },
    };
  }

  /** Terminus answers a failed check with a 503 exception carrying the result; here it is the result. */
  private async run(): Promise<HealthCheckResult> {
    const indicators: Array<() => PromiseLike<HealthIndicatorResult>> = [() => this.store.check()];
    if (this.queue.external) indicators.push(() => this.queue.check());
    try {
      return await this.checks.check(indicators);
    } catch (err) {
      if (err instanceof ServiceUnavailableException) return err.getResponse() as HealthCheckResult;
      throw err;
    }
  }
}
