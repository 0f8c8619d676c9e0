import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { REPO_ROOT } from '../../../../test/fixtures';
import {
  cidOfBytes,
  cidOfFile,
  generatorVersion,
  serializeManifest,
  verifyManifest,
  type GenerationManifest,
} from './manifest';

describe('content ids', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gen-cid-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are CIDv1, raw codec, sha2-256, base32 (the well-known id of empty input)', () => {
    expect(cidOfBytes(new Uint8Array())).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku');
    const cid = CID.parse(cidOfBytes('hello'));
    expect(cid.version).toBe(1);
    expect(cid.code).toBe(raw.code);
    expect(cid.multihash.code).toBe(sha256.code);
  });

  it('streaming a file gives the same id as multiformats hashing the bytes in memory', async () => {
    const bytes = new Uint8Array(9 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const path = join(dir, 'big.bin');
    writeFileSync(path, bytes);
    const expected = CID.create(1, raw.code, await sha256.digest(bytes)).toString();
    expect(await cidOfFile(path)).toEqual({ cid: expected, bytes: bytes.length });
    expect(cidOfBytes(bytes)).toBe(expected);
  });

  it('verifyManifest finds changed and missing files', async () => {
    writeFileSync(join(dir, 'a.txt'), 'alpha');
    writeFileSync(join(dir, 'b.txt'), 'beta');
    const manifest = {
      files: [
        { path: 'a.txt', role: 'implementation', ...(await cidOfFile(join(dir, 'a.txt'))) },
        { path: 'b.txt', role: 'spec', ...(await cidOfFile(join(dir, 'b.txt'))) },
      ],
    } as unknown as GenerationManifest;
    writeFileSync(join(dir, 'manifest.json'), serializeManifest(manifest));
    expect(await verifyManifest(join(dir, 'manifest.json'))).toEqual({ ok: true, mismatches: [] });
    writeFileSync(join(dir, 'a.txt'), 'alphA');
    rmSync(join(dir, 'b.txt'));
    const result = await verifyManifest(join(dir, 'manifest.json'));
    expect(result.ok).toBe(false);
    expect(result.mismatches).toEqual([
      { path: 'a.txt', expected: manifest.files[0]!.cid, actual: cidOfBytes('alphA') },
      { path: 'b.txt', expected: manifest.files[1]!.cid, actual: null },
    ]);
  });

  it('an aborted hash stops with CANCELLED', async () => {
    writeFileSync(join(dir, 'c.bin'), new Uint8Array(1024));
    const controller = new AbortController();
    controller.abort();
    await expect(cidOfFile(join(dir, 'c.bin'), controller.signal)).rejects.toMatchObject({
      code: 'CANCELLED',
    });
  });

  it('the generator version is the package version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(generatorVersion()).toBe(pkg.version);
  });
});
