import { Module } from '@nestjs/common';
import { GeneratorController } from './generator.controller';
import { GeneratorProcessor } from './generator.processor';
import { GeneratorService } from './generator.service';

@Module({
  controllers: [GeneratorController],
  providers: [GeneratorService, GeneratorProcessor],
  exports: [GeneratorService],
})
export class GeneratorModule {}
