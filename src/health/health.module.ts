import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { HealthCheckLogger, QueueHealthIndicator, StoreHealthIndicator } from './health.indicators';
import { HealthService } from './health.service';

/** Liveness and readiness (/health, /health/live, /health/ready) with @nestjs/terminus. */
@Module({
  imports: [TerminusModule.forRoot({ logger: HealthCheckLogger, errorLogStyle: 'json' })],
  controllers: [HealthController],
  providers: [HealthService, StoreHealthIndicator, QueueHealthIndicator],
})
export class HealthModule {}
