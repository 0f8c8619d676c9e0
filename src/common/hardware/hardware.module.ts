import { DynamicModule, Global, Module } from '@nestjs/common';
import { OrtBackend } from '../../../libs/core/src/backends';
import type { HardwareBackend } from '../../../libs/core/src/types';
import { AppConfig } from '../config/app-config';
import { DataDirJanitor } from '../models/data-dir-janitor.service';
import { ModelResolver } from '../models/model-resolver.service';
import { HardwareController } from './hardware.controller';
import { HARDWARE_BACKENDS, HardwareService } from './hardware.service';
import { TaskThreads } from './task-threads.service';

/** One onnxruntime backend per name in HARDWARE. */
export function createHardwareBackends(config: AppConfig): HardwareBackend[] {
  return config.hardware.map(
    (name) =>
      new OrtBackend(name, { detectTimeoutMs: config.detectTimeoutMs, environment: config.environment }),
  );
}

/**
 * Hardware backends by DI: the configured backends behind one token. A deployment replaces them
 * with `overrideProvider(HARDWARE_BACKENDS)` or its own module, never by editing cores.
 */
@Global()
@Module({})
export class HardwareModule {
  static forRoot(backends: HardwareBackend[]): DynamicModule {
    return {
      module: HardwareModule,
      controllers: [HardwareController],
      providers: [
        { provide: HARDWARE_BACKENDS, useValue: backends },
        HardwareService,
        ModelResolver,
        DataDirJanitor,
        TaskThreads,
      ],
      exports: [HardwareService, HARDWARE_BACKENDS, ModelResolver, TaskThreads],
    };
  }
}
