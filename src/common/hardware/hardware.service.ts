import { Inject, Injectable } from '@nestjs/common';
import { onnxruntimeVersion } from '../../../libs/core/src/backends';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { BACKEND_NAMES, BackendDetection, BackendName, HardwareBackend } from '../../../libs/core/src/types';

/** The injection token behind which the configured HardwareBackend providers live. */
export const HARDWARE_BACKENDS = Symbol('HARDWARE_BACKENDS');

@Injectable()
export class HardwareService {
  private readonly byName: Map<BackendName, HardwareBackend>;

  constructor(@Inject(HARDWARE_BACKENDS) backends: HardwareBackend[]) {
    this.byName = new Map(backends.map((b) => [b.name, b]));
  }

  /** The backends this server offers, for the cores. */
  backends(): Map<BackendName, HardwareBackend> {
    return this.byName;
  }

  /** Every known backend: detected when enabled, unavailable with the reason when not. */
  async list(): Promise<BackendDetection[]> {
    return Promise.all(BACKEND_NAMES.map((name) => this.detect(name)));
  }

  async detect(name: BackendName): Promise<BackendDetection> {
    const backend = this.byName.get(name);
    if (!backend) {
      return {
        name,
        available: false,
        reason: `backend ${name} is not enabled on this server (HARDWARE=${[...this.byName.keys()].join(',')}); add it to HARDWARE to offer it`,
        onnxruntime_version: onnxruntimeVersion(),
        execution_provider: name,
      };
    }
    return backend.detect();
  }

  /** Throws UNPROCESSABLE when none of the requested backends is available. */
  async requireAny(names: BackendName[]): Promise<void> {
    const found = await Promise.all(names.map((n) => this.detect(n)));
    if (!found.some((d) => d.available)) {
      throw new CoreError(
        ErrorCode.BACKEND_UNAVAILABLE,
        `none of the requested backends is available: ${found.map((d) => `${d.name}: ${d.reason ?? 'unavailable'}`).join('; ')}`,
      );
    }
  }
}
