/**
 * Which folders are ours to replace, and replacing them safely.
 *
 * A folder is ours only when it holds a manifest.json written by this generator (it parses, names
 * GENERATOR_NAME) and nothing the manifest does not list: an operator's own model.onnx, or a file
 * an operator added beside a generated model, makes it foreign, and a foreign folder is never
 * deleted or overwritten, `force` or not. Generations write into a temporary sibling that is
 * swapped in only when complete, so a failed or cancelled regeneration leaves the previous model.
 */
import { lstatSync, readdirSync, readFileSync, renameSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { CoreError, ErrorCode } from '../errors';
import { confineEntry, isTempName, removeConfined, tempSibling } from '../models/write-paths';
import { GENERATOR_NAME, MANIFEST_FILE, type GenerationManifest } from './manifest';

/** Folder names under DATA_DIR/models that are ours: the on-demand cache. */
export const RESERVED_MODEL_DIRS = ['.cache'] as const;

export type FolderState =
  | { state: 'absent' }
  | { state: 'empty' }
  | { state: 'ours'; manifest: GenerationManifest }
  | { state: 'foreign'; reason: string };

/** Our manifest in `dir`, or undefined (absent, unreadable, not JSON, another generator's). */
export function readOwnManifest(dir: string): GenerationManifest | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as Partial<GenerationManifest>;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
    if (m.generator?.name !== GENERATOR_NAME || !Array.isArray(m.files)) return undefined;
    return m as GenerationManifest;
  } catch {
    return undefined;
  }
}

/** What is at `p` (not following a symlink at `p` itself). */
export function folderState(p: string): FolderState {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return { state: 'absent' };
  }
  if (st.isSymbolicLink()) return { state: 'foreign', reason: 'is a symlink' };
  if (!st.isDirectory()) return { state: 'foreign', reason: 'is a file, not a folder' };
  const entries = readdirSync(p);
  if (entries.length === 0) return { state: 'empty' };
  if (!entries.includes(MANIFEST_FILE)) {
    return { state: 'foreign', reason: 'holds files and no manifest.json of this generator' };
  }
  const manifest = readOwnManifest(p);
  if (!manifest) return { state: 'foreign', reason: 'holds a manifest.json this generator did not write' };
  const listed = new Set([MANIFEST_FILE, ...manifest.files.map((f) => String(f.path).split('/')[0])]);
  const extra = entries.filter((e) => !listed.has(e));
  if (extra.length) {
    const shown = extra.slice(0, 5).join(', ') + (extra.length > 5 ? `, … (${extra.length} in all)` : '');
    return { state: 'foreign', reason: `holds files its manifest does not list (${shown})` };
  }
  return { state: 'ours', manifest };
}

/**
 * Why a path relative to DATA_DIR/models may not be a generation's output, or undefined: the
 * reserved cache folder (and anything inside it) and our temporary names.
 */
export function reservedOutputReason(rel: string): string | undefined {
  const segments = rel.split(/[\\/]+/).filter(Boolean);
  if ((RESERVED_MODEL_DIRS as readonly string[]).includes(segments[0] ?? '')) {
    return `${segments[0]} is reserved for the on-demand model cache`;
  }
  if (segments.some(isTempName)) return 'names of temporary folders are reserved';
  return undefined;
}

export interface SwapOptions {
  /** Replace a folder of ours already at the target (force); a foreign one is never replaced. */
  replaceOurs: boolean;
  /** How the target is named in messages (what the client sent). */
  shown: string;
}

/** Refuses a target that is not ours to write (see folderState); returns what is there. */
export function assertWritableTarget(target: string, opts: SwapOptions): FolderState {
  const state = folderState(target);
  if (state.state === 'foreign') {
    throw new CoreError(
      ErrorCode.CONFLICT,
      `${opts.shown} ${state.reason}: it was not generated here, so it is never overwritten (force only replaces a model this generator wrote); choose another output_dir`,
      { output_dir: opts.shown },
    );
  }
  if (state.state === 'ours' && !opts.replaceOurs) {
    throw new CoreError(
      ErrorCode.CONFLICT,
      `${opts.shown} already holds a generated model; pass force: true to overwrite it`,
      { output_dir: opts.shown },
    );
  }
  return state;
}

/**
 * Moves the complete folder `tmp` to `target` (both inside `root`): when the target is absent or an
 * empty folder, a rename; when it is ours and replaceOurs, the old one is moved aside first and
 * removed only once the new one is in place (put back if that fails). Anything else is refused.
 */
export function swapIn(root: string, tmp: string, target: string, opts: SwapOptions): void {
  const realTmp = confineEntry(root, tmp, opts.shown);
  const realTarget = confineEntry(root, target, opts.shown);
  const state = assertWritableTarget(realTarget, opts);
  if (state.state === 'absent') {
    renameSync(realTmp, realTarget);
    return;
  }
  if (state.state === 'empty') {
    rmdirSync(realTarget); // only ever removes an empty folder
    renameSync(realTmp, realTarget);
    return;
  }
  const old = tempSibling(realTarget);
  renameSync(realTarget, old);
  try {
    renameSync(realTmp, realTarget);
  } catch (err) {
    renameSync(old, realTarget);
    throw err;
  }
  removeConfined(root, old);
}
