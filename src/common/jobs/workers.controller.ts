import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { WorkerListDto } from './workers.dto';
import { WorkersService } from './workers.service';
import { ApiErrors } from '../errors/api-errors.decorator';
import * as EX from '../../docs/examples';

@ApiTags('workers')
@Controller('api/workers')
export class WorkersController {
  constructor(private readonly workers: WorkersService) {}

  /** Live workers: host, pid, backends, current jobs, last heartbeat. */
  @Get()
  @ApiOkResponse({ type: WorkerListDto, example: EX.WORKERS })
  @ApiErrors(401, 503)
  async list(): Promise<WorkerListDto> {
    return { workers: await this.workers.list() };
  }
}
