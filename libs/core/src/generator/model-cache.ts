/**
 * The on-demand cache of registry models (random weights, fp32, fp16, int8 or int4, every backend) under
 * DATA_DIR/models/.cache, bounded in bytes and evicted least recently used first.
 *
 * - An entry is generated into a temporary sibling and renamed into place when complete, so a
 *   half-written model is never picked up; concurrent callers in this process share one generation.
 * - Every use touches the entry's manifest.json (its mtime is the entry's last use).
 * - An entry leased by a running job of this process is never evicted; the others go, oldest use
 *   first, when the total would exceed the bound (before generating, with the new entry's expected
 *   size, and again once it is in place with its real size). An entry larger than the bound on its
 *   own is still kept while in use: the bound then holds again once it is released and evicted.
 */
import { createHash } from 'node:crypto';
import { readdirSync, renameSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { GeneratedPrecision } from '../models/precision';
import type { ResolvedModel } from '../models/registry';
import { countParameters } from '../models/registry-params';
import {
  confineEntry,
  isTempName,
  mkdirConfined,
  removeConfined,
  tempSibling,
  treeBytes,
} from '../models/write-paths';
import type { RunContext } from '../types';
import { generatorVersion, MANIFEST_FILE } from './manifest';
import { folderState, readOwnManifest, swapIn } from './ownership';
import { runGenerationPipeline, type PipelineOptions, type PipelineResult } from './pipeline';
import { slugify } from './slug';

export interface ModelCacheOptions {
  /** Every write and delete is confined inside this folder (DATA_DIR). */
  root: string;
  /** The cache folder (DATA_DIR/models/.cache). */
  dir: string;
  /** Bound on the entries' total size in bytes. */
  maxBytes: number;
  /** Told about every eviction (for logs). */
  onEvict?: (entry: string, bytes: number) => void;
}

export interface CacheLease {
  /** The folder holding the implementation. */
  dir: string;
  /** Ends the use: the entry may be evicted again. Idempotent. */
  release(): void;
}

export interface CacheEntry {
  dir: string;
  bytes: number;
  lastUsedMs: number;
}

export type GenerateFn = (opts: PipelineOptions, ctx: RunContext) => Promise<PipelineResult>;

/** The cache folder of a registry model with random weights: keyed by its config, seed and generator version. */
export function cachedModelDir(
  cacheRoot: string,
  source: ResolvedModel,
  seed: number,
  precision: GeneratedPrecision = 'fp32',
): string {
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        config: source.config,
        seed,
        weights: 'random',
        precision,
        v: generatorVersion(),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  return join(cacheRoot, `${slugify(source.id)}-${key}`);
}

function expectedBytes(source: ResolvedModel): number {
  try {
    return countParameters(source.config) * 4;
  } catch {
    return 0;
  }
}

export class ModelCache {
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly inUse = new Map<string, number>();
  private lastTouch = 0;

  constructor(readonly options: ModelCacheOptions) {}

  /** The model generated (or found) in the cache, leased until release(). */
  async acquire(
    source: ResolvedModel,
    seed: number,
    ctx: RunContext,
    /** Runs the pipeline (in a worker thread, say); default: runGenerationPipeline on this thread. */
    generate: GenerateFn = runGenerationPipeline,
    /** fp32 (default), fp16, int8 or int4: each precision is its own entry. */
    precision: GeneratedPrecision = 'fp32',
  ): Promise<CacheLease> {
    const dir = cachedModelDir(this.options.dir, source, seed, precision);
    this.pin(dir);
    try {
      if (!readOwnManifest(dir)) {
        let pending = this.inflight.get(dir);
        if (!pending) {
          pending = this.fill(dir, source, seed, ctx, generate, precision).finally(() =>
            this.inflight.delete(dir),
          );
          this.inflight.set(dir, pending);
        }
        await pending;
      }
      this.touch(dir);
    } catch (err) {
      this.unpin(dir);
      throw err;
    }
    let released = false;
    return {
      dir,
      release: () => {
        if (released) return;
        released = true;
        this.unpin(dir);
      },
    };
  }

  /** Entries (complete, of this generator), least recently used first. */
  entries(): CacheEntry[] {
    let names;
    try {
      names = readdirSync(this.options.dir, { withFileTypes: true });
    } catch {
      return [];
    }
    const out: CacheEntry[] = [];
    for (const e of names) {
      if (!e.isDirectory() || isTempName(e.name)) continue;
      const dir = join(this.options.dir, e.name);
      if (!readOwnManifest(dir)) continue;
      let lastUsedMs = 0;
      try {
        lastUsedMs = statSync(join(dir, MANIFEST_FILE)).mtimeMs;
      } catch {
        continue;
      }
      out.push({ dir, bytes: treeBytes(dir), lastUsedMs });
    }
    return out.sort((a, b) => a.lastUsedMs - b.lastUsedMs || a.dir.localeCompare(b.dir));
  }

  /**
   * Evicts least recently used entries not in use until the total plus `incomingBytes` fits the
   * bound. Returns the evicted folders.
   */
  evict(incomingBytes = 0): string[] {
    const entries = this.entries();
    let total = incomingBytes + entries.reduce((s, e) => s + e.bytes, 0);
    const evicted: string[] = [];
    for (const e of entries) {
      if (total <= this.options.maxBytes) break;
      if (this.inUse.has(e.dir)) continue;
      try {
        // Renamed aside first: it disappears at once, and a crash mid-delete leaves a temp folder.
        const aside = tempSibling(confineEntry(this.options.root, e.dir));
        renameSync(confineEntry(this.options.root, e.dir), aside);
        removeConfined(this.options.root, aside);
      } catch {
        continue; // gone already, or refused: not counted as freed
      }
      total -= e.bytes;
      evicted.push(e.dir);
      this.options.onEvict?.(e.dir, e.bytes);
    }
    return evicted;
  }

  private async fill(
    dir: string,
    source: ResolvedModel,
    seed: number,
    ctx: RunContext,
    generate: GenerateFn,
    precision: GeneratedPrecision,
  ): Promise<void> {
    const { root } = this.options;
    mkdirConfined(root, this.options.dir);
    const target = confineEntry(root, dir);
    this.evict(expectedBytes(source));
    const tmp = tempSibling(target);
    try {
      await generate(
        {
          source,
          outDir: tmp,
          slug: slugify(source.id),
          weights: 'random',
          precision,
          seed,
          backends: ['cpu', 'cuda', 'webgpu'],
        },
        ctx,
      );
      if (readOwnManifest(target)) {
        removeConfined(root, tmp); // another process finished it first
        return;
      }
      // Whatever else is at an entry's name inside our reserved cache folder is a broken leftover.
      if (folderState(target).state !== 'absent') removeConfined(root, target);
      swapIn(root, tmp, target, { replaceOurs: false, shown: dir });
    } catch (err) {
      removeConfined(root, tmp);
      throw err;
    }
    this.evict();
  }

  private touch(dir: string): void {
    const now = Math.max(Date.now(), this.lastTouch + 1);
    this.lastTouch = now;
    try {
      utimesSync(join(dir, MANIFEST_FILE), now / 1000, now / 1000);
    } catch {
      // evicted by another process meanwhile: the caller's resolve will say so
    }
  }

  private pin(dir: string): void {
    this.inUse.set(dir, (this.inUse.get(dir) ?? 0) + 1);
  }

  private unpin(dir: string): void {
    const n = (this.inUse.get(dir) ?? 0) - 1;
    if (n > 0) this.inUse.set(dir, n);
    else this.inUse.delete(dir);
  }
}

const unbounded = new Map<string, ModelCache>();

/**
 * A registry model generated on demand into `cacheRoot` (no size bound, no lease): see ModelCache.
 * Resolves with the folder holding the implementation.
 */
export async function ensureGenerated(
  cacheRoot: string,
  source: ResolvedModel,
  seed: number,
  ctx: RunContext,
  generate: GenerateFn = runGenerationPipeline,
): Promise<string> {
  let cache = unbounded.get(cacheRoot);
  if (!cache) {
    cache = new ModelCache({ root: cacheRoot, dir: cacheRoot, maxBytes: Number.POSITIVE_INFINITY });
    unbounded.set(cacheRoot, cache);
  }
  const lease = await cache.acquire(source, seed, ctx, generate);
  lease.release();
  return lease.dir;
}
