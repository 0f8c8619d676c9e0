import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';
import { SeededRandom } from '../../util/random';
import { writeSafetensors } from '../../util/safetensors';
import { ConfigReader } from '../config';
import { decoderFamily } from './decoder';
import { ropeInvFreq, ropeSpec } from './decoder-llama';
import { buildWithModule, int64Tensor, maxAbsDiffWhere, runModel } from './decoder-spec-utils';

jest.setTimeout(180_000);

const QWEN2 = {
  model_type: 'qwen2',
  vocab_size: 64,
  hidden_size: 24,
  intermediate_size: 40,
  num_hidden_layers: 2,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  tie_word_embeddings: true,
  use_sliding_window: false,
  initializer_range: 0.3,
  hidden_act: 'silu',
};

const IDS = [
  [3, 9, 14, 2, 40, 41, 7, 22],
  [11, 4, 19, 33, 2, 8, 45, 12],
];
const FULL = IDS.map((r) => r.map(() => 1));
const feeds = (ids: number[][], mask: number[][] = FULL) => ({
  input_ids: int64Tensor(ids),
  attention_mask: int64Tensor(mask),
});
const cleanup = (onnxPath: string) => rmSync(dirname(onnxPath), { recursive: true, force: true });

function initializerNames(onnxPath: string): string[] {
  return onnx.ModelProto.decode(readFileSync(onnxPath)).graph!.initializer!.map((t) => t.name!);
}

describe('qwen2 (random weights)', () => {
  let onnxPath: string;
  beforeAll(async () => {
    onnxPath = await buildWithModule(decoderFamily, QWEN2, { weights: 'random', seed: 5 });
  });
  afterAll(() => cleanup(onnxPath));

  it('has q/k/v biases but no o_proj bias, and a tied head', () => {
    const names = initializerNames(onnxPath);
    for (const p of ['q_proj', 'k_proj', 'v_proj']) expect(names).toContain(`layers.1.self_attn.${p}.bias`);
    expect(names).not.toContain('layers.1.self_attn.o_proj.bias');
    expect(names).not.toContain('lm_head.weight');
    expect(names).toContain('embed_tokens.weight');
  });

  it('gives finite logits deterministically per seed, and is causal', async () => {
    const a = (await runModel(onnxPath, feeds(IDS))).logits!;
    expect(a.dims).toEqual([2, 8, 64]);
    expect(a.data.every((v) => Number.isFinite(v))).toBe(true);
    const again = await buildWithModule(decoderFamily, QWEN2, { weights: 'random', seed: 5 });
    try {
      expect(maxAbsDiffWhere(a.data, (await runModel(again, feeds(IDS))).logits!.data)).toBe(0);
    } finally {
      cleanup(again);
    }
    const changed = IDS.map((r) => [...r.slice(0, 5), 60, 61, 62]);
    const b = (await runModel(onnxPath, feeds(changed))).logits!;
    const early = (i: number) => Math.floor(i / 64) % 8 < 5;
    expect(maxAbsDiffWhere(a.data, b.data, early)).toBeLessThan(1e-6);
    expect(maxAbsDiffWhere(a.data, b.data, (i) => !early(i))).toBeGreaterThan(1e-3);
  });

  it('is relative (RoPE): a left-padded row matches the unpadded row at its tokens', async () => {
    // Positions are arange(seq) whatever the mask; RoPE scores depend on q - k only, padded keys are
    // masked, so shifting a sequence right by two padding tokens shifts its logits unchanged.
    const row = IDS[0]!;
    const padded = [[0, 0, ...row.slice(0, 6)], row];
    const mask = [[0, 0, 1, 1, 1, 1, 1, 1], FULL[0]!];
    const a = (await runModel(onnxPath, feeds(padded, mask))).logits!.data;
    const b = (await runModel(onnxPath, feeds(IDS))).logits!.data;
    const shifted = a.slice(2 * 64, 8 * 64);
    const ref = b.slice(0, 6 * 64);
    expect(maxAbsDiffWhere(shifted, ref)).toBeLessThan(1e-4);
    expect(a.every((v) => Number.isFinite(v))).toBe(true);
  });
});

describe('qwen2 sliding window', () => {
  it('limits the receptive field to layers * (window - 1) tokens back', async () => {
    const config = { ...QWEN2, use_sliding_window: true, sliding_window: 2, max_window_layers: 0 };
    const onnxPath = await buildWithModule(decoderFamily, config, { weights: 'random', seed: 5 });
    try {
      const a = (await runModel(onnxPath, feeds(IDS))).logits!.data;
      const changed = IDS.map((r) => [63, ...r.slice(1)]);
      const b = (await runModel(onnxPath, feeds(changed))).logits!.data;
      const pos = (i: number) => Math.floor(i / 64) % 8;
      // 2 layers with window 2: position p sees tokens p-2..p.
      expect(maxAbsDiffWhere(a, b, (i) => pos(i) >= 3)).toBeLessThan(1e-6);
      expect(maxAbsDiffWhere(a, b, (i) => pos(i) === 2)).toBeGreaterThan(1e-4);
    } finally {
      cleanup(onnxPath);
    }
  });
});

describe('qwen2 equals llama with attention_bias and a zero o_proj bias', () => {
  it('on the same checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qwen2-llama-'));
    try {
      const rng = new SeededRandom(9);
      const c = { ...QWEN2, head_dim: 8, tie_word_embeddings: false };
      const H = c.hidden_size;
      const D = c.head_dim;
      const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
      const t = (name: string, shape: number[], mean = 0, std = 0.3) => {
        tensors[name] = {
          dtype: 'F32',
          shape,
          data: rng.fillNormal(new Float32Array(shape.reduce((x, y) => x * y, 1)), mean, std),
        };
      };
      t('model.embed_tokens.weight', [c.vocab_size, H], 0, 1);
      t('lm_head.weight', [c.vocab_size, H]);
      t('model.norm.weight', [H], 1, 0.1);
      for (let i = 0; i < c.num_hidden_layers; i++) {
        const p = `model.layers.${i}`;
        t(`${p}.input_layernorm.weight`, [H], 1, 0.1);
        t(`${p}.post_attention_layernorm.weight`, [H], 1, 0.1);
        t(`${p}.self_attn.q_proj.weight`, [c.num_attention_heads * D, H]);
        t(`${p}.self_attn.q_proj.bias`, [c.num_attention_heads * D]);
        for (const kv of ['k_proj', 'v_proj']) {
          t(`${p}.self_attn.${kv}.weight`, [c.num_key_value_heads * D, H]);
          t(`${p}.self_attn.${kv}.bias`, [c.num_key_value_heads * D]);
        }
        t(`${p}.self_attn.o_proj.weight`, [H, c.num_attention_heads * D]);
        t(`${p}.mlp.gate_proj.weight`, [c.intermediate_size, H]);
        t(`${p}.mlp.up_proj.weight`, [c.intermediate_size, H]);
        t(`${p}.mlp.down_proj.weight`, [H, c.intermediate_size]);
      }
      const qwenPath = join(dir, 'qwen2.safetensors');
      writeSafetensors(qwenPath, tensors);
      for (let i = 0; i < c.num_hidden_layers; i++) {
        tensors[`model.layers.${i}.self_attn.o_proj.bias`] = {
          dtype: 'F32',
          shape: [H],
          data: new Float32Array(H),
        };
      }
      const llamaPath = join(dir, 'llama.safetensors');
      writeSafetensors(llamaPath, tensors);

      const qwen = await buildWithModule(
        decoderFamily,
        c,
        { weights: 'safetensors', safetensorsPaths: [qwenPath] },
        join(dir, 'q'),
      );
      const llama = await buildWithModule(
        decoderFamily,
        { ...c, model_type: 'llama', attention_bias: true },
        { weights: 'safetensors', safetensorsPaths: [llamaPath] },
        join(dir, 'l'),
      );
      const mask = [FULL[0]!, [1, 1, 1, 1, 1, 1, 0, 0]];
      const a = (await runModel(qwen, feeds(IDS, mask))).logits!;
      const b = (await runModel(llama, feeds(IDS, mask))).logits!;
      expect(a.dims).toEqual([2, 8, 64]);
      expect(maxAbsDiffWhere(a.data, b.data)).toBeLessThan(1e-6);
      // And the biases matter: the checkpoint without them (plain llama) differs.
      const plain = await buildWithModule(
        decoderFamily,
        { ...c, model_type: 'llama' },
        { weights: 'safetensors', safetensorsPaths: [qwenPath] },
        join(dir, 'p'),
      );
      expect(maxAbsDiffWhere(a.data, (await runModel(plain, feeds(IDS, mask))).logits!.data)).toBeGreaterThan(
        1e-3,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rope parameters', () => {
  const reader = (raw: Record<string, unknown>) => new ConfigReader({ model_type: 'llama', ...raw });

  it('reads rope_parameters (5.x) and rope_theta (4.x) alike', () => {
    const a = ropeInvFreq(
      ropeSpec(reader({ rope_parameters: { rope_type: 'default', rope_theta: 500000 } }), 64),
    );
    const b = ropeInvFreq(ropeSpec(reader({ rope_theta: 500000 }), 64));
    expect([...a]).toEqual([...b]);
    expect(a[0]).toBe(1);
    expect(a[1]).toBeCloseTo(Math.pow(500000, -2 / 64), 6);
  });

  it('applies llama3 scaling: high frequencies kept, low ones divided by factor, a smooth band between', () => {
    const rope = {
      rope_type: 'llama3',
      rope_theta: 500000,
      factor: 32,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    };
    const plain = ropeInvFreq(ropeSpec(reader({ rope_theta: 500000 }), 64));
    const scaled = ropeInvFreq(ropeSpec(reader({ rope_parameters: rope }), 64));
    let medium = 0;
    for (let i = 0; i < plain.length; i++) {
      const wavelen = (2 * Math.PI) / plain[i]!;
      if (wavelen < 8192 / 4) expect(scaled[i]).toBe(plain[i]);
      else if (wavelen > 8192) expect(scaled[i]).toBeCloseTo(plain[i]! / 32, 12);
      else {
        medium++;
        expect(scaled[i]!).toBeLessThan(plain[i]!);
        expect(scaled[i]!).toBeGreaterThan(plain[i]! / 32);
      }
    }
    expect(medium).toBeGreaterThan(0);
  });

  it('refuses rope types it does not implement', () => {
    expect(() =>
      ropeSpec(reader({ rope_parameters: { rope_type: 'yarn', rope_theta: 1e4, factor: 4 } }), 64),
    ).toThrow(/yarn/);
  });
});
