/**
 * The KV-cache decoder graphs (optimum's "with past" layout) against the transformers fixtures and
 * against themselves: an empty past is the full pass, decoding token by token with the cache gives
 * the logits of the full pass, and a left-padded row (position_ids = cumsum(mask) - 1, as
 * transformers' generate() passes them) gives the logits of the same prompt alone.
 */
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HF_TINY } from '../../../../../test/fixtures';
import { decoderFamily } from './decoder';
import { buildWithModule, int64Tensor, maxAbsDiffWhere } from './decoder-spec-utils';
import { readConfig, readFixtureIO, removeDir } from './spec-helpers';

jest.setTimeout(180_000);

type Outputs = Record<string, ort.Tensor>;

function emptyPast(session: ort.InferenceSession, batch: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    if (!name.startsWith('past_key_values.')) continue;
    const meta = session.inputMetadata.find((m) => m.name === name)!;
    const shape = (meta as { shape: readonly (number | string)[] }).shape;
    feeds[name] = new ort.Tensor('float32', new Float32Array(0), [
      batch,
      shape[1] as number,
      0,
      shape[3] as number,
    ]);
  }
  return feeds;
}

function pastFrom(out: Outputs): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(out)) {
    if (name.startsWith('present.')) feeds[`past_key_values.${name.slice('present.'.length)}`] = t;
  }
  return feeds;
}

/** transformers' generate(): position_ids = cumsum(mask) - 1, 1 where masked. */
function positionsOf(mask: number[][]): number[][] {
  return mask.map((row) => {
    let c = 0;
    return row.map((m) => (m ? c++ : 1));
  });
}

/** Logits [vocab] of row `b`, position `p` of a [batch, seq, vocab] tensor. */
function logitsAt(t: ort.Tensor, b: number, p: number): Float32Array {
  const [, seq, vocab] = t.dims as number[];
  const start = (b * seq! + p) * vocab!;
  return (t.data as Float32Array).slice(start, start + vocab!);
}

describe.each([
  ['gpt2', 'portable'],
  ['gpt2', 'optimized'],
  ['llama', 'portable'],
  ['llama', 'optimized'],
] as const)('KV-cache decoder graph (%s fixture, %s)', (name, graph) => {
  const dir = join(HF_TINY, name);
  const io = readFixtureIO(dir);
  const config = readConfig(dir);
  let onnxPath: string;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    onnxPath = await buildWithModule(decoderFamily, config, {
      weights: 'safetensors',
      safetensorsPaths: [join(dir, 'model.safetensors')],
      kvCache: true,
      graph,
    });
    session = await ort.InferenceSession.create(onnxPath, { executionProviders: ['cpu'] });
  });
  afterAll(async () => {
    await session?.release();
    removeDir(dirname(onnxPath));
  });

  async function run(
    ids: number[][],
    mask: number[][],
    positions: number[][],
    past?: Outputs,
  ): Promise<Outputs> {
    return session.run({
      input_ids: int64Tensor(ids),
      attention_mask: int64Tensor(mask),
      position_ids: int64Tensor(positions),
      ...(past ? pastFrom(past) : emptyPast(session, ids.length)),
    });
  }

  it("takes optimum's inputs and returns present keys and values per layer", () => {
    const layers = (config.num_hidden_layers ?? config.n_layer) as number;
    expect(session.inputNames.slice(0, 3)).toEqual(['input_ids', 'attention_mask', 'position_ids']);
    expect(session.inputNames).toHaveLength(3 + 2 * layers);
    expect(session.inputNames).toContain(`past_key_values.${layers - 1}.value`);
    expect(session.outputNames[0]).toBe('logits');
    expect(session.outputNames).toContain(`present.${layers - 1}.key`);
  });

  it('with an empty past reproduces transformers (the full pass)', async () => {
    const ids = io.inputs.input_ids!;
    const [batch, seq] = ids.dims as number[];
    const arange = Array.from({ length: batch! }, () => Array.from({ length: seq! }, (_, i) => i));
    const out = await session.run({
      input_ids: ids,
      attention_mask: io.inputs.attention_mask!,
      position_ids: int64Tensor(arange),
      ...emptyPast(session, batch!),
    });
    const err = maxAbsDiffWhere(out.logits!.data as Float32Array, io.outputs.logits!.data);
    expect(err).toBeLessThan(1e-4);
    const kvHeads = (config.num_key_value_heads ?? config.n_head) as number;
    expect(out['present.0.key']!.dims).toEqual([batch, kvHeads, seq, expect.any(Number)]);
  });

  it('decoding token by token with the cache gives the logits of the full pass', async () => {
    const ids = [
      [5, 17, 3, 42, 8, 11, 60, 2, 9, 31],
      [7, 7, 90, 1, 33, 2, 14, 3, 4, 50],
    ];
    const ones = (n: number) => ids.map(() => new Array<number>(n).fill(1));
    const arange = (from: number, to: number) =>
      ids.map(() => Array.from({ length: to - from }, (_, i) => from + i));
    const full = await run(ids, ones(10), arange(0, 10));
    const prompt = 4;
    let out = await run(
      ids.map((r) => r.slice(0, prompt)),
      ones(prompt),
      arange(0, prompt),
    );
    let worst = 0;
    for (let b = 0; b < 2; b++) {
      worst = Math.max(
        worst,
        maxAbsDiffWhere(logitsAt(out.logits!, b, prompt - 1), logitsAt(full.logits!, b, prompt - 1)),
      );
    }
    for (let p = prompt; p < 10; p++) {
      out = await run(
        ids.map((r) => [r[p]!]),
        ones(p + 1),
        arange(p, p + 1),
        out,
      );
      expect(out['present.0.key']!.dims[2]).toBe(p + 1);
      for (let b = 0; b < 2; b++) {
        worst = Math.max(worst, maxAbsDiffWhere(logitsAt(out.logits!, b, 0), logitsAt(full.logits!, b, p)));
      }
    }
    console.log(`${name} cached decoding vs full pass max abs error ${worst.toExponential(3)}`);
    expect(worst).toBeLessThan(1e-4);
  });

  it('a left-padded row gives the logits of the same prompt alone, at prefill and after a step', async () => {
    const prompt = [12, 40, 7];
    const padded = [[0, 0, ...prompt], [...[5, 6, 8], ...prompt].slice(0, 5)];
    const mask = [
      [0, 0, 1, 1, 1],
      [1, 1, 1, 1, 1],
    ];
    const batched = await run(padded, mask, positionsOf(mask));
    const alone = await run([prompt], [[1, 1, 1]], [[0, 1, 2]]);
    expect(maxAbsDiffWhere(logitsAt(batched.logits!, 0, 4), logitsAt(alone.logits!, 0, 2))).toBeLessThan(
      1e-4,
    );
    const next = 21;
    const batchedStep = await run(
      [[next], [next]],
      mask.map((r) => [...r, 1]),
      [[3], [5]],
      batched,
    );
    const aloneStep = await run([[next]], [[1, 1, 1, 1]], [[3]], alone);
    const err = maxAbsDiffWhere(logitsAt(batchedStep.logits!, 0, 0), logitsAt(aloneStep.logits!, 0, 0));
    console.log(`${name} left-padded vs alone after a step max abs error ${err.toExponential(3)}`);
    expect(err).toBeLessThan(1e-4);
  });
});

describe('KV-cache graph of Qwen2 with a sliding window (random weights)', () => {
  it('decoding with the cache matches the full pass past the window', async () => {
    const config = {
      model_type: 'qwen2',
      architectures: ['Qwen2ForCausalLM'],
      vocab_size: 64,
      hidden_size: 32,
      intermediate_size: 40,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 64,
      use_sliding_window: true,
      sliding_window: 3,
      max_window_layers: 1,
      tie_word_embeddings: true,
    };
    const onnxPath = await buildWithModule(decoderFamily, config, {
      weights: 'random',
      seed: 3,
      kvCache: true,
    });
    const session = await ort.InferenceSession.create(onnxPath, { executionProviders: ['cpu'] });
    try {
      const ids = [[3, 9, 27, 1, 60, 22, 5, 13]];
      const feeds = (tokens: number[], from: number, past?: Outputs) => ({
        input_ids: int64Tensor([tokens]),
        attention_mask: int64Tensor([new Array<number>(from + tokens.length).fill(1)]),
        position_ids: int64Tensor([tokens.map((_, i) => from + i)]),
        ...(past ? pastFrom(past) : emptyPast(session, 1)),
      });
      const full = await session.run(feeds(ids[0]!, 0));
      let out = await session.run(feeds(ids[0]!.slice(0, 2), 0));
      let worst = 0;
      for (let p = 2; p < 8; p++) {
        out = await session.run(feeds([ids[0]![p]!], p, out));
        worst = Math.max(worst, maxAbsDiffWhere(logitsAt(out.logits!, 0, 0), logitsAt(full.logits!, 0, p)));
      }
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await session.release();
      removeDir(dirname(onnxPath));
    }
  });
});
