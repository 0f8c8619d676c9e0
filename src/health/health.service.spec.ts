import { Test, TestingModule } from '@nestjs/testing';
import { HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { APP_CONFIG } from '../common/config/config.module';
import { QueueHealthIndicator, StoreHealthIndicator } from './health.indicators';
import { HealthService } from './health.service';

/** HealthService over terminus's real HealthCheckService, with indicators whose probes a test sets. */
async function moduleWith(probes: { store: () => Promise<void>; queue?: () => Promise<void> }) {
  const fakeIndicator = (key: 'store' | 'queue', probe: () => Promise<void>, external = true) => ({
    provide: key === 'store' ? StoreHealthIndicator : QueueHealthIndicator,
    useFactory: (indicators: HealthIndicatorService) => ({
      external,
      check: () => indicators.check(key).attempt(probe),
    }),
    inject: [HealthIndicatorService],
  });
  const module = await Test.createTestingModule({
    imports: [TerminusModule.forRoot({ logger: false })],
    providers: [
      HealthService,
      fakeIndicator('store', probes.store),
      fakeIndicator('queue', probes.queue ?? (() => Promise.resolve()), probes.queue !== undefined),
      {
        provide: APP_CONFIG,
        useValue: {
          queue: { driver: probes.queue ? 'bullmq' : 'embedded' },
          components: ['test', 'generator', 'benchmark'],
        },
      },
    ],
  }).compile();
  return module;
}

describe('HealthService (terminus indicators, /health contract)', () => {
  let module: TestingModule | undefined;
  afterEach(async () => {
    await module?.close();
    module = undefined;
  });

  it('answers 200 with the health fields when every dependency answers; no queue field with the in-process queue', async () => {
    module = await moduleWith({ store: () => Promise.resolve() });
    const { statusCode, body } = await module.get(HealthService).readiness();
    expect(statusCode).toBe(200);
    expect(body).toEqual({
      status: 'ok',
      version: expect.any(String),
      uptime_s: expect.any(Number),
      queue_driver: 'embedded',
      components: ['test', 'generator', 'benchmark'],
      store: 'ok',
    });
  });

  it('answers 503 with the error body naming each dependency down; the store wins the code', async () => {
    module = await moduleWith({
      store: () => Promise.resolve(),
      queue: () => Promise.reject(new Error('Redis did not answer within 2000 ms')),
    });
    expect(await module.get(HealthService).readiness()).toEqual({
      statusCode: 503,
      body: expect.objectContaining({
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'QUEUE_UNAVAILABLE',
        message: 'queue: Redis did not answer within 2000 ms',
        details: { store: 'ok', queue: 'down' },
        status: 'degraded',
        store: 'ok',
        queue: 'down',
        queue_driver: 'bullmq',
      }),
    });
    await module.close();
    module = await moduleWith({
      store: () => Promise.reject(new Error('the store is unavailable: ECONNREFUSED')),
      queue: () => Promise.reject(new Error('Redis is down')),
    });
    const { body } = await module.get(HealthService).readiness();
    expect(body).toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: 'store: the store is unavailable: ECONNREFUSED; queue: Redis is down',
      details: { store: 'down', queue: 'down' },
    });
  });

  it('is not ready while the application shuts down, though every dependency answers', async () => {
    module = await moduleWith({ store: () => Promise.resolve() });
    const health = module.get(HealthService);
    // Terminus marks the check shutting_down from beforeApplicationShutdown on.
    await module.close();
    const answer = await health.readiness();
    module = undefined;
    expect(answer).toEqual({
      statusCode: 503,
      body: expect.objectContaining({ code: 'SHUTTING_DOWN', store: 'ok', status: 'degraded' }),
    });
  });

  it('answers liveness without asking any dependency', async () => {
    const store = jest.fn(() => Promise.reject(new Error('down')));
    module = await moduleWith({ store });
    expect(module.get(HealthService).liveness()).toEqual({ status: 'ok', uptime_s: expect.any(Number) });
    expect(store).not.toHaveBeenCalled();
  });
});
