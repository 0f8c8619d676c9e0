import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import type { BackendName } from '../../../libs/core/src/types';
import { AppConfig, Component } from '../config/app-config';
import { AdmissionService } from '../operations/admission.service';
import { OperationEvents } from '../operations/operation-events';
import { OperationsService } from '../operations/operations.service';
import { ALL_QUEUES, BullJobQueue, failFastRedisOptions, processorFor, redisOptions } from './bullmq.driver';
import { EmbeddedJobQueue } from './embedded.driver';
import { JobExecutor } from './job-executor';
import { JobQueue } from './job-queue';
import { JobRegistry } from './job-registry';
import { queuesFor } from './job.types';
import { WorkersController } from './workers.controller';
import { WORKER_BACKENDS, WorkersService } from './workers.service';

export interface JobsOptions {
  /** The backends this process detected as available: a worker consumes the queues they can serve. */
  workerBackends: BackendName[];
}

/** The queue port with the driver the configuration picks: embedded by default, BullMQ with REDIS_URL. */
@Global()
@Module({})
export class JobsModule {
  static forRoot(config: AppConfig, options: JobsOptions): DynamicModule {
    const common: Provider[] = [
      JobRegistry,
      JobExecutor,
      OperationsService,
      WorkersService,
      AdmissionService,
      { provide: OperationEvents, useValue: new OperationEvents() },
      { provide: WORKER_BACKENDS, useValue: options.workerBackends },
    ];
    const exported = [
      JobRegistry,
      JobExecutor,
      OperationsService,
      OperationEvents,
      JobQueue,
      WorkersService,
      AdmissionService,
    ];
    if (config.queue.driver === 'embedded') {
      return {
        module: JobsModule,
        controllers: [WorkersController],
        providers: [...common, { provide: JobQueue, useClass: EmbeddedJobQueue }],
        exports: exported,
      };
    }
    const consumed = config.role === 'api' ? [] : queuesFor(config.components, options.workerBackends);
    const concurrencyOf = (queue: string) => config.queue.concurrency[queue.split('@')[0] as Component];
    return {
      module: JobsModule,
      imports: [
        BullModule.forRoot({ connection: redisOptions(config.queue.redisUrl!), prefix: config.queue.prefix }),
        // Queues serve the request path (enqueue, cancel): fail fast while Redis is down or frozen.
        ...ALL_QUEUES.map((name) =>
          BullModule.registerQueue({
            name,
            connection: failFastRedisOptions(config.queue.redisUrl!, config.queue.redisTimeoutMs),
          }),
        ),
      ],
      controllers: [WorkersController],
      providers: [
        ...common,
        { provide: JobQueue, useClass: BullJobQueue },
        ...consumed.map((q) =>
          processorFor(
            q,
            concurrencyOf(q),
            config.queue.lockDurationMs,
            config.queue.maxAttempts,
            redisOptions(config.queue.redisUrl!),
          ),
        ),
      ],
      exports: exported,
    };
  }
}
