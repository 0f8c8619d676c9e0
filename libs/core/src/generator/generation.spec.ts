/**
 * generate() of generated implementations, end to end on real graphs: the hf-tiny GPT-2 and Llama
 * (transformers' weights) built with and without a KV cache, compiled, loaded and run on cpu.
 * Oracles: the full-sequence graph (recompute) for the cached loop, the prompt alone for a
 * left-padded row, and the reference tokenizer's decodings for text.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY, TOKENIZER_FIXTURES } from '../../../../test/fixtures';
import type { ModelHandle } from '../types';
import { buildImplementation, hfTinyConfig, TINY_T5_CONFIG } from './spec-build';
import { loadGeneratedModule } from './loader';

jest.setTimeout(180_000);

const root = mkdtempSync(join(tmpdir(), 'gen-generate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Loaded {
  handle: ModelHandle;
  exports: Record<string, unknown>;
}

async function implementation(
  name: string,
  config: Record<string, unknown>,
  options: { kvCache: boolean; safetensors?: string; tokenizer?: string; chatTemplate?: string },
): Promise<Loaded> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  let tokenizerPath: string | undefined;
  if (options.tokenizer) {
    const tokDir = join(root, `${name}-tokenizer`);
    mkdirSync(tokDir, { recursive: true });
    tokenizerPath = join(tokDir, 'tokenizer.json');
    copyFileSync(options.tokenizer, tokenizerPath);
    if (options.chatTemplate) {
      writeFileSync(
        join(tokDir, 'tokenizer_config.json'),
        JSON.stringify({ chat_template: options.chatTemplate, eos_token: '!' }),
      );
    }
  }
  const { built, generated: result } = await buildImplementation(dir, name, {
    config,
    safetensors: options.safetensors,
    kvCache: options.kvCache,
    tokenizerPath,
  });
  expect(built.kvCache).toBe(options.kvCache);
  const mod = loadGeneratedModule(result.jsPath);
  const handle = await mod.implementation.load({ backend: 'cpu' });
  expect(typeof handle.generate).toBe('function');
  return { handle, exports: mod.exports };
}

describe.each(['gpt2', 'llama'])('generate() on the hf-tiny %s', (name) => {
  let cached: Loaded;
  let full: Loaded;
  const prompts = [
    [5, 17, 3, 42, 8, 11, 60],
    [7, 90, 1],
  ];

  beforeAll(async () => {
    const safetensors = join(HF_TINY, name, 'model.safetensors');
    cached = await implementation(`${name}-kv`, hfTinyConfig(name), { kvCache: true, safetensors });
    full = await implementation(`${name}-full`, hfTinyConfig(name), { kvCache: false, safetensors });
  });
  afterAll(async () => {
    await cached?.handle.release();
    await full?.handle.release();
  });

  it('with the KV cache gives the greedy tokens of recomputing the full sequence', async () => {
    expect(cached.exports.HAS_KV_CACHE).toBe(true);
    expect(full.exports.HAS_KV_CACHE).toBe(false);
    const a = await cached.handle.generate!(prompts, { maxNewTokens: 12, eosTokenId: [] });
    const b = await full.handle.generate!(prompts, { maxNewTokens: 12, eosTokenId: [] });
    expect(a.tokens.map((t) => t.length)).toEqual([12, 12]);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.sequences[1]).toEqual([...prompts[1]!, ...a.tokens[1]!]);
    expect(a.finishReasons).toEqual(['length', 'length']);
    expect(a.timings.stepMs).toHaveLength(11);
  });

  it('a left-padded row generates what the prompt alone generates', async () => {
    const batched = await cached.handle.generate!(prompts, { maxNewTokens: 10, eosTokenId: [] });
    for (const [i, prompt] of prompts.entries()) {
      const alone = await cached.handle.generate!(prompt, { maxNewTokens: 10, eosTokenId: [] });
      expect(batched.tokens[i]).toEqual(alone.tokens[0]);
    }
  });

  it('greedy is deterministic; seeded sampling is reproducible and follows the seed', async () => {
    const opts = { maxNewTokens: 16, eosTokenId: [], doSample: true, temperature: 5, topK: 50, topP: 0.95 };
    const g1 = await cached.handle.generate!(prompts[0]!, { maxNewTokens: 8, eosTokenId: [] });
    const g2 = await cached.handle.generate!(prompts[0]!, { maxNewTokens: 8, eosTokenId: [] });
    expect(g1.tokens).toEqual(g2.tokens);
    const s1 = await cached.handle.generate!(prompts, { ...opts, seed: 7 });
    const s2 = await cached.handle.generate!(prompts, { ...opts, seed: 7 });
    const s3 = await cached.handle.generate!(prompts, { ...opts, seed: 8 });
    expect(s1.tokens).toEqual(s2.tokens);
    expect(s3.tokens).not.toEqual(s1.tokens);
  });

  it('top-k 1 and a tiny top-p sample greedily', async () => {
    const greedy = await cached.handle.generate!(prompts, { maxNewTokens: 6, eosTokenId: [] });
    const k1 = await cached.handle.generate!(prompts, {
      maxNewTokens: 6,
      eosTokenId: [],
      doSample: true,
      topK: 1,
      seed: 3,
    });
    expect(k1.tokens).toEqual(greedy.tokens);
    // top-p so small that only the most likely token reaches it: greedy again, at any temperature.
    const p0 = await cached.handle.generate!(prompts, {
      maxNewTokens: 6,
      eosTokenId: [],
      doSample: true,
      temperature: 10,
      topP: 1e-6,
      seed: 4,
    });
    expect(p0.tokens).toEqual(greedy.tokens);
  });

  it('stops a row at its EOS id and streams every step', async () => {
    const greedy = await cached.handle.generate!(prompts, { maxNewTokens: 6, eosTokenId: [] });
    const stop = greedy.tokens[0]![2]!;
    const events: { step: number; tokens: (number | null)[] }[] = [];
    const out = await cached.handle.generate!(prompts, {
      maxNewTokens: 6,
      eosTokenId: stop,
      onToken: (e) => events.push({ step: e.step, tokens: [...e.tokens] }),
    });
    const firstStop = greedy.tokens[0]!.indexOf(stop);
    expect(out.tokens[0]).toEqual(greedy.tokens[0]!.slice(0, firstStop + 1));
    expect(out.finishReasons[0]).toBe('eos');
    // The stream carries exactly the tokens returned, null once a row has stopped.
    for (let row = 0; row < 2; row++) {
      const streamed = events.map((e) => e.tokens[row]).filter((t): t is number => t !== null);
      expect(streamed).toEqual(out.tokens[row]);
    }
  });

  it('an AbortSignal stops the loop between steps', async () => {
    const controller = new AbortController();
    let steps = 0;
    await expect(
      cached.handle.generate!(prompts, {
        maxNewTokens: 20,
        eosTokenId: [],
        signal: controller.signal,
        onToken: () => {
          if (++steps === 2) controller.abort();
        },
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps).toBe(2);
  });

  it('rejects a prompt that does not fit the context, ids outside the vocabulary and bad options', async () => {
    const long = new Array<number>(60).fill(3);
    await expect(cached.handle.generate!(long, { maxNewTokens: 10 })).rejects.toMatchObject({
      code: 'VALIDATION',
      message: expect.stringMatching(/exceeds the model's context of 64/),
    });
    await expect(cached.handle.generate!([1, 500])).rejects.toMatchObject({ code: 'VALIDATION' });
    await expect(cached.handle.generate!([1, 2], { temperature: 0 })).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    await expect(cached.handle.generate!('text')).rejects.toMatchObject({
      code: 'VALIDATION',
      message: expect.stringMatching(/no tokenizer/),
    });
  });
});

describe('generate() on T5 (random weights): encoder once, decoder with its cache', () => {
  const config = { ...TINY_T5_CONFIG };
  let cached: Loaded;
  let full: Loaded;
  const prompts = [
    [3, 9, 14, 2, 40, 41, 7],
    [11, 4, 19],
  ];
  beforeAll(async () => {
    cached = await implementation('t5-kv', config, { kvCache: true });
    full = await implementation('t5-full', config, { kvCache: false });
  });
  afterAll(async () => {
    await cached?.handle.release();
    await full?.handle.release();
  });

  it('greedy with the cache equals greedy by recompute; a padded row equals the prompt alone', async () => {
    expect(cached.exports.HAS_KV_CACHE).toBe(true);
    const a = await cached.handle.generate!(prompts, { maxNewTokens: 10, eosTokenId: [] });
    const b = await full.handle.generate!(prompts, { maxNewTokens: 10, eosTokenId: [] });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens[0]).toHaveLength(10);
    expect(a.sequences[0]).toEqual([0, ...a.tokens[0]!]);
    const alone = await cached.handle.generate!(prompts[1]!, { maxNewTokens: 10, eosTokenId: [] });
    expect(alone.tokens[0]).toEqual(a.tokens[1]);
  });

  it('seeded sampling is reproducible', async () => {
    const opts = { maxNewTokens: 8, eosTokenId: [], doSample: true, temperature: 3, seed: 11 };
    const s1 = await cached.handle.generate!(prompts, opts);
    const s2 = await cached.handle.generate!(prompts, opts);
    expect(s1.tokens).toEqual(s2.tokens);
  });
});

describe('generate() with text and chat messages (byte-level BPE fixture tokenizer)', () => {
  const expected = JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, 'expected.json'), 'utf8')) as {
    tests: string[];
    kinds: Record<string, { encodings: { ids: number[]; decoded: string }[]; vocab_size: number }>;
  };
  const bpe = expected.kinds.bpe!;
  const chatml =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  let loaded: Loaded;

  beforeAll(async () => {
    loaded = await implementation(
      'gpt2-text',
      { ...hfTinyConfig('gpt2'), vocab_size: bpe.vocab_size, n_positions: 256, eos_token_id: 1 },
      { kvCache: true, tokenizer: join(TOKENIZER_FIXTURES, 'bpe.tokenizer.json'), chatTemplate: chatml },
    );
  });
  afterAll(() => loaded?.handle.release());

  it('decode() reproduces the reference decodings', async () => {
    for (const encoding of bpe.encodings) {
      expect(await loaded.handle.decode!(encoding.ids)).toBe(encoding.decoded);
    }
  });

  it('text in: the prompt is the tokenizer encoding, the text out is the decoding of the new tokens', async () => {
    const out = await loaded.handle.generate!(expected.tests[0]!, { maxNewTokens: 5, eosTokenId: [] });
    expect(out.sequences[0]!.slice(0, out.promptTokens[0])).toEqual(bpe.encodings[0]!.ids);
    expect(out.text).toEqual([await loaded.handle.decode!(out.tokens[0]!, { skipSpecialTokens: true })]);
    const batch = await loaded.handle.generate!([expected.tests[0]!, expected.tests[1]!], {
      maxNewTokens: 5,
      eosTokenId: [],
    });
    expect(batch.tokens[0]).toEqual(out.tokens[0]);
  });

  it('chat messages are rendered by the chat template (Jinja) with the generation prompt', async () => {
    const messages = [{ role: 'user', content: 'Hello world!' }];
    const applyChatTemplate = loaded.exports.applyChatTemplate as (m: unknown) => Promise<string>;
    const rendered = await applyChatTemplate(messages);
    expect(rendered).toBe('<|im_start|>user\nHello world!<|im_end|>\n<|im_start|>assistant\n');
    const out = await loaded.handle.generate!(messages, { maxNewTokens: 3, eosTokenId: [] });
    const fromText = await loaded.handle.generate!(rendered, { maxNewTokens: 3, eosTokenId: [] });
    // The byte-level BPE adds no special tokens, so the chat's prompt is the rendered text's encoding.
    expect(out.sequences[0]).toEqual(fromText.sequences[0]);
    await expect(loaded.handle.generate!([{ role: 'user' }] as never)).rejects.toMatchObject({
      code: 'VALIDATION',
    });
  });
});
