/** GET /api/workers: the live worker processes (BullMQ driver; this process alone when embedded). */
import { ApiProperty } from '@nestjs/swagger';

export class WorkerDto {
  id: string;
  host: string;
  pid: number;
  role: string;
  @ApiProperty({ enum: ['cpu', 'cuda', 'webgpu'], isArray: true })
  backends: string[];
  queues: string[];
  /** Operation ids this worker runs now. */
  current_jobs: string[];
  started_at: string;
  last_heartbeat: string;
}

export class WorkerListDto {
  workers: WorkerDto[];
}
