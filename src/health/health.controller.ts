import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { HealthDto, LivenessDto, UnhealthyDto } from './health.dto';
import { HealthService } from './health.service';
import * as EX from '../docs/examples';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  /**
   * Readiness: asks the store and (with BullMQ) Redis once, all at once, each within its own timeout
   * (DATABASE_TIMEOUT_MS, REDIS_TIMEOUT_MS), so it answers within that even when one hangs.
   * `/health/ready` is the same check under the name probes expect.
   */
  @Get(['', 'ready'])
  @ApiOperation({ summary: 'Readiness: the store and the queue answer' })
  @ApiOkResponse({ type: HealthDto, description: 'Every dependency answers.', example: EX.HEALTH })
  @ApiServiceUnavailableResponse({
    type: UnhealthyDto,
    description: 'A dependency is down: the error body and the health fields.',
    example: EX.UNHEALTHY,
  })
  async readiness(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthDto | UnhealthyDto> {
    const { statusCode, body } = await this.health.readiness();
    void reply.status(statusCode);
    return body;
  }

  /** Liveness: the process serves HTTP; no dependency is asked (an outage is not a reason to restart). */
  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process serves HTTP' })
  @ApiOkResponse({ type: LivenessDto, example: EX.LIVENESS })
  liveness(): LivenessDto {
    return this.health.liveness();
  }
}
