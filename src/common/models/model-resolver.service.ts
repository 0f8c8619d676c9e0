import { isAbsolute } from 'node:path';
import { Injectable } from '@nestjs/common';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { ResolvedModelPath, resolveModelPath } from '../../../libs/core/src/models/paths';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';

/**
 * Model names to files inside the allowed roots (DATA_DIR, then each of MODEL_ROOTS). A relative
 * name is looked up in each root in turn; confinement always covers all of them.
 */
@Injectable()
export class ModelResolver {
  constructor(@InjectConfig() private readonly config: AppConfig) {}

  roots(): string[] {
    return [this.config.dataDir, ...this.config.modelRoots];
  }

  resolve(name: string): ResolvedModelPath {
    const roots = this.roots();
    if (isAbsolute(name)) return resolveModelPath(name, roots);
    let notFound: unknown;
    for (const root of roots) {
      try {
        return resolveModelPath(name, [root, ...roots.filter((r) => r !== root)]);
      } catch (err) {
        if (!(err instanceof CoreError) || err.code !== ErrorCode.MODEL_NOT_FOUND) throw err;
        notFound ??= err;
      }
    }
    throw notFound ?? new CoreError(ErrorCode.MODEL_NOT_FOUND, `model not found: ${name}`);
  }
}
