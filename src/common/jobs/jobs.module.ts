import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { OperationEvents } from '../operations/operation-events';
import { OperationsService } from '../operations/operations.service';
import { BULL_PROCESSORS, BullJobQueue, redisOptions } from './bullmq.driver';
import { EmbeddedJobQueue } from './embedded.driver';
import { JobExecutor } from './job-executor';
import { JobQueue } from './job-queue';
import { JobRegistry } from './job-registry';

/** The queue port with the driver the configuration picks: embedded by default, BullMQ with REDIS_URL. */
@Global()
@Module({})
export class JobsModule {
  static forRoot(config: AppConfig): DynamicModule {
    const common: Provider[] = [
      JobRegistry,
      JobExecutor,
      OperationsService,
      { provide: OperationEvents, useValue: new OperationEvents() },
    ];
    const exported = [JobRegistry, JobExecutor, OperationsService, OperationEvents, JobQueue];
    if (config.queue.driver === 'embedded') {
      return {
        module: JobsModule,
        providers: [...common, { provide: JobQueue, useClass: EmbeddedJobQueue }],
        exports: exported,
      };
    }
    const connection = redisOptions(config.queue.redisUrl!);
    const runsJobs = config.role !== 'api';
    return {
      module: JobsModule,
      imports: [
        BullModule.forRoot({ connection, prefix: config.queue.prefix }),
        ...config.components.map((name) => BullModule.registerQueue({ name })),
        ...(['test', 'generator', 'benchmark'] as const)
          .filter((c) => !config.components.includes(c))
          .map((name) => BullModule.registerQueue({ name })),
      ],
      providers: [
        ...common,
        { provide: JobQueue, useClass: BullJobQueue },
        ...(runsJobs ? config.components.map((c) => BULL_PROCESSORS[c]) : []),
      ],
      exports: exported,
    };
  }
}
