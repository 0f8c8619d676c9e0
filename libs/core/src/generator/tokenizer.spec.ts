import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from 'onnxruntime-node';
import { HF_TINY, TOKENIZER_FIXTURES } from '../../../../test/fixtures';
import { ErrorCode } from '../errors';
import type { EncodeOptions, Feeds, ModelHandle } from '../types';
import { generateImplementation } from './generate';
import { loadGeneratedImplementation } from './loader';
import { readOnnxIo } from '../models/onnx-file';

jest.setTimeout(180_000);

interface ExpectedEncoding {
  ids: number[];
  type_ids: number[];
  attention_mask: number[];
}
interface Expected {
  tests: string[];
  kinds: Record<
    string,
    { encodings: ExpectedEncoding[]; pair: { ids: number[]; type_ids: number[] }; vocab_size: number }
  >;
}
const expected = JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, 'expected.json'), 'utf8')) as Expected;

/** encode() with the pair support of the generated handle (pairs go inside the list). */
type PairEncode = (texts: (string | readonly [string, string])[], options?: EncodeOptions) => Promise<Feeds>;

const root = mkdtempSync(join(tmpdir(), 'gen-tok-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function ints(t: Tensor | undefined): number[] {
  expect(t).toBeDefined();
  expect(t!.type).toBe('int64');
  return Array.from(t!.data as BigInt64Array, Number);
}

function rows(t: Tensor | undefined): number[][] {
  const flat = ints(t);
  const [b, w] = t!.dims as [number, number];
  return Array.from({ length: b }, (_, r) => flat.slice(r * w, (r + 1) * w));
}

/** Generates an implementation of the hf-tiny `model` with `tokenizer`, and loads it on cpu. */
async function generateWith(
  name: string,
  model: string,
  family: string,
  tokenizer: string,
  configOverrides: Record<string, unknown> = {},
): Promise<ModelHandle> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(HF_TINY, model, 'torch_export.onnx'), join(dir, 'model.onnx'));
  const io = await readOnnxIo(join(dir, 'model.onnx'));
  const config = {
    ...(JSON.parse(readFileSync(join(HF_TINY, model, 'config.json'), 'utf8')) as Record<string, unknown>),
    ...configOverrides,
  };
  const result = await generateImplementation({
    modelDir: dir,
    slug: name,
    modelId: name,
    family,
    config,
    inputs: io.inputs,
    outputs: io.outputs,
    backends: ['cpu'],
    weightsSource: 'random',
    precision: 'fp32',
    tokenizerPath: tokenizer,
  });
  expect(readdirSync(dir)).toContain('tokenizer.json');
  expect(result.manifest.has_tokenizer).toBe(true);
  expect(result.manifest.files.map((f) => f.path)).toContain('tokenizer.json');
  const source = readFileSync(result.filePath, 'utf8');
  expect(source).toContain("await import('@huggingface/tokenizers')");
  const impl = loadGeneratedImplementation(result.jsPath);
  expect(impl.metadata.hasTokenizer).toBe(true);
  const handle = await impl.load({ backend: 'cpu' });
  expect(typeof handle.encode).toBe('function');
  return handle;
}

describe.each([
  // The fixture tokenizers have 300 and 400 tokens; the tiny models only 99, so the implementations
  // used for these encode checks declare the tokenizer's vocabulary (they are not run).
  { kind: 'wordpiece', model: 'bert', family: 'encoder', typeInput: true },
  { kind: 'bpe', model: 'gpt2', family: 'decoder', typeInput: false },
])('encode with the $kind fixture reproduces the reference ids', ({ kind, model, family, typeInput }) => {
  let handle: ModelHandle;
  const reference = expected.kinds[kind]!;
  beforeAll(async () => {
    handle = await generateWith(
      `${kind}-${model}`,
      model,
      family,
      join(TOKENIZER_FIXTURES, `${kind}.tokenizer.json`),
      {
        vocab_size: reference.vocab_size,
        max_position_embeddings: 512,
        n_positions: 512,
      },
    );
  });
  afterAll(() => handle?.release());

  it.each(expected.tests.map((text, i) => ({ text, i })))('sentence $i: $text', async ({ i, text }) => {
    const feeds = await handle.encode!(text);
    const want = reference.encodings[i]!;
    expect(feeds.input_ids!.dims).toEqual([1, want.ids.length]);
    expect(ints(feeds.input_ids)).toEqual(want.ids);
    expect(ints(feeds.attention_mask)).toEqual(want.attention_mask);
    if (typeInput) expect(ints(feeds.token_type_ids)).toEqual(want.type_ids);
    else expect(feeds.token_type_ids).toBeUndefined();
  });

  it('the sentence pair', async () => {
    const feeds = await (handle.encode as PairEncode)([[expected.tests[0]!, expected.tests[1]!]]);
    expect(ints(feeds.input_ids)).toEqual(reference.pair.ids);
    if (typeInput) expect(ints(feeds.token_type_ids)).toEqual(reference.pair.type_ids);
  });

  it('a batch pads every row to the longest with the pad id and a zero mask', async () => {
    const feeds = await handle.encode!(expected.tests);
    const width = Math.max(...reference.encodings.map((e) => e.ids.length));
    expect(feeds.input_ids!.dims).toEqual([expected.tests.length, width]);
    // WordPiece: [PAD] (0). gpt2: no pad token and its eos id (50256) lies outside this vocabulary: 0.
    const pad = 0;
    const ids = rows(feeds.input_ids);
    const mask = rows(feeds.attention_mask);
    reference.encodings.forEach((e, r) => {
      expect(ids[r]!.slice(0, e.ids.length)).toEqual(e.ids);
      expect(mask[r]).toEqual([...e.ids.map(() => 1), ...new Array<number>(width - e.ids.length).fill(0)]);
      expect(ids[r]!.slice(e.ids.length)).toEqual(new Array<number>(width - e.ids.length).fill(pad));
    });
  });

  it('truncation keeps maxLength tokens (special tokens included) and max_length padding fills up', async () => {
    const long = reference.encodings[7]!.ids; // the 40-letter word
    const feeds = await handle.encode!([expected.tests[7]!, expected.tests[0]!], {
      maxLength: 6,
      padding: 'max_length',
    });
    expect(feeds.input_ids!.dims).toEqual([2, 6]);
    const [first, second] = rows(feeds.input_ids);
    if (kind === 'wordpiece') {
      // [CLS] + the first four pieces + [SEP]
      expect(first).toEqual([...long.slice(0, 5), long[long.length - 1]!]);
      expect(second).toEqual([...reference.encodings[0]!.ids, 0]);
    } else {
      expect(first).toEqual(long.slice(0, 6));
      expect(second).toEqual(reference.encodings[0]!.ids);
    }
    await expect(
      handle.encode!(expected.tests[7]!, { maxLength: 6, truncation: false }),
    ).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    await expect(handle.encode!(expected.tests.slice(0, 2), { padding: false })).rejects.toThrow(
      /need padding/,
    );
  });
});

/** A T5/Llama-style tokenizer.json: Unigram model, Metaspace pre-tokenizer, `$A </s>` template. */
const UNIGRAM_TOKENIZER = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: ['<pad>', '</s>', '<unk>'].map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  })),
  normalizer: {
    type: 'Sequence',
    normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }],
  },
  pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: '</s>', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 1 } },
      { SpecialToken: { id: '</s>', type_id: 1 } },
    ],
    special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
  },
  decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  model: {
    type: 'Unigram',
    unk_id: 2,
    byte_fallback: false,
    vocab: [
      ['<pad>', 0],
      ['</s>', 0],
      ['<unk>', 0],
      ['▁', -2], // 3
      ['▁hello', -3], // 4
      ['▁he', -4], // 5
      ['llo', -4], // 6
      ['▁world', -3.5], // 7
      ['h', -6], // 8
      ['e', -6], // 9
      ['l', -6], // 10
      ['o', -6], // 11
      ['w', -6], // 12
      ['r', -6], // 13
      ['d', -6], // 14
    ],
  },
};

describe('encode with a hand-written Unigram (SentencePiece-style) tokenizer', () => {
  let handle: ModelHandle;
  beforeAll(async () => {
    const path = join(root, 'unigram-src', 'tokenizer.json');
    mkdirSync(join(root, 'unigram-src'), { recursive: true });
    writeFileSync(path, JSON.stringify(UNIGRAM_TOKENIZER));
    // The real bert export (99 ids) with this 15-token tokenizer: encode, then run.
    handle = await generateWith('unigram-bert', 'bert', 'encoder', path);
  });
  afterAll(() => handle?.release());

  it.each([
    // "▁hello▁world": ▁hello (-3) + ▁world (-3.5) beats every split into smaller pieces.
    { text: 'hello world', ids: [4, 7, 1] },
    // The normalizer folds runs of spaces first.
    { text: 'hello   world', ids: [4, 7, 1] },
    // "▁he▁llo": ▁he (-4) + ▁ (-2) + llo (-4) = -10; ▁ + h + e = -14 loses.
    { text: 'he llo', ids: [5, 3, 6, 1] },
    // "▁held": ▁he (-4) + l (-6) + d (-6).
    { text: 'held', ids: [5, 10, 14, 1] },
    // x, y, z are not in the vocabulary: one fused <unk> after "▁".
    { text: 'hello xyz', ids: [4, 3, 2, 1] },
  ])('$text → $ids', async ({ text, ids }) => {
    const feeds = await handle.encode!(text);
    expect(ints(feeds.input_ids)).toEqual(ids);
    expect(ints(feeds.token_type_ids)).toEqual(ids.map(() => 0));
  });

  it('pairs follow the template: A </s> B </s> with type ids 0… 1…', async () => {
    const feeds = await (handle.encode as PairEncode)([['hello', 'world']]);
    expect(ints(feeds.input_ids)).toEqual([4, 1, 7, 1]);
    expect(ints(feeds.token_type_ids)).toEqual([0, 0, 1, 1]);
  });

  it('truncation keeps the closing </s>; the pad id is <pad>', async () => {
    const feeds = await handle.encode!(['hello world he', 'held'], { maxLength: 3 });
    expect(rows(feeds.input_ids)).toEqual([
      [4, 7, 1],
      [5, 10, 1],
    ]);
    const padded = await handle.encode!(['hello world', 'held'], { padding: 'max_length', maxLength: 6 });
    expect(rows(padded.input_ids)).toEqual([
      [4, 7, 1, 0, 0, 0],
      [5, 10, 14, 1, 0, 0],
    ]);
    expect(rows(padded.attention_mask)).toEqual([
      [1, 1, 1, 0, 0, 0],
      [1, 1, 1, 1, 0, 0],
    ]);
  });

  it('the encoded feeds run through the model', async () => {
    const feeds = await handle.encode!(['hello world', 'he llo held']);
    const out = await handle.run(feeds);
    // ▁he ▁ llo ▁he l d </s>: 7 tokens in the longer row.
    expect(out.last_hidden_state!.dims).toEqual([2, 7, 32]);
    expect(out.pooler_output!.dims).toEqual([2, 32]);
    expect(Array.from(out.last_hidden_state!.data as Float32Array).every(Number.isFinite)).toBe(true);
  });
});

describe('tokenizer checks at generation time', () => {
  it('a tokenizer larger than the model vocabulary is refused', async () => {
    const dir = join(root, 'too-big');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(HF_TINY, 'bert', 'torch_export.onnx'), join(dir, 'model.onnx'));
    const io = await readOnnxIo(join(dir, 'model.onnx'));
    await expect(
      generateImplementation({
        modelDir: dir,
        slug: 'too-big',
        modelId: 'too-big',
        family: 'encoder',
        config: JSON.parse(readFileSync(join(HF_TINY, 'bert', 'config.json'), 'utf8')) as Record<
          string,
          unknown
        >,
        inputs: io.inputs,
        outputs: io.outputs,
        backends: ['cpu'],
        weightsSource: 'random',
        precision: 'fp32',
        tokenizerPath: join(TOKENIZER_FIXTURES, 'wordpiece.tokenizer.json'),
      }),
    ).rejects.toMatchObject({
      code: ErrorCode.VALIDATION,
      message: expect.stringMatching(/tokenizer has 300 tokens but the model's vocabulary only 99/),
    });
    expect(readdirSync(dir)).toEqual(['model.onnx']);
  });
});
