import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { CoreError, ErrorCode } from '../errors';
import { resolveModel } from '../models/registry';
import { tempSibling } from '../models/write-paths';
import { MANIFEST_FILE } from './manifest';
import { folderState, reservedOutputReason, swapIn } from './ownership';
import { runGenerationPipeline } from './pipeline';

jest.setTimeout(180_000);

const ctx = { signal: new AbortController().signal, onProgress: () => undefined };

describe('which folders are ours, and replacing them safely', () => {
  let root: string;
  /** A complete model of this generator, copied where a case needs one. */
  let generated: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ownership-'));
    generated = join(root, 'generated');
    await runGenerationPipeline(
      {
        source: resolveModel(join(HF_TINY, 'bert')),
        outDir: generated,
        slug: 'bert',
        weights: 'random',
        precision: 'fp32',
        backends: ['cpu'],
      },
      ctx,
    );
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const copyOfOurs = (name: string): string => {
    const p = join(root, name);
    cpSync(generated, p, { recursive: true });
    return p;
  };

  it('a folder is ours only with our manifest and nothing it does not list', () => {
    expect(folderState(join(root, 'nothing-here')).state).toBe('absent');
    mkdirSync(join(root, 'empty'));
    expect(folderState(join(root, 'empty')).state).toBe('empty');
    expect(folderState(generated).state).toBe('ours');

    const operator = join(root, 'operator');
    mkdirSync(operator);
    writeFileSync(join(operator, 'model.onnx'), 'an operator model');
    expect(folderState(operator)).toMatchObject({
      state: 'foreign',
      reason: expect.stringMatching(/no manifest/),
    });

    const otherTool = copyOfOurs('other-tool');
    const m = JSON.parse(readFileSync(join(otherTool, MANIFEST_FILE), 'utf8')) as {
      generator: { name: string };
    };
    m.generator.name = 'someone-else';
    writeFileSync(join(otherTool, MANIFEST_FILE), JSON.stringify(m));
    expect(folderState(otherTool).state).toBe('foreign');
    writeFileSync(join(otherTool, MANIFEST_FILE), '{ not json');
    expect(folderState(otherTool).state).toBe('foreign');

    const added = copyOfOurs('added');
    writeFileSync(join(added, 'notes.txt'), 'mine');
    expect(folderState(added)).toMatchObject({
      state: 'foreign',
      reason: expect.stringMatching(/notes\.txt/),
    });

    symlinkSync(generated, join(root, 'link'));
    expect(folderState(join(root, 'link')).state).toBe('foreign');
  });

  it('reserved output names: the cache folder and our temporary names', () => {
    expect(reservedOutputReason('.cache')).toMatch(/reserved/);
    expect(reservedOutputReason('.cache/gpt2')).toMatch(/reserved/);
    expect(reservedOutputReason(`a/${'b'}.ipfsacc-tmp-0-1-2-3-4`)).toMatch(/reserved/);
    expect(reservedOutputReason('bert/v2')).toBeUndefined();
  });

  it('swapIn: into an absent or empty place, over our own model with force; never over a foreign folder', () => {
    const fresh = () => {
      const tmp = tempSibling(join(root, 'next'));
      cpSync(generated, tmp, { recursive: true });
      writeFileSync(join(tmp, 'bert.ts'), '// the new one\n' + readFileSync(join(tmp, 'bert.ts'), 'utf8'));
      return tmp;
    };
    // Absent.
    const a = join(root, 'swap-a');
    let tmp = fresh();
    swapIn(root, tmp, a, { replaceOurs: false, shown: 'swap-a' });
    expect(existsSync(tmp)).toBe(false);
    expect(readFileSync(join(a, 'bert.ts'), 'utf8')).toMatch(/the new one/);

    // Ours: refused without force, replaced with it (the old one is gone, nothing left beside).
    const ours = copyOfOurs('swap-ours');
    tmp = fresh();
    expect(() => swapIn(root, tmp, ours, { replaceOurs: false, shown: 'swap-ours' })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFLICT }) as CoreError,
    );
    expect(readFileSync(join(ours, 'bert.ts'), 'utf8')).not.toMatch(/the new one/);
    swapIn(root, tmp, ours, { replaceOurs: true, shown: 'swap-ours' });
    expect(readFileSync(join(ours, 'bert.ts'), 'utf8')).toMatch(/the new one/);
    expect(readdirSync(root).filter((n) => n.startsWith('swap-ours'))).toEqual(['swap-ours']);

    // Foreign: refused even with force, intact.
    const operator = join(root, 'swap-operator');
    mkdirSync(operator);
    writeFileSync(join(operator, 'model.onnx'), 'an operator model');
    tmp = fresh();
    expect(() => swapIn(root, tmp, operator, { replaceOurs: true, shown: 'swap-operator' })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFLICT }) as CoreError,
    );
    expect(readdirSync(operator)).toEqual(['model.onnx']);
    expect(readFileSync(join(operator, 'model.onnx'), 'utf8')).toBe('an operator model');
  });

  it('a cancelled pipeline removes its graph files and the folder it made', async () => {
    const out = join(root, 'cancelled');
    const controller = new AbortController();
    const err = await runGenerationPipeline(
      {
        source: resolveModel(join(HF_TINY, 'bert')),
        outDir: out,
        slug: 'bert',
        weights: 'random',
        precision: 'fp32',
        backends: ['cpu'],
      },
      {
        signal: controller.signal,
        onProgress: (r) => {
          if (r.step === 'type-check') controller.abort();
        },
      },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.CANCELLED });
    expect(existsSync(out)).toBe(false);
  });
});
