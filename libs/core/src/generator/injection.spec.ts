import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { generateImplementation } from './generate';
import { loadGeneratedModule } from './loader';
import { readOnnxIo } from '../models/onnx-file';
import { slugify } from './slug';

jest.setTimeout(120_000);

/** Everything that could end a string, a template literal, a comment, a line or a script block. */
const PAYLOAD = [
  "'; process.exit(1); //",
  '"; globalThis.__pwned = 1; //',
  '`; globalThis.__pwned = 2; `',
  '${(globalThis.__pwned = 3)}',
  '*/ globalThis.__pwned = 4; /*',
  '\n globalThis.__pwned = 5;\n',
  '\u2028 globalThis.__pwned = 6;',
  '</script><script>globalThis.__pwned = 7</script>',
  '\\',
].join(' ');

describe('values interpolated into generated code stay data', () => {
  const root = mkdtempSync(join(tmpdir(), 'gen-inj-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a hostile model id, config and template_context compile and round-trip as data', async () => {
    const dir = join(root, 'model');
    mkdirSync(dir);
    copyFileSync(join(HF_TINY, 'bert', 'torch_export.onnx'), join(dir, 'model.onnx'));
    const io = await readOnnxIo(join(dir, 'model.onnx'));
    const config = {
      ...(JSON.parse(readFileSync(join(HF_TINY, 'bert', 'config.json'), 'utf8')) as Record<string, unknown>),
      [PAYLOAD]: PAYLOAD,
      architectures: [PAYLOAD],
    };
    const slug = slugify(PAYLOAD);
    expect(slug).toMatch(/^[a-z0-9-]+$/);
    const result = await generateImplementation({
      modelDir: dir,
      slug,
      modelId: PAYLOAD,
      family: 'encoder',
      config,
      inputs: io.inputs,
      outputs: io.outputs,
      backends: ['cpu'],
      templateContext: { description: PAYLOAD },
      weightsSource: 'random',
      precision: 'fp32',
    });
    // Both files type-checked during generation; the payload never appears raw in them.
    for (const file of [result.filePath, result.specPath]) {
      const source = readFileSync(file, 'utf8');
      expect(source).not.toContain(PAYLOAD);
      expect(source).not.toMatch(/[\u2028\u2029]|<\/script>/);
      expect(
        source
          .split('\n')
          .slice(0, 5)
          .every((line) => line.startsWith('//') || line === '/* eslint-disable */'),
      ).toBe(true);
    }
    const g = globalThis as { __pwned?: unknown };
    delete g.__pwned;
    const { implementation, exports } = loadGeneratedModule(result.jsPath);
    expect(g.__pwned).toBeUndefined();
    expect(implementation.metadata.id).toBe(PAYLOAD);
    expect(exports.DESCRIPTION).toBe(PAYLOAD);
    expect(implementation.metadata.config?.[PAYLOAD]).toBe(PAYLOAD);
    expect(implementation.metadata.config?.architectures).toEqual([PAYLOAD]);
    expect(result.manifest.model_id).toBe(PAYLOAD);
    expect(JSON.parse(readFileSync(result.manifestPath, 'utf8')).template_context.description).toBe(PAYLOAD);
    // And the module still works.
    const handle = await implementation.load({ backend: 'cpu' });
    const out = await handle.run(implementation.makeInputs({ batchSize: 1, sequenceLength: 3 }));
    expect(out.last_hidden_state!.dims).toEqual([1, 3, 32]);
    await handle.release();
    expect(g.__pwned).toBeUndefined();
  });
});
