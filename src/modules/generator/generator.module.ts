import { DynamicModule, Module } from '@nestjs/common';
import type { Role } from '../../common/config/app-config';
import { GeneratorController } from './generator.controller';
import { GeneratorProcessor } from './generator.processor';
import { GeneratorService } from './generator.service';

/** Worker processes run the jobs but serve no routes of the suite. */
@Module({})
export class GeneratorModule {
  static forRole(role: Role): DynamicModule {
    return {
      module: GeneratorModule,
      controllers: role === 'worker' ? [] : [GeneratorController],
      providers: [GeneratorService, GeneratorProcessor],
      exports: [GeneratorService],
    };
  }
}
