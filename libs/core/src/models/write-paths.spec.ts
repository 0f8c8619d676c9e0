import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CoreError, ErrorCode } from '../errors';
import {
  HOST_TAG,
  confineEntry,
  confineWrite,
  isStaleTemp,
  mkdirConfined,
  parseTempName,
  realPathForWrite,
  removeConfined,
  sweepDataDir,
  tempSibling,
  writeFileConfined,
} from './write-paths';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CoreError ? err.code : `not a CoreError: ${String(err)}`;
  }
  return undefined;
}

/** A pid that ran on this host and has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(child.stdout);
}

describe('confined writes (real paths, symlinks resolved parent by parent)', () => {
  let base: string;
  let root: string;
  let outside: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'write-paths-'));
    root = join(base, 'data');
    outside = join(base, 'elsewhere');
    mkdirSync(join(root, 'models'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim'), 'precious');
    symlinkSync(outside, join(root, 'models', 'escape'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('a symlink in the chain that leads outside is refused, for writes, folders and deletes', () => {
    const through = join(root, 'models', 'escape', 'victim');
    expect(codeOf(() => confineWrite(root, through))).toBe(ErrorCode.PATH_OUTSIDE_ROOTS);
    expect(codeOf(() => confineWrite(root, join(root, 'models', 'escape', 'new', 'deeper')))).toBe(
      ErrorCode.PATH_OUTSIDE_ROOTS,
    );
    expect(codeOf(() => mkdirConfined(root, join(root, 'models', 'escape', 'made')))).toBe(
      ErrorCode.PATH_OUTSIDE_ROOTS,
    );
    expect(codeOf(() => writeFileConfined(root, through, 'overwritten'))).toBe(ErrorCode.PATH_OUTSIDE_ROOTS);
    expect(codeOf(() => removeConfined(root, through))).toBe(ErrorCode.PATH_OUTSIDE_ROOTS);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('precious');
    expect(existsSync(join(outside, 'made'))).toBe(false);
  });

  it('a dangling symlink in the chain is refused (writing through it would create its target)', () => {
    symlinkSync(join(outside, 'not-yet'), join(root, 'models', 'dangling'));
    expect(codeOf(() => realPathForWrite(join(root, 'models', 'dangling', 'x')))).toBe(
      ErrorCode.PATH_OUTSIDE_ROOTS,
    );
    expect(codeOf(() => mkdirConfined(root, join(root, 'models', 'dangling')))).toBe(
      ErrorCode.PATH_OUTSIDE_ROOTS,
    );
    expect(existsSync(join(outside, 'not-yet'))).toBe(false);
  });

  it('paths inside are written at their real place; a missing rest is appended to the real prefix', () => {
    mkdirSync(join(root, 'models', 'real-folder'));
    symlinkSync(join(root, 'models', 'real-folder'), join(root, 'models', 'inner-link'));
    const made = mkdirConfined(root, join(root, 'models', 'inner-link', 'a', 'b'));
    expect(made.endsWith(join('real-folder', 'a', 'b'))).toBe(true);
    expect(existsSync(join(root, 'models', 'real-folder', 'a', 'b'))).toBe(true);
    writeFileConfined(root, join(root, 'test-results', 'r.json'), '{}');
    expect(readFileSync(join(root, 'test-results', 'r.json'), 'utf8')).toBe('{}');
    // `..` cannot climb out either, and the root itself is not a target.
    expect(codeOf(() => confineWrite(root, join(root, '..', 'elsewhere', 'x')))).toBe(
      ErrorCode.PATH_OUTSIDE_ROOTS,
    );
    expect(codeOf(() => confineEntry(root, root))).toBe(ErrorCode.PATH_OUTSIDE_ROOTS);
  });

  it('removing a symlink removes the link, never what it points to', () => {
    mkdirSync(join(root, 'models', 'kept'));
    writeFileSync(join(root, 'models', 'kept', 'f'), 'x');
    symlinkSync(join(root, 'models', 'kept'), join(root, 'models', 'link'));
    removeConfined(root, join(root, 'models', 'link'));
    expect(() => lstatSync(join(root, 'models', 'link'))).toThrow();
    expect(readFileSync(join(root, 'models', 'kept', 'f'), 'utf8')).toBe('x');
    removeConfined(root, join(root, 'models', 'escape'));
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('precious');
  });
});

describe('temporary folders and the start-up sweep', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'sweep-'));
    mkdirSync(join(root, 'models', '.cache'), { recursive: true });
    mkdirSync(join(root, 'tmp'), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const day = 24 * 3600 * 1000;

  it('names say whose they are', () => {
    const name = basename(tempSibling(join(root, 'models', 'bert')));
    expect(name.startsWith('bert.ipfsacc-tmp-')).toBe(true);
    expect(parseTempName(name)).toMatchObject({ host: HOST_TAG, pid: process.pid, legacy: false });
    expect(parseTempName('bert')).toBeUndefined();
    expect(parseTempName('gpt2-0123456789abcdef.tmp-4242-1700000000000')).toMatchObject({
      pid: 4242,
      legacy: true,
    });
  });

  it('stale: a dead pid of this host, or ours from an earlier instance; never ours; other hosts by age', () => {
    const now = Date.now();
    const ours = basename(tempSibling('x'));
    expect(isStaleTemp(ours, now, { maxAgeMs: day })).toBe(false);
    expect(isStaleTemp(ours, now - 2 * day, { maxAgeMs: day, now })).toBe(false);
    const dead = ours.replace(`-${process.pid}-`, `-${deadPid()}-`);
    expect(isStaleTemp(dead, now, { maxAgeMs: day })).toBe(true);
    const earlierInstance = ours.replace(/-([0-9a-f]{8})-([0-9a-z]+)-([0-9a-z]+)$/, '-00000000-$2-$3');
    expect(isStaleTemp(earlierInstance, now, { maxAgeMs: day })).toBe(true);
    const otherHost = ours.replace(HOST_TAG, HOST_TAG === 'ffffffff' ? 'eeeeeeee' : 'ffffffff');
    expect(isStaleTemp(otherHost, now, { maxAgeMs: day, now, isAlive: () => false })).toBe(false);
    expect(isStaleTemp(otherHost, now - 2 * day, { maxAgeMs: day, now: now + 2 * day })).toBe(true);
  });

  it('sweepDataDir removes what crashed processes left and keeps what live ones are writing', () => {
    const gone = deadPid();
    const make = (p: string, mtimeMs?: number): string => {
      mkdirSync(p, { recursive: true });
      writeFileSync(join(p, 'model.onnx.data'), 'half-written');
      if (mtimeMs !== undefined) utimesSync(p, mtimeMs / 1000, mtimeMs / 1000);
      return p;
    };
    const asDead = (p: string): string =>
      join(dirname(p), basename(p).replace(`-${process.pid}-`, `-${gone}-`));
    const stale = [
      make(asDead(tempSibling(join(root, 'models', 'bert')))),
      make(asDead(tempSibling(join(root, 'models', 'nested', 'deep', 'gpt2')))),
      make(asDead(tempSibling(join(root, 'models', '.cache', 'gpt2-0123456789abcdef')))),
      make(asDead(tempSibling(join(root, 'tmp', 'run-1')))),
      make(
        join(root, 'models', '.cache', `gpt2-0123456789abcdef.tmp-${gone}-1700000000000`),
        Date.now() - 2 * day,
      ),
      make(join(root, 'tmp', 'old-run-id'), Date.now() - 2 * day),
    ];
    const live = [
      make(tempSibling(join(root, 'models', 'bert'))),
      make(tempSibling(join(root, 'models', '.cache', 'llama-0123456789abcdef'))),
      make(tempSibling(join(root, 'tmp', 'run-2'))),
      make(join(root, 'tmp', 'young-run-id')),
      // Not temporary at all: an operator's folder and a model of ours.
      make(join(root, 'models', 'operator-model')),
    ];
    const removed = sweepDataDir(root);
    expect(removed.sort()).toEqual(stale.map((p) => confineEntry(root, p)).sort());
    for (const p of stale) expect(existsSync(p)).toBe(false);
    for (const p of live) expect(existsSync(join(p, 'model.onnx.data'))).toBe(true);
  });

  it('the sweep does not follow a symlink out of DATA_DIR', () => {
    const outside = mkdtempSync(join(tmpdir(), 'sweep-outside-'));
    try {
      const victim = tempSibling(join(outside, 'x')).replace(`-${process.pid}-`, `-${deadPid()}-`);
      mkdirSync(victim);
      symlinkSync(outside, join(root, 'models', 'escape'));
      expect(sweepDataDir(root)).toEqual([]);
      expect(existsSync(victim)).toBe(true);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
