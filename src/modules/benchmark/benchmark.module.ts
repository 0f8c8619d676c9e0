import { DynamicModule, Module } from '@nestjs/common';
import type { Role } from '../../common/config/app-config';
import { BenchmarkController } from './benchmark.controller';
import { BenchmarkProcessor } from './benchmark.processor';
import { BenchmarkRepository } from './benchmark.repository';
import { BenchmarkService } from './benchmark.service';

/** Worker processes run the jobs but serve no routes of the suite. */
@Module({})
export class BenchmarkModule {
  static forRole(role: Role): DynamicModule {
    return {
      module: BenchmarkModule,
      controllers: role === 'worker' ? [] : [BenchmarkController],
      providers: [BenchmarkService, BenchmarkRepository, BenchmarkProcessor],
    };
  }
}
