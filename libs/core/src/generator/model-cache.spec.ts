import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { ErrorCode } from '../errors';
import { resolveModel } from '../models/registry';
import { treeBytes } from '../models/write-paths';
import { MANIFEST_FILE } from './manifest';
import { cachedModelDir, ModelCache } from './model-cache';

jest.setTimeout(300_000);

const ctx = { signal: new AbortController().signal, onProgress: () => undefined };
const source = resolveModel(join(HF_TINY, 'bert'));

describe('ModelCache: on-demand models, bounded, evicted least recently used first', () => {
  let root: string;
  let cacheDir: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'model-cache-'));
    cacheDir = join(root, 'models', '.cache');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** One entry's size, to set bounds in entries. */
  async function entryBytes(): Promise<number> {
    const probe = new ModelCache({ root, dir: join(root, 'probe'), maxBytes: Number.POSITIVE_INFINITY });
    const lease = await probe.acquire(source, 99, ctx);
    lease.release();
    const bytes = treeBytes(lease.dir);
    rmSync(join(root, 'probe'), { recursive: true, force: true });
    return bytes;
  }

  it('generates once, then reuses the entry; nothing temporary is left', async () => {
    const cache = new ModelCache({ root, dir: cacheDir, maxBytes: Number.POSITIVE_INFINITY });
    const [a, b] = await Promise.all([cache.acquire(source, 0, ctx), cache.acquire(source, 0, ctx)]);
    expect(a.dir).toBe(b.dir);
    expect(a.dir).toBe(cachedModelDir(cacheDir, source, 0));
    expect(existsSync(join(a.dir, MANIFEST_FILE))).toBe(true);
    expect(readdirSync(cacheDir)).toHaveLength(1);
    a.release();
    b.release();
  });

  it('evicts the least recently used entry when a new one would exceed the bound', async () => {
    const size = await entryBytes();
    const evicted: string[] = [];
    const cache = new ModelCache({
      root,
      dir: cacheDir,
      maxBytes: Math.floor(size * 2.5),
      onEvict: (dir) => evicted.push(dir),
    });
    const use = async (seed: number): Promise<string> => {
      const lease = await cache.acquire(source, seed, ctx);
      lease.release();
      return lease.dir;
    };
    const e0 = await use(0);
    const e1 = await use(1);
    await use(0); // 0 is now more recent than 1
    const e2 = await use(2);
    expect(evicted).toEqual([e1]);
    expect(existsSync(e0)).toBe(true);
    expect(existsSync(e1)).toBe(false);
    expect(existsSync(e2)).toBe(true);
    expect(cache.entries().map((e) => e.dir)).toEqual([e0, e2]);
    expect(readdirSync(cacheDir).sort()).toEqual([e0, e2].map((d) => d.slice(cacheDir.length + 1)).sort());
  });

  it('never evicts an entry a running job holds, even the least recently used', async () => {
    const size = await entryBytes();
    const evicted: string[] = [];
    const cache = new ModelCache({
      root,
      dir: cacheDir,
      maxBytes: Math.floor(size * 2.5),
      onEvict: (dir) => evicted.push(dir),
    });
    const held = await cache.acquire(source, 0, ctx); // held for the whole case
    const l1 = await cache.acquire(source, 1, ctx);
    l1.release();
    const l2 = await cache.acquire(source, 2, ctx);
    l2.release();
    expect(evicted).toEqual([l1.dir]); // 0 was the oldest use, but it is held
    expect(existsSync(held.dir)).toBe(true);
    held.release();
    const l3 = await cache.acquire(source, 3, ctx);
    l3.release();
    expect(evicted).toEqual([l1.dir, held.dir]); // released: now it goes first
  });

  it('a cancelled generation leaves no temporary folder; a broken leftover at an entry is replaced', async () => {
    const cache = new ModelCache({ root, dir: cacheDir, maxBytes: Number.POSITIVE_INFINITY });
    const controller = new AbortController();
    const err = await cache
      .acquire(source, 5, {
        signal: controller.signal,
        onProgress: (r) => {
          if (r.step === 'type-check') controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.CANCELLED });
    expect(readdirSync(cacheDir)).toEqual([]);

    const dir = cachedModelDir(cacheDir, source, 6);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.onnx.data'), 'half of an old version');
    const lease = await cache.acquire(source, 6, ctx);
    lease.release();
    expect(readdirSync(cacheDir)).toEqual([dir.slice(cacheDir.length + 1)]);
    expect(existsSync(join(dir, MANIFEST_FILE))).toBe(true);
  });
});
