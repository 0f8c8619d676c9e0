import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreError, ErrorCode } from '../errors';
import { hostNodeModules, sharedSourceFilesParsed, typecheckAndCompile } from './compile';

jest.setTimeout(60_000);

describe('typecheckAndCompile', () => {
  // A folder outside the repository: packages and their types must come from the host's node_modules.
  const dir = mkdtempSync(join(tmpdir(), 'gen-tsc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the node_modules it runs with', () => {
    expect(existsSync(join(hostNodeModules(), 'onnxruntime-node', 'package.json'))).toBe(true);
  });

  it('type-checks against onnxruntime-node from a folder outside the repo and emits CommonJS beside it', () => {
    const ts = join(dir, 'ok.ts');
    writeFileSync(
      ts,
      [
        "import * as ort from 'onnxruntime-node';",
        "export const t: ort.Tensor = new ort.Tensor('float32', new Float32Array(4), [2, 2]);",
        'export const here: string = __dirname;',
      ].join('\n'),
    );
    const result = typecheckAndCompile(ts);
    expect(result.jsPath).toBe(join(dir, 'ok.js'));
    const js = readFileSync(result.jsPath!, 'utf8');
    expect(js).toContain('require("onnxruntime-node")');
    expect(js).toContain('exports.t');
  });

  it('strict errors fail with INVALID_MODEL, the formatted diagnostics, and no output', () => {
    const ts = join(dir, 'bad.ts');
    writeFileSync(
      ts,
      ['export function f(x) {', '  return x.length;', '}', "export const n: number = 'text';"].join('\n'),
    );
    let error: unknown;
    try {
      typecheckAndCompile(ts);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CoreError);
    expect((error as CoreError).code).toBe(ErrorCode.INVALID_MODEL);
    expect((error as CoreError).message).toMatch(
      /bad\.ts\(1,19\): error TS7006: Parameter 'x' implicitly has an 'any' type/,
    );
    expect((error as CoreError).message).toMatch(
      /error TS2322: Type 'string' is not assignable to type 'number'/,
    );
    expect(existsSync(join(dir, 'bad.js'))).toBe(false);
  });

  it('an unresolvable import fails too', () => {
    const ts = join(dir, 'missing.ts');
    writeFileSync(ts, "import { x } from 'no-such-package-anywhere';\nexport const y = x;\n");
    expect(() => typecheckAndCompile(ts)).toThrow(/TS2307: Cannot find module 'no-such-package-anywhere'/);
  });

  it('checks without emitting when asked, with jest types for specs', () => {
    const ts = join(dir, 'thing.spec.ts');
    writeFileSync(ts, "describe('x', () => { it('y', () => { expect(1).toBe(1); }); });\n");
    expect(typecheckAndCompile(ts, { emit: false, types: ['node', 'jest'] }).jsPath).toBeUndefined();
    expect(existsSync(join(dir, 'thing.spec.js'))).toBe(false);
    expect(() => typecheckAndCompile(ts)).toThrow(/Cannot find name 'describe'/);
  });

  it('reuses parsed library files: a second program parses none of them again', () => {
    const ts = join(dir, 'again.ts');
    writeFileSync(ts, "import * as ort from 'onnxruntime-node';\nexport const e = ort.env;\n");
    typecheckAndCompile(ts);
    const shared = sharedSourceFilesParsed();
    expect(shared).toBeGreaterThan(0);
    typecheckAndCompile(ts);
    expect(sharedSourceFilesParsed()).toBe(shared);
  });

  it('a missing file is NOT_FOUND', () => {
    expect(() => typecheckAndCompile(join(dir, 'nope.ts'))).toThrow(
      expect.objectContaining({ code: ErrorCode.NOT_FOUND }),
    );
  });
});
