/** /health: what the probes answer, for the OpenAPI document and the SDK. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** A dependency's state as /health reports it. */
export type Dependency = 'ok' | 'down';

export class HealthDto {
  /** `ok` when every dependency answers; `degraded` (with HTTP 503) when one does not. */
  @ApiProperty({ enum: ['ok', 'degraded'], example: 'ok' })
  status: 'ok' | 'degraded';
  @ApiProperty({ example: '0.1.0' })
  version: string;
  /** Seconds since the process started. */
  @ApiProperty({ example: 42 })
  uptime_s: number;
  /** `embedded` (in-process) or `bullmq` (Redis). */
  @ApiProperty({ enum: ['embedded', 'bullmq'], example: 'embedded' })
  queue_driver: string;
  /** The suites this process serves. */
  @ApiProperty({
    type: [String],
    enum: ['test', 'generator', 'benchmark'],
    example: ['test', 'generator', 'benchmark'],
  })
  components: string[];
  /** The operations store (SQLite or PostgreSQL). */
  @ApiProperty({ enum: ['ok', 'down'], example: 'ok' })
  store: Dependency;
  /** Redis, with the BullMQ driver (absent with the in-process queue). */
  @ApiPropertyOptional({ enum: ['ok', 'down'] })
  queue?: Dependency;
}

/** A dependency down: HTTP 503 with DESIGN's error body, the health fields beside it. */
export class UnhealthyDto extends HealthDto {
  @ApiProperty({ example: 503 })
  statusCode: number;
  @ApiProperty({ example: 'Service Unavailable' })
  error: string;
  /**
   * STORE_UNAVAILABLE when the store is down (whatever the queue), QUEUE_UNAVAILABLE when Redis is,
   * SHUTTING_DOWN while the process stops (both may answer then).
   */
  @ApiProperty({
    enum: ['STORE_UNAVAILABLE', 'QUEUE_UNAVAILABLE', 'SHUTTING_DOWN'],
    example: 'QUEUE_UNAVAILABLE',
  })
  code: string;
  /** Each dependency down and why, `; `-separated. */
  @ApiProperty({ example: 'queue: Redis did not answer within 2000 ms' })
  message: string;
  /** The dependencies' states again (`store`, and `queue` with the BullMQ driver). */
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string', enum: ['ok', 'down'] },
    example: { store: 'ok', queue: 'down' },
  })
  details: Record<string, Dependency>;
}

/** Liveness: the process serves HTTP (no dependency is asked). */
export class LivenessDto {
  @ApiProperty({ enum: ['ok'], example: 'ok' })
  status: 'ok';
  @ApiProperty({ example: 42 })
  uptime_s: number;
}
