/**
 * Writes and deletes confined to a root (DATA_DIR), checked on real paths.
 *
 * `resolve()` alone is not enough: with `DATA_DIR/models/escape -> /elsewhere`, the lexical path
 * `DATA_DIR/models/escape/victim` is inside DATA_DIR but the file system writes to
 * `/elsewhere/victim`. Every helper here resolves the longest existing prefix of the path with
 * realpath(3) (so a symlink anywhere in the chain is followed), appends the missing rest, and
 * refuses the result unless it lies inside the real root. A dangling symlink (or a loop) in the
 * chain is refused too: writing through it would create its target wherever it points.
 *
 * Temporary folders are named `<target>.ipfsacc-tmp-<host>-<pid>-<instance>-<stamp>`, so a later
 * process can tell whose they are: a folder of this host whose process is gone (or whose pid is
 * ours but from an earlier instance) is stale; one of another host is stale after an age limit.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  type Dirent,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync as jsRealpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { CoreError, ErrorCode } from '../errors';
import { isInside } from './paths';

const realpathSync = jsRealpathSync.native;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function outside(shown: string, why: string): CoreError {
  return new CoreError(ErrorCode.PATH_OUTSIDE_ROOTS, `${shown} ${why}`, { path: shown });
}

/**
 * The real location `p` would be written at: realpath of its longest existing prefix, with the
 * missing rest appended. Throws PATH_OUTSIDE_ROOTS when a component exists but cannot be resolved
 * (a dangling symlink, a loop): writing through it would land wherever it points.
 */
export function realPathForWrite(p: string, shown: string = p): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch (err) {
    const code = errCode(err);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      throw outside(shown, `cannot be resolved (${code ?? 'error'})`);
    }
  }
  let exists = false;
  try {
    lstatSync(abs);
    exists = true;
  } catch {
    // nothing there: resolve the parent
  }
  if (exists) throw outside(shown, 'goes through a symlink that points nowhere');
  const parent = dirname(abs);
  if (parent === abs) return abs;
  return join(realPathForWrite(parent, shown), basename(abs));
}

/** The real root (created when missing, so a fresh DATA_DIR confines too). */
export function realRoot(root: string): string {
  const abs = resolve(root);
  try {
    return realpathSync(abs);
  } catch {
    return realPathForWrite(abs);
  }
}

/**
 * The real path of `p`, which must lie inside the real `root` (and not be the root itself unless
 * `allowRoot`). Throws PATH_OUTSIDE_ROOTS otherwise, naming `shown` (what the client sent).
 */
export function confineWrite(root: string, p: string, shown: string = p, allowRoot = false): string {
  const base = realRoot(root);
  const real = realPathForWrite(p, shown);
  if (!isInside(base, real) || (!allowRoot && real === base)) {
    throw outside(shown, 'resolves (symlinks followed) to a place outside the data folder: refused');
  }
  return real;
}

/** mkdir -p of `p` after confinement; checked again once created. Returns the real path. */
export function mkdirConfined(root: string, p: string, shown: string = p): string {
  const real = confineWrite(root, p, shown, true);
  mkdirSync(real, { recursive: true });
  return confineWrite(root, real, shown, true);
}

/** Writes a file at `p` (its folder is created) after confinement. */
export function writeFileConfined(
  root: string,
  p: string,
  data: string | Uint8Array,
  shown: string = p,
): void {
  mkdirConfined(root, dirname(p), shown);
  writeFileSync(confineWrite(root, p, shown), data);
}

/**
 * Removes `p` (recursively) when its real location is inside `root`; a symlink at `p` itself is
 * removed as a link, never followed. Missing is fine.
 */
export function removeConfined(root: string, p: string, shown: string = p): void {
  rmSync(confineEntry(root, p, shown), { recursive: true, force: true });
}

/**
 * `p` with its folder resolved (and confined inside `root`) and its last component kept as it is:
 * what a rename or remove of `p` acts on (a symlink at `p` is the link, not its target).
 */
export function confineEntry(root: string, p: string, shown: string = p): string {
  const abs = resolve(p);
  const real = join(confineWrite(root, dirname(abs), shown, true), basename(abs));
  const base = realRoot(root);
  if (!isInside(base, real) || real === base) throw outside(shown, 'is outside the data folder: refused');
  return real;
}

// ---------------------------------------------------------------------------------------------
// Temporary folders

/** Marks a temporary folder of ours; nothing a client names may contain it. */
export const TEMP_MARKER = '.ipfsacc-tmp-';
const TEMP_PATTERN = /\.ipfsacc-tmp-([0-9a-f]{8})-(\d+)-([0-9a-f]{8})-([0-9a-z]+)-([0-9a-z]+)$/;
/** Temporary cache folders of earlier versions: `<entry>.tmp-<pid>-<ms>`. */
const LEGACY_TEMP_PATTERN = /\.tmp-(\d+)-(\d+)$/;

/** This host, as 8 hex digits (host names may hold any character). */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
/** This process, as opposed to an earlier one that had the same pid (pid 1 in a container). */
export const INSTANCE_TAG = randomBytes(4).toString('hex');
let counter = 0;

/** A fresh temporary sibling name of `target`, owned by this process. */
export function tempSibling(target: string): string {
  counter = (counter + 1) % 1_000_000;
  return `${target}${TEMP_MARKER}${HOST_TAG}-${process.pid}-${INSTANCE_TAG}-${Date.now().toString(36)}-${counter.toString(36)}`;
}

export interface TempName {
  host: string;
  pid: number;
  instance: string;
  createdMs: number;
  legacy: boolean;
}

/** Whose temporary folder a name is; undefined when it is not one. */
export function parseTempName(name: string): TempName | undefined {
  const m = TEMP_PATTERN.exec(name);
  if (m) {
    return {
      host: m[1]!,
      pid: Number(m[2]),
      instance: m[3]!,
      createdMs: parseInt(m[4]!, 36),
      legacy: false,
    };
  }
  const l = LEGACY_TEMP_PATTERN.exec(name);
  if (l) return { host: '', pid: Number(l[1]), instance: '', createdMs: Number(l[2]), legacy: true };
  return undefined;
}

/** Whether a name is (or contains a segment that is) one of our temporary names. */
export function isTempName(name: string): boolean {
  return name.includes(TEMP_MARKER) || LEGACY_TEMP_PATTERN.test(name);
}

/** Whether a process with this pid exists on this host. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === 'EPERM'; // exists, owned by someone else
  }
}

export interface StaleOptions {
  /** Folders of other hosts (and of earlier versions) are stale after this long. */
  maxAgeMs: number;
  now?: number;
  /** For specs: whether a pid is alive on this host. */
  isAlive?: (pid: number) => boolean;
}

/**
 * Whether the temporary folder `name` (last modified at `mtimeMs`) was left by a process that is
 * gone: on this host, its pid no longer runs (or is ours from an earlier instance); on another
 * host (or an old name without one), it is older than maxAgeMs. Ours never is.
 */
export function isStaleTemp(name: string, mtimeMs: number, opts: StaleOptions): boolean {
  const t = parseTempName(name);
  if (!t) return false;
  const now = opts.now ?? Date.now();
  const old = now - Math.max(t.createdMs, mtimeMs) > opts.maxAgeMs;
  if (t.legacy || t.host !== HOST_TAG) return old;
  if (t.pid === process.pid) return t.instance !== INSTANCE_TAG;
  return !(opts.isAlive ?? pidAlive)(t.pid);
}

export interface SweepOptions extends StaleOptions {
  /** How deep to look under each folder (nested output_dir values). */
  maxDepth?: number;
  /** Also take the `.tmp-<pid>-<ms>` names of earlier versions (by age only). */
  legacy?: boolean;
}

/**
 * Removes stale temporary folders (see isStaleTemp) under `dir`, without following symlinks and
 * without leaving `root`. Returns the paths removed.
 */
export function sweepTemps(root: string, dir: string, opts: SweepOptions): string[] {
  const removed: string[] = [];
  const maxDepth = opts.maxDepth ?? 16;
  const walk = (d: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue; // symlinks are not followed
      const p = join(d, e.name);
      const t = parseTempName(e.name);
      if (t && (!t.legacy || opts.legacy)) {
        let mtimeMs = 0;
        try {
          mtimeMs = statSync(p).mtimeMs;
        } catch {
          continue;
        }
        if (isStaleTemp(e.name, mtimeMs, opts)) {
          try {
            removeConfined(root, p);
            removed.push(p);
          } catch {
            // refused or vanished: leave it
          }
        }
        continue;
      }
      if (depth < maxDepth) walk(p, depth + 1);
    }
  };
  try {
    const real = confineWrite(root, dir, dir, true);
    walk(real, 0);
  } catch {
    // a folder that escapes the root is not swept
  }
  return removed;
}

/** Folders of other hosts (and of earlier versions) count as abandoned after this long. */
export const DEFAULT_TEMP_MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * Start-up cleanup of DATA_DIR: temporary folders under models/ (generations, cache entries,
 * evictions) left by a process that is gone, legacy `.tmp-*` cache folders older than the age
 * limit, and the scratch folders of test runs under tmp/ (ours by name, or legacy `tmp/<id>`
 * folders older than the age limit). Never follows a symlink, never leaves DATA_DIR.
 */
export function sweepDataDir(dataDir: string, opts: Partial<SweepOptions> = {}): string[] {
  const o: SweepOptions = { maxAgeMs: DEFAULT_TEMP_MAX_AGE_MS, ...opts };
  const models = join(dataDir, 'models');
  const tmp = join(dataDir, 'tmp');
  const removed = [
    ...sweepTemps(dataDir, models, o),
    ...sweepTemps(dataDir, join(models, '.cache'), { ...o, maxDepth: 0, legacy: true }),
    ...sweepTemps(dataDir, tmp, { ...o, maxDepth: 0 }),
  ];
  const now = o.now ?? Date.now();
  let entries: Dirent[];
  try {
    entries = readdirSync(tmp, { withFileTypes: true });
  } catch {
    entries = [];
  }
  for (const e of entries) {
    if (!e.isDirectory() || parseTempName(e.name)) continue;
    const p = join(tmp, e.name);
    try {
      if (now - statSync(p).mtimeMs <= o.maxAgeMs) continue;
      removeConfined(dataDir, p);
      removed.push(p);
    } catch {
      // vanished or refused
    }
  }
  return removed;
}

/** Size in bytes of the files under `p` (symlinks counted as links, not followed). */
export function treeBytes(p: string): number {
  let total = 0;
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  for (const name of readdirSync(p)) total += treeBytes(join(p, name));
  return total;
}

/** `p` relative to `root`, with `/`, for messages. */
export function shownPath(root: string, p: string): string {
  return relative(root, p).split('\\').join('/') || '.';
}
