import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { MetricsService } from './metrics.service';

/** Prometheus scrape endpoint; open like /health (no API key). */
@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format 0.0.4', type: String })
  async scrape(@Res() reply: FastifyReply): Promise<void> {
    const body = await this.metrics.metrics();
    void reply.header('content-type', this.metrics.contentType()).send(body);
  }
}
