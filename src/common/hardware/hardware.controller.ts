import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { HardwareListDto } from './hardware.dto';
import { HardwareService } from './hardware.service';
import { ApiErrors } from '../errors/api-errors.decorator';
import * as EX from '../../docs/examples';

@ApiTags('hardware')
@Controller('api/hardware')
export class HardwareController {
  constructor(private readonly hardware: HardwareService) {}

  /** Every backend with its availability, an actionable reason when unavailable, and device details. */
  @Get()
  @ApiOkResponse({ type: HardwareListDto, example: EX.HARDWARE })
  @ApiErrors(401)
  async list(): Promise<HardwareListDto> {
    return { backends: await this.hardware.list() };
  }
}
