import { DynamicModule, Module } from '@nestjs/common';
import type { Role } from '../../common/config/app-config';
import { TestController } from './test.controller';
import { TestProcessor } from './test.processor';
import { TestService } from './test.service';

/** Worker processes run the jobs but serve no routes of the suite. */
@Module({})
export class TestModule {
  static forRole(role: Role): DynamicModule {
    return {
      module: TestModule,
      controllers: role === 'worker' ? [] : [TestController],
      providers: [TestService, TestProcessor],
    };
  }
}
