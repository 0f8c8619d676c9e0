import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../errors';
import type { BackendName, TensorSpec } from '../types';
import { typecheckAndCompile } from './compile';
import { loadGeneratedModule } from './loader';
import { renderImplementation } from './render';
import {
  FAMILIES,
  jsLiteral,
  listTemplates,
  resolveTemplateContext,
  selectTemplate,
  type Family,
  type TemplateInfo,
} from './templates';

jest.setTimeout(180_000);

describe('listTemplates', () => {
  const templates = listTemplates();

  it('has one template per family and backend group', () => {
    expect(templates.map((t) => t.name).sort()).toEqual(
      FAMILIES.flatMap((f) => [`${f}-native`, `${f}-universal`, `${f}-webgpu`]).sort(),
    );
    for (const t of templates) {
      expect(t.description.length).toBeGreaterThan(10);
      expect(t.backends.length).toBeGreaterThan(0);
      for (const v of t.variables) {
        expect(v).toEqual(
          expect.objectContaining({
            name: expect.any(String),
            type: expect.any(String),
            description: expect.any(String),
          }),
        );
        // Every default is a valid value of its own variable.
        expect(resolveTemplateContext(t, { [v.name]: v.default })[v.name]).toBe(v.default);
      }
    }
  });

  it('declares backend variables only for the group’s backends, family variables only for the family', () => {
    const byName = new Map(templates.map((t) => [t.name, t.variables.map((v) => v.name)]));
    expect(byName.get('encoder-native')).toEqual(
      expect.arrayContaining(['cpuUseArena', 'cudaDeviceId', 'encodeMaxLength']),
    );
    expect(byName.get('encoder-native')).not.toContain('webgpuPreferredLayout');
    expect(byName.get('vision-webgpu')).toEqual(
      expect.arrayContaining(['webgpuPreferredLayout', 'pixelStd']),
    );
    expect(byName.get('vision-webgpu')).not.toContain('cpuUseArena');
    expect(byName.get('vision-webgpu')).not.toContain('encodeMaxLength');
    expect(byName.get('encoder-decoder-universal')).toContain('decoderSequenceLength');
  });

  it('returns copies: callers cannot change the catalog', () => {
    templates[0]!.variables.length = 0;
    expect(listTemplates()[0]!.variables.length).toBeGreaterThan(0);
  });
});

describe('selectTemplate', () => {
  it('picks the narrowest group covering the backends', () => {
    expect(selectTemplate('encoder', ['cpu']).name).toBe('encoder-native');
    expect(selectTemplate('decoder', ['cpu', 'cuda']).name).toBe('decoder-native');
    expect(selectTemplate('vision', ['webgpu']).name).toBe('vision-webgpu');
    expect(selectTemplate('encoder-decoder', ['cpu', 'webgpu']).name).toBe('encoder-decoder-universal');
  });

  it('refuses unknown names, other families and missing backends with VALIDATION', () => {
    expect(() => selectTemplate('encoder', ['cpu'], 'nope')).toThrow(
      expect.objectContaining({
        code: ErrorCode.VALIDATION,
        message: expect.stringMatching(/unknown template "nope"/),
      }),
    );
    expect(() => selectTemplate('decoder', ['cpu'], 'encoder-native')).toThrow(
      /template encoder-native is for encoder models, but this model is decoder; use one of decoder-universal, decoder-native, decoder-webgpu/,
    );
    expect(() => selectTemplate('encoder', ['webgpu'], 'encoder-native')).toThrow(
      /does not support backend webgpu \(it supports cpu, cuda\)/,
    );
    expect(() => selectTemplate('audio', ['cpu'])).toThrow(/unknown model family "audio"/);
  });
});

describe('resolveTemplateContext', () => {
  const t = selectTemplate('vision', ['cpu'], 'vision-universal');

  it('fills defaults and applies declared overrides', () => {
    const values = resolveTemplateContext(t, {
      intraOpNumThreads: 4,
      pixelStd: 0.5,
      webgpuPreferredLayout: 'NHWC',
    });
    expect(values).toMatchObject({
      intraOpNumThreads: 4,
      pixelStd: 0.5,
      webgpuPreferredLayout: 'NHWC',
      pixelMean: 0,
    });
    expect(Object.keys(values).sort()).toEqual(t.variables.map((v) => v.name).sort());
  });

  it.each<[string, unknown]>([
    ['intraOpNumThreads', '4'],
    ['intraOpNumThreads', 1.5],
    ['intraOpNumThreads', -1],
    ['intraOpNumThreads', null],
    ['logSeverityLevel', 5],
    ['pixelStd', 0],
    ['pixelStd', Number.NaN],
    ['cpuUseArena', 'true'],
    ['cpuUseArena', 1],
    ['graphOptimizationLevel', 'fast'],
    ['webgpuPreferredLayout', 'nhwc'],
    ['description', 42],
    ['description', 'x'.repeat(5000)],
    ['description', ['a']],
  ])('%s = %j is VALIDATION', (key, value) => {
    expect(() => resolveTemplateContext(t, { [key]: value })).toThrow(
      expect.objectContaining({
        code: ErrorCode.VALIDATION,
        details: [expect.objectContaining({ field: `template_context.${key}` })],
      }),
    );
  });

  it('unknown keys are VALIDATION, naming what the template declares', () => {
    expect(() => resolveTemplateContext(t, { encodeMaxLength: 8, threads: 1 })).toThrow(
      expect.objectContaining({
        code: ErrorCode.VALIDATION,
        details: [
          expect.objectContaining({
            field: 'template_context.encodeMaxLength',
            message: expect.stringMatching(/unknown variable/),
          }),
          expect.objectContaining({ field: 'template_context.threads' }),
        ],
      }),
    );
    expect(() => resolveTemplateContext(t, ['x'] as unknown as Record<string, unknown>)).toThrow(
      /must be an object/,
    );
  });
});

describe('jsLiteral', () => {
  it('writes JSON that cannot leave a string, a comment or a script block', () => {
    const nasty = 'a\'b"c`${d}`*/e\n</script>\u2028\u2029<!--\\';
    const lit = jsLiteral({ [nasty]: [nasty, 1, true, null] });
    expect(lit).not.toMatch(/[\n\u2028\u2029<>]|\*\//);
    expect(JSON.parse(lit)).toEqual({ [nasty]: [nasty, 1, true, null] });
  });

  it('refuses what JSON would silently change', () => {
    expect(() => jsLiteral(undefined)).toThrow();
    expect(() => jsLiteral(Number.POSITIVE_INFINITY)).toThrow();
    expect(() => jsLiteral(10n)).toThrow();
  });
});

/** Inputs and outputs like each family's Hugging Face export (symbolic batch and sequence dims). */
const IO: Record<Family, { inputs: TensorSpec[]; outputs: TensorSpec[]; config: Record<string, unknown> }> = {
  encoder: {
    inputs: ['input_ids', 'attention_mask', 'token_type_ids'].map((name) => ({
      name,
      dtype: 'int64',
      shape: ['batch_size', 'sequence_length'],
    })),
    outputs: [{ name: 'last_hidden_state', dtype: 'float32', shape: ['batch_size', 'sequence_length', 32] }],
    config: { model_type: 'bert', vocab_size: 50, max_position_embeddings: 32, pad_token_id: 0 },
  },
  decoder: {
    inputs: [
      { name: 'input_ids', dtype: 'int64', shape: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', dtype: 'int64', shape: ['batch_size', 'total_sequence_length'] },
      { name: 'position_ids', dtype: 'int64', shape: ['batch_size', 'sequence_length'] },
      {
        name: 'past_key_values.0.key',
        dtype: 'float16',
        shape: ['batch_size', 2, 'past_sequence_length', 8],
      },
    ],
    outputs: [{ name: 'logits', dtype: 'float32', shape: ['batch_size', 'sequence_length', 50] }],
    config: { model_type: 'llama', vocab_size: 50, max_position_embeddings: 32, eos_token_id: 2 },
  },
  vision: {
    inputs: [
      { name: 'pixel_values', dtype: 'float32', shape: ['batch_size', 'num_channels', 'height', 'width'] },
    ],
    outputs: [{ name: 'pooler_output', dtype: 'float32', shape: ['batch_size', 32] }],
    config: { model_type: 'vit', image_size: 16, num_channels: 3 },
  },
  'encoder-decoder': {
    inputs: [
      { name: 'input_ids', dtype: 'int64', shape: ['batch_size', 'encoder_sequence_length'] },
      { name: 'attention_mask', dtype: 'int64', shape: ['batch_size', 'encoder_sequence_length'] },
      { name: 'decoder_input_ids', dtype: 'int64', shape: ['batch_size', 'decoder_sequence_length'] },
      { name: 'decoder_attention_mask', dtype: 'int64', shape: ['batch_size', 'decoder_sequence_length'] },
    ],
    outputs: [{ name: 'logits', dtype: 'float32', shape: ['batch_size', 'decoder_sequence_length', 50] }],
    config: { model_type: 't5', vocab_size: 50, pad_token_id: 0, decoder_start_token_id: 0 },
  },
};

/** Values of one feed as numbers. */
function values(t: { data: unknown }): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

describe('every template renders, type-checks (implementation and spec), compiles and makes inputs', () => {
  const root = mkdtempSync(join(tmpdir(), 'gen-tpl-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each(listTemplates().map((t) => [t.name, t] as [string, TemplateInfo]))('%s', (name, template) => {
    const family = template.family;
    const dir = join(root, name);
    mkdirSync(dir);
    const hasTokenizer = family !== 'vision';
    if (hasTokenizer) writeFileSync(join(dir, 'tokenizer.json'), '{}');
    const context: Record<string, unknown> = { defaultSequenceLength: 5, description: `template ${name}` };
    if (family === 'encoder-decoder') context.decoderSequenceLength = 3;
    if (family === 'vision') Object.assign(context, { pixelMean: 5, pixelStd: 0.25 });
    const { source, spec, settings } = renderImplementation({
      slug: name,
      modelId: `test/${name}`,
      family,
      config: IO[family].config,
      inputs: IO[family].inputs,
      outputs: IO[family].outputs,
      backends: template.backends as BackendName[],
      template: name,
      templateContext: context,
      generatorVersion: '9.9.9',
      tokenizerFile: hasTokenizer ? 'tokenizer.json' : undefined,
    });
    expect(settings).toMatchObject(context);
    for (const b of template.backends) expect(source).toContain(`case "${b}":`);
    for (const b of ['cpu', 'cuda', 'webgpu'].filter((x) => !template.backends.includes(x as BackendName))) {
      expect(source).not.toContain(`case "${b}":`);
    }
    writeFileSync(join(dir, `${name}.ts`), source);
    writeFileSync(join(dir, `${name}.spec.ts`), spec);
    const { jsPath } = typecheckAndCompile(join(dir, `${name}.ts`));
    typecheckAndCompile(join(dir, `${name}.spec.ts`), { emit: false, types: ['node', 'jest'] });

    const { implementation: impl, exports } = loadGeneratedModule(jsPath!);
    expect(exports.TEMPLATE).toBe(name);
    expect(exports.GENERATOR_VERSION).toBe('9.9.9');
    expect(exports.DESCRIPTION).toBe(`template ${name}`);
    expect(exports.SUPPORTED_BACKENDS).toEqual(template.backends);
    expect(typeof exports.run).toBe('function');
    expect(typeof exports.release).toBe('function');
    expect(typeof exports.encode).toBe(hasTokenizer ? 'function' : 'undefined');
    expect(impl.metadata.hasTokenizer).toBe(hasTokenizer);

    const feeds = impl.makeInputs({ batchSize: 2, seed: 1 });
    switch (family) {
      case 'encoder':
        expect(feeds.input_ids!.dims).toEqual([2, 5]);
        expect(values(feeds.input_ids!).every((v) => v >= 0 && v < 50)).toBe(true);
        expect(values(feeds.token_type_ids!)).toEqual(new Array(10).fill(0));
        break;
      case 'decoder':
        expect(values(feeds.position_ids!)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
        expect(feeds['past_key_values.0.key']!.dims).toEqual([2, 2, 0, 8]);
        expect(feeds['past_key_values.0.key']!.type).toBe('float16');
        expect(feeds.attention_mask!.dims).toEqual([2, 5]);
        break;
      case 'vision': {
        expect(impl.metadata).toMatchObject({ imageSize: 16, numChannels: 3 });
        expect(feeds.pixel_values!.dims).toEqual([2, 3, 16, 16]);
        const px = values(feeds.pixel_values!);
        const mean = px.reduce((a, b) => a + b, 0) / px.length;
        expect(Math.abs(mean - 5)).toBeLessThan(0.05);
        break;
      }
      case 'encoder-decoder': {
        expect(feeds.input_ids!.dims).toEqual([2, 5]);
        expect(feeds.decoder_input_ids!.dims).toEqual([2, 3]);
        expect(feeds.decoder_attention_mask!.dims).toEqual([2, 3]);
        const dec = values(feeds.decoder_input_ids!);
        expect([dec[0], dec[3]]).toEqual([0, 0]);
        expect(dec.every((v) => v >= 0 && v < 50)).toBe(true);
        break;
      }
    }
  });
});
