import { DynamicModule, Module, Type, ValidationPipe } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ApiKeyGuard } from './common/auth/api-key.guard';
import { AppConfig, Component } from './common/config/app-config';
import { ConfigModule } from './common/config/config.module';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter';
import { HardwareModule } from './common/hardware/hardware.module';
import { JobsModule } from './common/jobs/jobs.module';
import { StoreModule } from './common/store/store.module';
import { OperationsGateway } from './gateways/operations.gateway';
import { HealthController } from './health.controller';
import { GeneratorModule } from './modules/generator/generator.module';
import { BenchmarkModule } from './modules/benchmark/benchmark.module';
import { TestModule } from './modules/test/test.module';

/** The suites, by component name; `COMPONENTS` (or `serve --components`) picks which a process serves. */
const SUITES: Partial<Record<Component, Type>> = {
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

/** The unified server: the shared layer once, then each enabled suite. */
@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        StoreModule,
        JobsModule.forRoot(config),
        HardwareModule,
        ...config.components.flatMap((c) => (SUITES[c] ? [SUITES[c]] : [])),
      ],
      controllers: [HealthController],
      providers: [
        OperationsGateway,
        { provide: APP_PIPE, useFactory: validationPipe },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
      ],
    };
  }
}
