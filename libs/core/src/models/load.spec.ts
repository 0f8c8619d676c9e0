import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { ErrorCode } from '../errors';
import { loadImplementation, loadResolvedModel } from './load';
import { resolveModelPath } from './paths';

const MODULE = (factor: number, asDefault: boolean) => `
const impl = {
  metadata: { id: 'double', family: 'onnx', inputs: [{ name: 'x', dtype: 'float32', shape: ['b'] }],
              outputs: [{ name: 'y', dtype: 'float32', shape: ['b'] }] },
  factor: ${factor},
  makeInputs(o) { return { n: o.batchSize * this.factor }; },
  async load(o) { return { backend: o.backend, run: async () => ({}), release: async () => {} }; },
};
${asDefault ? 'module.exports = { default: impl };' : 'module.exports = impl;'}
`;

describe('loadImplementation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'load-'));

  it('opens a plain .onnx file as the generic implementation', async () => {
    const impl = await loadImplementation({
      kind: 'onnx-file',
      path: join(HF_TINY, 'gpt2/torch_export.onnx'),
    });
    expect(impl.metadata.outputs.map((o) => o.name)).toEqual(['logits']);
    const viaPath = await loadResolvedModel(resolveModelPath('vit', [HF_TINY]), 'vit');
    expect(viaPath.metadata).toMatchObject({ id: 'vit', family: 'vision', imageSize: 32 });
  });

  it('requires a module exporting metadata, load and makeInputs, directly or as default, keeping `this`', async () => {
    writeFileSync(join(dir, 'plain.js'), MODULE(3, false));
    writeFileSync(join(dir, 'def.js'), MODULE(5, true));
    const a = await loadImplementation({ kind: 'module', path: join(dir, 'plain.js') });
    const b = await loadImplementation({ kind: 'module', path: join(dir, 'def.js') });
    expect(a.makeInputs({ batchSize: 2 })).toEqual({ n: 6 });
    expect(b.makeInputs({ batchSize: 2 })).toEqual({ n: 10 });
    expect((await a.load({ backend: 'cpu' })).backend).toBe('cpu');
  });

  it('refuses modules that are not implementations, with a clear error', async () => {
    writeFileSync(join(dir, 'bad.js'), 'module.exports = { metadata: {}, load() {} };');
    writeFileSync(join(dir, 'syntax.js'), 'module.exports = {;');
    const bad = loadImplementation({ kind: 'module', path: join(dir, 'bad.js') });
    await expect(bad).rejects.toMatchObject({ code: ErrorCode.INVALID_MODEL });
    await expect(bad).rejects.toThrow(/must export metadata .* \(it exports: metadata, load\)/);
    await expect(loadImplementation({ kind: 'module', path: join(dir, 'syntax.js') })).rejects.toMatchObject({
      code: ErrorCode.INVALID_MODEL,
    });
    await expect(loadImplementation({ kind: 'module', path: join(dir, 'none.js') })).rejects.toMatchObject({
      code: ErrorCode.MODEL_NOT_FOUND,
    });
  });
});
