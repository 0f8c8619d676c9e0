/**
 * Type-checks a generated module with the TypeScript compiler API (`strict`, `noEmitOnError`) and
 * emits its CommonJS `.js` beside it.
 *
 * The output folder may lie anywhere (DATA_DIR), far from any node_modules, so the compiler host
 * resolves every import first from the file's own folder and then from the node_modules this
 * generator runs with (onnxruntime-node ships its types; @types/node and @types/jest come from
 * there too). Library files (lib.*.d.ts, @types, package typings) are parsed once per process and
 * shared between programs, so the second and later compilations take a fraction of the first.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import ts from 'typescript';
import { CoreError, ErrorCode } from '../errors';

/** The node_modules folder this generator resolves packages from (found from where typescript lives). */
export function hostNodeModules(): string {
  let dir = dirname(require.resolve('typescript'));
  for (;;) {
    if (basename(dir) === 'node_modules') return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new CoreError(ErrorCode.INTERNAL, 'cannot find the node_modules folder of typescript');
    dir = parent;
  }
}

export interface CompileOptions {
  /** Write `<name>.js` beside the source (default true); false only type-checks. */
  emit?: boolean;
  /** Ambient type packages (default ['node']; a spec needs ['node', 'jest']). */
  types?: string[];
}

export interface CompileResult {
  tsPath: string;
  /** The emitted file, when `emit` was on. */
  jsPath?: string;
  durationMs: number;
}

const BASE_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmitOnError: true,
  noImplicitOverride: true,
  noFallthroughCasesInSwitch: true,
  forceConsistentCasingInFileNames: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  esModuleInterop: true,
  skipLibCheck: true,
  declaration: false,
  sourceMap: false,
  removeComments: false,
  newLine: ts.NewLineKind.LineFeed,
};

/** Parsed library and dependency files, shared by every program: they never change while we run. */
const sharedSourceFiles = new Map<string, ts.SourceFile>();

let sharedParses = 0;

/** How many times a library or dependency file was parsed (each once per process, then reused). */
export function sharedSourceFilesParsed(): number {
  return sharedParses;
}

function isSharedFile(fileName: string, nodeModules: string, libDir: string): boolean {
  return fileName.startsWith(nodeModules) || fileName.startsWith(libDir);
}

function createHost(options: ts.CompilerOptions, nodeModules: string): ts.CompilerHost {
  const host = ts.createCompilerHost(options, true);
  const libDir = dirname(ts.getDefaultLibFilePath(options));
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const shared = isSharedFile(resolve(fileName), nodeModules, libDir);
    const key = `${fileName}\0${JSON.stringify(languageVersion)}`;
    if (shared) {
      const cached = sharedSourceFiles.get(key);
      if (cached) return cached;
    }
    const file = getSourceFile(fileName, languageVersion, onError, shouldCreate);
    if (file && shared) {
      sharedParses++;
      sharedSourceFiles.set(key, file);
    }
    return file;
  };
  // Resolve from the file's folder first, then as if the importing file lived beside node_modules.
  const hostAnchor = join(dirname(nodeModules), '__generated__.ts');
  const cache = ts.createModuleResolutionCache(host.getCurrentDirectory(), (f) => f, options);
  host.resolveModuleNameLiterals = (literals, containingFile, redirected, opts) =>
    literals.map((literal) => {
      const name = literal.text;
      const local = ts.resolveModuleName(name, containingFile, opts, host, cache, redirected);
      if (local.resolvedModule || name.startsWith('.') || name.startsWith('/')) return local;
      return ts.resolveModuleName(name, hostAnchor, opts, host, cache, redirected);
    });
  return host;
}

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[], cwd: string): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => cwd,
    getNewLine: () => '\n',
  });
}

/**
 * Type-checks `tsPath` (strict) and writes `<name>.js` beside it. Any diagnostic fails with
 * CoreError(INVALID_MODEL) carrying the formatted diagnostics, and nothing is emitted.
 */
export function typecheckAndCompile(tsPath: string, options: CompileOptions = {}): CompileResult {
  const started = performance.now();
  const file = resolve(tsPath);
  if (!existsSync(file)) throw new CoreError(ErrorCode.NOT_FOUND, `${file} does not exist`);
  const nodeModules = hostNodeModules();
  const emit = options.emit ?? true;
  const compilerOptions: ts.CompilerOptions = {
    ...BASE_OPTIONS,
    types: options.types ?? ['node'],
    typeRoots: [join(nodeModules, '@types')],
    rootDir: dirname(file),
    outDir: dirname(file),
    noEmit: !emit,
  };
  const host = createHost(compilerOptions, nodeModules);
  const program = ts.createProgram({ rootNames: [file], options: compilerOptions, host });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) {
    const text = formatDiagnostics(diagnostics, dirname(file));
    throw new CoreError(ErrorCode.INVALID_MODEL, `${basename(file)} does not type-check:\n${text}`, {
      diagnostics: text,
    });
  }
  if (!emit) return { tsPath: file, durationMs: performance.now() - started };
  const jsPath = join(dirname(file), basename(file, extname(file)) + '.js');
  const written: string[] = [];
  const result = program.emit(program.getSourceFile(file), (fileName, text) => {
    if (resolve(fileName) !== jsPath) return;
    host.writeFile(fileName, text, false);
    written.push(fileName);
  });
  if (result.emitSkipped || written.length === 0) {
    const text = formatDiagnostics(result.diagnostics, dirname(file));
    throw new CoreError(ErrorCode.INTERNAL, `${basename(file)} was not emitted:\n${text}`, {
      diagnostics: text,
    });
  }
  return { tsPath: file, jsPath, durationMs: performance.now() - started };
}
