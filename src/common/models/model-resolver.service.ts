import { isAbsolute, join, relative } from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { ModelCache } from '../../../libs/core/src/generator';
import { ResolvedModelPath, resolveModelPath } from '../../../libs/core/src/models/paths';
import {
  checkPrecision,
  GENERATED_PRECISIONS,
  modelFacts,
  modelGraph,
  modelPrecision,
  type GeneratedPrecision,
} from '../../../libs/core/src/models/precision';
import { findModel, resolveModel } from '../../../libs/core/src/models/registry';
import type { RunContext } from '../../../libs/core/src/types';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { TaskThreads } from '../hardware/task-threads.service';

/** A model for a run; a cached one stays until release(). */
export interface ModelLease {
  resolved: ResolvedModelPath;
  /** The precision of what will run (undefined when it cannot be told from the model). */
  precision?: string;
  /** Its graph flavour, portable or optimized (undefined for a graph the generator did not build). */
  graph?: string;
  release(): void;
}

/** What a model name stands for before anything runs. */
export type ModelSource =
  | { kind: 'path'; resolved: ResolvedModelPath }
  | { kind: 'registry'; id: string; config: Record<string, unknown> };

function isNotFound(err: unknown): boolean {
  return err instanceof CoreError && err.code === ErrorCode.MODEL_NOT_FOUND;
}

/**
 * Model names to files inside the allowed roots (DATA_DIR, then each of MODEL_ROOTS). A relative
 * name is looked up in each root in turn; confinement always covers all of them. A name that is
 * no file but a registry id stands for that model generated on demand (random weights, seed 0,
 * cached by config under DATA_DIR/models/.cache, bounded by MODEL_CACHE_MAX_BYTES, evicted LRU).
 */
/** How long an accept-time lookup is reused (runs resolve again when they start). */
const SOURCE_TTL_MS = 1000;
const SOURCE_CACHE_LIMIT = 1000;

@Injectable()
export class ModelResolver {
  /**
   * Accept-time lookups of the last second, by name: a burst of runs on one model checks the file
   * system once (realpath, stat and readdir of the model and its sidecars, per root). Only found
   * models are kept; every run resolves its model afresh when it starts (resolveForRun).
   */
  private readonly recent = new Map<string, { source: ModelSource; until: number }>();
  private readonly logger = new Logger(ModelResolver.name);
  /** Registry models generated on demand; entries leased by a running job are never evicted. */
  readonly cache: ModelCache;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly threads: TaskThreads,
  ) {
    this.cache = new ModelCache({
      root: config.dataDir,
      dir: this.cacheDir,
      maxBytes: config.modelCacheMaxBytes,
      onEvict: (dir, bytes) =>
        this.logger.log(
          `evicted ${relative(config.dataDir, dir)} (${bytes} bytes) from the model cache (MODEL_CACHE_MAX_BYTES ${config.modelCacheMaxBytes})`,
        ),
    });
  }

  roots(): string[] {
    return [this.config.dataDir, ...this.config.modelRoots];
  }

  get cacheDir(): string {
    return join(this.config.dataDir, 'models', '.cache');
  }

  resolve(name: string): ResolvedModelPath {
    const roots = this.roots();
    if (isAbsolute(name)) return resolveModelPath(name, roots);
    let notFound: unknown;
    for (const root of roots) {
      try {
        return resolveModelPath(name, [root, ...roots.filter((r) => r !== root)]);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        notFound ??= err;
      }
    }
    throw notFound ?? new CoreError(ErrorCode.MODEL_NOT_FOUND, `model not found: ${name}`);
  }

  /** Checks a name at accept time: a model file inside the roots, or a registry id. */
  accepts(name: string): ModelSource {
    const now = Date.now();
    const hit = this.recent.get(name);
    if (hit && hit.until > now) return hit.source;
    const source = this.source(name);
    this.recent.delete(name);
    this.recent.set(name, { source, until: now + SOURCE_TTL_MS });
    if (this.recent.size > SOURCE_CACHE_LIMIT) this.recent.delete(this.recent.keys().next().value!);
    return source;
  }

  /** What a name stands for now: a model file inside the roots, or a registry id. */
  source(name: string): ModelSource {
    try {
      return { kind: 'path', resolved: this.resolve(name) };
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const entry = findModel(name);
      if (!entry) {
        throw new CoreError(
          ErrorCode.MODEL_NOT_FOUND,
          `model not found: ${name} is neither a model file or folder inside DATA_DIR or MODEL_ROOTS nor a registry id (GET /api/models)`,
        );
      }
      return { kind: 'registry', id: entry.id, config: entry.config };
    }
  }

  /**
   * The precisions a name's model exists in: both generated ones for a registry id (made on demand),
   * the model's own for a file or implementation, undefined when that cannot be told.
   */
  precisions(name: string): string[] | undefined {
    const source = this.accepts(name);
    if (source.kind === 'registry') return [...GENERATED_PRECISIONS];
    const own = modelPrecision(source.resolved);
    return own ? [own] : undefined;
  }

  /** 422 when `precision` is given and the model named does not exist in it (naming those it does). */
  checkPrecision(name: string, precision: string | undefined): void {
    if (precision !== undefined) checkPrecision(name, precision, this.precisions(name));
  }

  /**
   * Resolves a name for a run, generating a registry model first when needed (random weights,
   * seed 0: one cached copy per registry id and precision, whatever the run's own seed). The lease
   * keeps a cached model from eviction until released; release it when the run ends. A `precision`
   * selects the registry model's graph of that precision, and is checked against a file's own.
   */
  async acquireForRun(name: string, ctx: RunContext, precision?: string): Promise<ModelLease> {
    const source = this.source(name);
    if (source.kind === 'path') {
      // One read of the manifest (and, without one, of the graph) says both.
      const { precision: own, graph } = modelFacts(source.resolved);
      if (precision !== undefined) checkPrecision(name, precision, own ? [own] : undefined);
      return { resolved: source.resolved, precision: own, graph, release: () => undefined };
    }
    const wanted = precision ?? 'fp32';
    checkPrecision(name, wanted, GENERATED_PRECISIONS);
    const lease = await this.cache.acquire(
      resolveModel(source.id),
      0,
      {
        signal: ctx.signal,
        onProgress: (r) =>
          ctx.onProgress({
            progress: 0,
            step: `generating ${source.id} (random weights, ${wanted}): ${r.step}`,
          }),
      },
      (opts, genCtx) => this.threads.run('generate', opts, genCtx),
      wanted as GeneratedPrecision,
    );
    try {
      const resolved = resolveModelPath(lease.dir, this.roots());
      return { resolved, precision: wanted, graph: modelGraph(resolved), release: lease.release };
    } catch (err) {
      lease.release();
      throw err;
    }
  }

  /** The model for the duration of `fn` (a cached one is not evicted meanwhile). */
  async withModel<T>(
    name: string,
    ctx: RunContext,
    fn: (resolved: ResolvedModelPath, precision: string | undefined, graph: string | undefined) => Promise<T>,
    precision?: string,
  ): Promise<T> {
    const lease = await this.acquireForRun(name, ctx, precision);
    try {
      return await fn(lease.resolved, lease.precision, lease.graph);
    } finally {
      lease.release();
    }
  }

  /** Resolves a name for a run (see acquireForRun) without holding it. */
  async resolveForRun(name: string, ctx: RunContext): Promise<ResolvedModelPath> {
    const lease = await this.acquireForRun(name, ctx);
    lease.release();
    return lease.resolved;
  }
}
