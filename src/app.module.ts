import { DynamicModule, Module, ValidationPipe } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import type { BackendName, HardwareBackend } from '../libs/core/src/types';
import { ApiKeyGuard } from './common/auth/api-key.guard';
import { AppConfig, Component, Role } from './common/config/app-config';
import { BudgetModule } from './common/admission/budget.service';
import { ConfigModule } from './common/config/config.module';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter';
import { HardwareModule } from './common/hardware/hardware.module';
import { JobsModule } from './common/jobs/jobs.module';
import { MetricsModule } from './common/metrics/metrics.module';
import { StoreModule } from './common/store/store.module';
import { OperationsGateway } from './gateways/operations.gateway';
import { HealthModule } from './health/health.module';
import { GeneratorModule } from './modules/generator/generator.module';
import { BenchmarkModule } from './modules/benchmark/benchmark.module';
import { TestModule } from './modules/test/test.module';

/** The suites, by component name; `COMPONENTS` (or `serve --components`) picks which a process serves. */
const SUITES: Record<Component, { forRole(role: Role): DynamicModule }> = {
  test: TestModule,
  generator: GeneratorModule,
  benchmark: BenchmarkModule,
};

export function validationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    stopAtFirstError: false,
  });
}

export interface AppOptions {
  /** The hardware backends this process offers (detected or not yet). */
  backends: HardwareBackend[];
  /** The backends a worker detected as available: it consumes the queues they can serve. */
  workerBackends: BackendName[];
}

/** The unified server: the shared layer once, then each enabled suite. */
@Module({})
export class AppModule {
  static register(config: AppConfig, options: AppOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        StoreModule,
        JobsModule.forRoot(config, { workerBackends: options.workerBackends }),
        HardwareModule.forRoot(options.backends),
        MetricsModule,
        BudgetModule,
        HealthModule,
        ...config.components.map((c) => SUITES[c].forRole(config.role)),
      ],
      providers: [
        ...(config.role === 'worker' ? [] : [OperationsGateway]),
        { provide: APP_PIPE, useFactory: validationPipe },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        // Without API_KEY every route is open: no guard runs at all (it would pass every request).
        ...(config.apiKey ? [{ provide: APP_GUARD, useClass: ApiKeyGuard }] : []),
      ],
    };
  }
}
