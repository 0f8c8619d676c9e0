import { Module } from '@nestjs/common';
import { TestController } from './test.controller';
import { TestProcessor } from './test.processor';
import { TestService } from './test.service';

@Module({ controllers: [TestController], providers: [TestService, TestProcessor] })
export class TestModule {}
