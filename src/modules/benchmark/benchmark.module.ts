import { Module } from '@nestjs/common';
import { BenchmarkController } from './benchmark.controller';
import { BenchmarkProcessor } from './benchmark.processor';
import { BenchmarkRepository } from './benchmark.repository';
import { BenchmarkService } from './benchmark.service';

@Module({
  controllers: [BenchmarkController],
  providers: [BenchmarkService, BenchmarkRepository, BenchmarkProcessor],
})
export class BenchmarkModule {}
