/**
 * Sentence embeddings end to end: a local sentence-transformers folder (config.json, tokenizer.json,
 * modules.json, 1_Pooling/config.json) is generated into an implementation whose handle.embed(texts)
 * returns the pooled, normalised embeddings, equal to pooling computed directly from the same
 * implementation's token states.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOKENIZER_FIXTURES } from '../../../../test/fixtures';
import { resolveModel } from '../models/registry';
import type { ModelHandle } from '../types';
import { loadGeneratedImplementation } from './loader';
import { runGenerationPipeline } from './pipeline';

jest.setTimeout(180_000);

const root = mkdtempSync(join(tmpdir(), 'gen-embed-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function sentenceTransformersFolder(
  name: string,
  pooling: Record<string, boolean>,
  normalize: boolean,
): string {
  const dir = join(root, name);
  mkdirSync(join(dir, '1_Pooling'), { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['BertModel'],
      model_type: 'bert',
      hidden_size: 32,
      intermediate_size: 37,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      max_position_embeddings: 64,
      type_vocab_size: 2,
      vocab_size: 300,
      initializer_range: 0.5,
    }),
  );
  copyFileSync(join(TOKENIZER_FIXTURES, 'wordpiece.tokenizer.json'), join(dir, 'tokenizer.json'));
  const modules = [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
  ];
  if (normalize)
    modules.push({ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' });
  writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules));
  writeFileSync(
    join(dir, '1_Pooling', 'config.json'),
    JSON.stringify({ word_embedding_dimension: 32, ...pooling }),
  );
  return dir;
}

const TEXTS = ['the quick brown fox', 'hello world, hello again and again', 'a'];

const CASES: [string, Record<string, boolean>, boolean][] = [
  ['mean + Normalize', { pooling_mode_mean_tokens: true }, true],
  ['cls', { pooling_mode_cls_token: true }, false],
];
describe.each(CASES)(
  'handle.embed on a sentence-transformers folder (%s)',
  (name, poolingConfig, normalize) => {
    let handle: ModelHandle;

    beforeAll(async () => {
      const source = resolveModel(
        sentenceTransformersFolder(name.replace(/\W+/g, '-'), poolingConfig, normalize),
      );
      expect(source.task).toBe('feature-extraction');
      expect(source.pooling).toEqual({
        mode: poolingConfig.pooling_mode_cls_token ? 'cls' : 'mean',
        normalize,
      });
      const out = join(root, `${name.replace(/\W+/g, '-')}-impl`);
      const result = await runGenerationPipeline(
        { source, outDir: out, weights: 'random', precision: 'fp32', seed: 5, backends: ['cpu'] },
        { signal: new AbortController().signal, onProgress: () => undefined },
      );
      expect(result.manifest.task).toBe('feature-extraction');
      expect(result.manifest.pooling).toEqual(source.pooling);
      expect(result.manifest.outputs.map((o) => o.name)).toContain('sentence_embedding');
      const impl = loadGeneratedImplementation(result.jsPath);
      expect(impl.metadata.task).toBe('feature-extraction');
      expect(impl.metadata.pooling).toEqual(source.pooling);
      handle = await impl.load({ backend: 'cpu' });
    });
    afterAll(() => handle?.release());

    it('returns one vector per text, equal to pooling the token states directly', async () => {
      expect(typeof handle.embed).toBe('function');
      const vectors = await handle.embed!(TEXTS);
      expect(vectors).toHaveLength(TEXTS.length);
      const feeds = await handle.encode!(TEXTS);
      const out = await handle.run(feeds);
      const states = out.last_hidden_state!;
      const [B, S, H] = states.dims as [number, number, number];
      const data = states.data as Float32Array;
      const mask = Array.from(feeds.attention_mask!.data as BigInt64Array, Number);
      for (let b = 0; b < B; b++) {
        let v = new Array<number>(H).fill(0);
        if (poolingConfig.pooling_mode_cls_token) {
          v = Array.from(data.slice(b * S * H, b * S * H + H));
        } else {
          let count = 0;
          for (let s = 0; s < S; s++) {
            if (!mask[b * S + s]) continue;
            count++;
            for (let j = 0; j < H; j++) v[j]! += data[(b * S + s) * H + j]!;
          }
          v = v.map((x) => x / count);
        }
        if (normalize) {
          const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
          v = v.map((x) => x / n);
        }
        expect(vectors[b]!).toHaveLength(H);
        const err = Math.max(...v.map((x, j) => Math.abs(x - vectors[b]![j]!)));
        expect(err).toBeLessThan(1e-5);
        if (normalize) expect(Math.hypot(...vectors[b]!)).toBeCloseTo(1, 5);
      }
      // A single string is one text (alone it is not padded, so equal within float rounding).
      const single = await handle.embed!(TEXTS[0]!);
      expect(single).toHaveLength(1);
      expect(Math.max(...single[0]!.map((x, j) => Math.abs(x - vectors[0]![j]!)))).toBeLessThan(1e-5);
    });
  },
);
