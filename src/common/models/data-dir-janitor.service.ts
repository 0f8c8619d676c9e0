import { relative } from 'node:path';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { sweepDataDir } from '../../../libs/core/src/models/write-paths';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { ModelResolver } from './model-resolver.service';

/**
 * At start-up, removes what crashed processes left in DATA_DIR (half-written generations and cache
 * entries, test runs' scratch folders; live processes' folders stay, see sweepDataDir) and brings
 * the on-demand model cache back within MODEL_CACHE_MAX_BYTES.
 */
@Injectable()
export class DataDirJanitor implements OnApplicationBootstrap {
  private readonly logger = new Logger(DataDirJanitor.name);

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly models: ModelResolver,
  ) {}

  onApplicationBootstrap(): void {
    this.sweep();
  }

  /** Returns the folders removed. */
  sweep(): string[] {
    const removed = sweepDataDir(this.config.dataDir);
    for (const p of removed) this.logger.log(`removed leftover ${relative(this.config.dataDir, p)}`);
    return [...removed, ...this.models.cache.evict()];
  }
}
