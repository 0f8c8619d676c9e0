/**
 * Model names to files, confined to allowed roots.
 *
 * Symlinks are resolved (realpath) BEFORE the confinement check, so neither `../`, nor an
 * absolute path elsewhere, nor a symlink inside a root that points outside can reach a file
 * outside the roots. Every file the result names is itself resolved and checked.
 */
import { existsSync, readFileSync, readdirSync, realpathSync as jsRealpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CoreError, ErrorCode } from '../errors';

/** realpath(3) in one call: the JS realpathSync lstat()s every path component from JavaScript. */
const realpathSync = jsRealpathSync.native;

export type ModelPathKind = 'onnx-file' | 'module';

export interface ResolvedModelPath {
  kind: ModelPathKind;
  /** Real path of the .onnx file or the implementation module. */
  path: string;
  /** Real path of the folder holding it (where the sidecars are looked up). */
  dir: string;
  /** io.safetensors golden inputs/outputs (`input.<name>` / `output.<name>`). */
  goldenPath?: string;
  /** Hugging Face config.json. */
  configPath?: string;
  /** Hugging Face tokenizer.json. */
  tokenizerPath?: string;
}

export const GOLDEN_FILE = 'io.safetensors';
export const CONFIG_FILE = 'config.json';
export const TOKENIZER_FILE = 'tokenizer.json';
export const MODULE_EXTENSIONS = ['.js', '.cjs', '.ts'] as const;

/** Whether `p` is `root` or inside it (both already real, absolute paths). */
export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/** realpath of the longest existing prefix, with the missing rest appended: a non-existent path still gets a real location. */
function realOrNearest(p: string): { real: string; exists: boolean } {
  try {
    return { real: realpathSync(p), exists: true };
  } catch {
    const parent = dirname(p);
    if (parent === p) return { real: p, exists: false };
    return { real: join(realOrNearest(parent).real, basename(p)), exists: false };
  }
}

/** The roots as real absolute paths; roots that do not exist are dropped. */
export function realRoots(roots: readonly string[]): string[] {
  const out: string[] = [];
  for (const r of roots) {
    try {
      out.push(realpathSync(resolve(r)));
    } catch {
      // a configured root that does not exist confines nothing
    }
  }
  return out;
}

function confine(real: string, roots: string[], shown: string): void {
  if (!roots.some((r) => isInside(r, real))) {
    throw new CoreError(ErrorCode.PATH_OUTSIDE_ROOTS, `${shown} is outside the allowed model roots`, {
      path: shown,
    });
  }
}

/** A file inside `dir` by name, real and confined; undefined when absent or escaping. */
function sidecar(dir: string, name: string, roots: string[]): string | undefined {
  const p = join(dir, name);
  if (!existsSync(p)) return undefined;
  const real = realpathSync(p);
  if (!roots.some((r) => isInside(r, real))) return undefined;
  try {
    return statSync(real).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

function isModuleFile(name: string): boolean {
  if (name.endsWith('.d.ts') || /\.(spec|test)\.[cm]?[jt]s$/.test(name)) return false;
  return (MODULE_EXTENSIONS as readonly string[]).includes(extname(name));
}

/** In a generated folder: manifest.json names the slug; prefer <slug>.js over <slug>.ts. */
function moduleInDir(dir: string, files: string[]): string | undefined {
  const candidates: string[] = [];
  if (files.includes('manifest.json')) {
    try {
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      for (const key of ['entry', 'main', 'module', 'file']) {
        const v = m[key];
        if (typeof v === 'string' && !isAbsolute(v)) candidates.push(v);
      }
      for (const key of ['slug', 'name', 'id']) {
        const v = m[key];
        if (typeof v === 'string' && /^[\w.-]+$/.test(v)) {
          candidates.push(`${v}.js`, `${v}.cjs`, `${v}.ts`);
        }
      }
    } catch {
      throw new CoreError(ErrorCode.INVALID_MODEL, `${join(dir, 'manifest.json')} is not valid JSON`);
    }
  }
  for (const c of candidates) {
    const js = c.replace(/\.ts$/, '.js');
    if (files.includes(js) && isModuleFile(js)) return js;
    if (files.includes(c) && isModuleFile(c)) return c;
  }
  const modules = files.filter(isModuleFile);
  const js = modules.filter((f) => f.endsWith('.js') || f.endsWith('.cjs'));
  if (js.length === 1) return js[0];
  if (files.includes('manifest.json') && js.length === 0) {
    const ts = modules.filter((f) => f.endsWith('.ts'));
    if (ts.length === 1) return ts[0];
  }
  return undefined;
}

/**
 * Resolves a model name (a .onnx file, a folder holding one, or a generated implementation)
 * against the allowed roots. Relative names resolve against the first root.
 *
 * @throws CoreError PATH_OUTSIDE_ROOTS outside every root (after resolving symlinks),
 *   MODEL_NOT_FOUND when nothing is there, INVALID_MODEL when the target is not a model,
 *   VALIDATION for an empty name or no roots.
 */
export function resolveModelPath(name: string, roots: readonly string[]): ResolvedModelPath {
  if (typeof name !== 'string' || name.trim() === '' || name.includes('\0')) {
    throw new CoreError(ErrorCode.VALIDATION, 'model name must be a non-empty path');
  }
  const allowed = realRoots(roots);
  if (allowed.length === 0) {
    throw new CoreError(ErrorCode.VALIDATION, 'no existing model roots are configured');
  }
  const candidate = isAbsolute(name) ? resolve(name) : resolve(allowed[0]!, name);
  const { real, exists } = realOrNearest(candidate);
  // Confinement first: a missing file outside the roots is reported as outside, not as missing.
  confine(real, allowed, name);
  if (!exists) throw new CoreError(ErrorCode.MODEL_NOT_FOUND, `model not found: ${name}`, { path: name });

  const st = statSync(real);
  let file: string;
  let kind: ModelPathKind;
  if (st.isFile()) {
    file = real;
    if (extname(real) === '.onnx') kind = 'onnx-file';
    else if (isModuleFile(basename(real))) kind = 'module';
    else
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${name} is neither an .onnx file nor a model implementation module (.js/.ts)`,
      );
  } else if (st.isDirectory()) {
    const files = readdirSync(real).sort();
    const onnxFiles = files.filter((f) => f.endsWith('.onnx'));
    let chosen: string | undefined;
    // A generated folder is its implementation (generate(), encode() and its own input rules come
    // with it); a folder with a model.onnx and no manifest is that file.
    if (files.includes('manifest.json') && (chosen = moduleInDir(real, files))) {
      kind = 'module';
    } else if (files.includes('model.onnx')) {
      chosen = 'model.onnx';
      kind = 'onnx-file';
    } else if (onnxFiles.length === 1) {
      chosen = onnxFiles[0];
      kind = 'onnx-file';
    } else if (onnxFiles.length > 1) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${name} holds several .onnx files (${onnxFiles.join(', ')}) and no model.onnx: name the file`,
      );
    } else if ((chosen = moduleInDir(real, files))) {
      kind = 'module';
    } else {
      throw new CoreError(
        ErrorCode.MODEL_NOT_FOUND,
        `${name} holds no model.onnx, no single .onnx file and no implementation module`,
        { path: name },
      );
    }
    const inner = join(real, chosen!);
    file = realpathSync(inner);
    confine(file, allowed, join(name, chosen!));
    if (!statSync(file).isFile()) {
      throw new CoreError(ErrorCode.MODEL_NOT_FOUND, `${join(name, chosen!)} is not a file`);
    }
  } else {
    throw new CoreError(ErrorCode.INVALID_MODEL, `${name} is not a regular file or folder`);
  }

  // Sidecars sit beside the model as its folder names them: a model.onnx symlinked into a blob
  // store (the Hugging Face cache layout) still finds config.json in the folder the user named.
  let dir = st.isDirectory() ? real : dirname(real);
  if (!st.isDirectory()) {
    const namedDir = realOrNearest(dirname(candidate)).real;
    if (allowed.some((r) => isInside(r, namedDir))) dir = namedDir;
  }
  const out: ResolvedModelPath = { kind, path: file, dir };
  const golden = sidecar(dir, GOLDEN_FILE, allowed);
  const config = sidecar(dir, CONFIG_FILE, allowed);
  const tokenizer = sidecar(dir, TOKENIZER_FILE, allowed);
  if (golden) out.goldenPath = golden;
  if (config) out.configPath = config;
  if (tokenizer) out.tokenizerPath = tokenizer;
  return out;
}
