import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { WorkersService } from './workers.service';
import { ApiErrors } from '../errors/api-errors.decorator';

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

@ApiTags('workers')
@Controller('api/workers')
export class WorkersController {
  constructor(private readonly workers: WorkersService) {}

  /** Live workers: host, pid, backends, current jobs, last heartbeat. */
  @Get()
  @ApiOkResponse({ type: WorkerListDto })
  @ApiErrors(401, 503)
  async list(): Promise<WorkerListDto> {
    return { workers: await this.workers.list() };
  }
}
