import { Global, Module } from '@nestjs/common';
import { OrtBackend } from '../../../libs/core/src/backends';
import { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { HARDWARE_BACKENDS, HardwareService } from './hardware.service';
import { HardwareController } from './hardware.controller';
import { ModelResolver } from '../models/model-resolver.service';

/**
 * Hardware backends by DI: one OrtBackend per name in HARDWARE, behind one token. A deployment
 * replaces them with `overrideProvider(HARDWARE_BACKENDS)` or its own module, never by editing cores.
 */
@Global()
@Module({
  controllers: [HardwareController],
  providers: [
    {
      provide: HARDWARE_BACKENDS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        config.hardware.map(
          (name) =>
            new OrtBackend(name, {
              detectTimeoutMs: config.detectTimeoutMs,
              environment: config.environment,
            }),
        ),
    },
    HardwareService,
    ModelResolver,
  ],
  exports: [HardwareService, HARDWARE_BACKENDS, ModelResolver],
})
export class HardwareModule {}
