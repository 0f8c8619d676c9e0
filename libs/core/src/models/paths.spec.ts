import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { CoreError, ErrorCode } from '../errors';
import { isInside, resolveModelPath } from './paths';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof CoreError) return err.code;
    throw err;
  }
  return undefined;
}

describe('resolveModelPath', () => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'paths-')));
  const root = join(base, 'models');
  const outside = join(base, 'outside');
  beforeAll(() => {
    mkdirSync(root);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.onnx'), 'x');
    mkdirSync(join(root, 'plain'));
    writeFileSync(join(root, 'plain', 'model.onnx'), 'x');
    writeFileSync(join(root, 'plain', 'config.json'), '{}');
    writeFileSync(join(root, 'plain', 'io.safetensors'), 'x');
    writeFileSync(join(root, 'plain', 'tokenizer.json'), '{}');
    writeFileSync(join(root, 'single.onnx'), 'x');
    // generated implementation: manifest + compiled js + ts source
    mkdirSync(join(root, 'gen'));
    writeFileSync(join(root, 'gen', 'manifest.json'), JSON.stringify({ slug: 'bert-tiny' }));
    writeFileSync(join(root, 'gen', 'bert-tiny.ts'), 'export {}');
    writeFileSync(join(root, 'gen', 'bert-tiny.js'), 'module.exports = {}');
    writeFileSync(join(root, 'gen', 'bert-tiny.spec.ts'), '');
    mkdirSync(join(root, 'two'));
    writeFileSync(join(root, 'two', 'a.onnx'), 'x');
    writeFileSync(join(root, 'two', 'b.onnx'), 'x');
    mkdirSync(join(root, 'empty'));
    // escapes
    symlinkSync(join(outside, 'secret.onnx'), join(root, 'link-out.onnx'));
    symlinkSync(outside, join(root, 'dir-out'));
    mkdirSync(join(root, 'inner-link'));
    symlinkSync(join(outside, 'secret.onnx'), join(root, 'inner-link', 'model.onnx'));
    // a symlink that stays inside is fine
    symlinkSync(join(root, 'single.onnx'), join(root, 'link-in.onnx'));
  });

  it('resolves a folder with model.onnx and its sidecars', () => {
    const r = resolveModelPath('plain', [root]);
    expect(r).toEqual({
      kind: 'onnx-file',
      path: join(root, 'plain', 'model.onnx'),
      dir: join(root, 'plain'),
      goldenPath: join(root, 'plain', 'io.safetensors'),
      configPath: join(root, 'plain', 'config.json'),
      tokenizerPath: join(root, 'plain', 'tokenizer.json'),
    });
    expect(resolveModelPath(join(root, 'plain', 'model.onnx'), [root]).configPath).toBe(
      join(root, 'plain', 'config.json'),
    );
  });

  it('accepts a folder whose only .onnx file is unambiguous (the hf-tiny layout)', () => {
    const r = resolveModelPath(join(HF_TINY, 'bert'), [HF_TINY]);
    expect(r.kind).toBe('onnx-file');
    expect(r.path).toBe(realpathSync(join(HF_TINY, 'bert', 'torch_export.onnx')));
    expect(r.goldenPath).toBe(realpathSync(join(HF_TINY, 'bert', 'io.safetensors')));
    expect(r.configPath).toBe(realpathSync(join(HF_TINY, 'bert', 'config.json')));
    expect(r.tokenizerPath).toBeUndefined();
    expect(resolveModelPath('gpt2', [HF_TINY]).path).toMatch(/gpt2\/torch_export\.onnx$/);
    expect(codeOf(() => resolveModelPath('two', [root]))).toBe(ErrorCode.INVALID_MODEL);
  });

  it('resolves generated implementations, preferring the compiled .js', () => {
    const r = resolveModelPath('gen', [root]);
    expect(r.kind).toBe('module');
    expect(r.path).toBe(join(root, 'gen', 'bert-tiny.js'));
    expect(resolveModelPath('gen/bert-tiny.ts', [root]).kind).toBe('module');
    expect(resolveModelPath('single.onnx', [root]).kind).toBe('onnx-file');
    expect(resolveModelPath('link-in.onnx', [root]).path).toBe(join(root, 'single.onnx'));
  });

  it('rejects ../ escapes, absolute paths elsewhere and symlinks pointing outside', () => {
    for (const name of [
      '../outside/secret.onnx',
      '../outside/missing.onnx',
      'plain/../../outside',
      join(outside, 'secret.onnx'),
      '/etc/passwd',
      'link-out.onnx',
      'dir-out/secret.onnx',
      'dir-out',
      'inner-link',
    ]) {
      expect([name, codeOf(() => resolveModelPath(name, [root]))]).toEqual([
        name,
        ErrorCode.PATH_OUTSIDE_ROOTS,
      ]);
    }
    // the same files are fine when their root is allowed
    expect(resolveModelPath(join(outside, 'secret.onnx'), [root, outside]).kind).toBe('onnx-file');
    expect(resolveModelPath('link-out.onnx', [root, outside]).path).toBe(join(outside, 'secret.onnx'));
  });

  it('reports missing models and bad names', () => {
    expect(codeOf(() => resolveModelPath('nope', [root]))).toBe(ErrorCode.MODEL_NOT_FOUND);
    expect(codeOf(() => resolveModelPath('plain/nope.onnx', [root]))).toBe(ErrorCode.MODEL_NOT_FOUND);
    expect(codeOf(() => resolveModelPath('empty', [root]))).toBe(ErrorCode.MODEL_NOT_FOUND);
    expect(codeOf(() => resolveModelPath('plain/config.json', [root]))).toBe(ErrorCode.INVALID_MODEL);
    expect(codeOf(() => resolveModelPath('', [root]))).toBe(ErrorCode.VALIDATION);
    expect(codeOf(() => resolveModelPath('plain', [join(base, 'no-such-root')]))).toBe(ErrorCode.VALIDATION);
  });

  it('isInside compares path segments, not prefixes', () => {
    expect(isInside('/a/b', '/a/b')).toBe(true);
    expect(isInside('/a/b', '/a/b/c')).toBe(true);
    expect(isInside('/a/b', '/a/bc')).toBe(false);
    expect(isInside('/a/b', '/a')).toBe(false);
    expect(relative('/a/b', '/a/b/..c')).toBe('..c');
    expect(isInside('/a/b', '/a/b/..c')).toBe(true);
  });
});
