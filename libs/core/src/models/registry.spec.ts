import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { CoreError, ErrorCode } from '../errors';
import { countGraphParameters, tasksFor } from '../onnx';
import { countParameters, findModel, listModels, MODEL_TYPE_FAMILY, resolveModel } from './registry';

const REQUIRED = [
  'bert-base-uncased',
  'bert-large-uncased',
  'bert-base-cased',
  'bert-base-multilingual-cased',
  'distilbert-base-uncased',
  'roberta-base',
  'roberta-large',
  'xlm-roberta-base',
  'google/electra-small-discriminator',
  'google/electra-base-discriminator',
  'sentence-transformers/all-MiniLM-L6-v2',
  'sentence-transformers/all-MiniLM-L12-v2',
  'microsoft/MiniLM-L12-H384-uncased',
  'gpt2',
  'gpt2-medium',
  'gpt2-large',
  'distilgpt2',
  'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
  'HuggingFaceTB/SmolLM2-135M',
  'HuggingFaceTB/SmolLM2-360M',
  'meta-llama/Llama-3.2-1B',
  'Qwen/Qwen2.5-0.5B',
  'Qwen/Qwen2.5-1.5B',
  'Qwen/Qwen2-0.5B',
  'google/vit-base-patch16-224',
  'google/vit-large-patch16-224',
  'facebook/deit-small-patch16-224',
  'facebook/deit-base-patch16-224',
  'facebook/deit-tiny-patch16-224',
  't5-small',
  't5-base',
  'google/flan-t5-small',
  'google/flan-t5-base',
];

/**
 * Parameter counts as transformers reports them (sum of numel over model.parameters()) for the class
 * the checkpoint's architectures name (the default task's head).
 */
const KNOWN_PARAMETERS: Record<string, number> = {
  'bert-base-uncased': 109_514_298, // BertForMaskedLM: no pooler, MLM transform + bias, decoder tied
  'bert-large-uncased': 335_174_458,
  'distilbert-base-uncased': 66_985_530, // DistilBertForMaskedLM
  'roberta-base': 124_697_433, // RobertaForMaskedLM
  'roberta-large': 355_412_057,
  'xlm-roberta-base': 278_295_186,
  'sentence-transformers/all-MiniLM-L6-v2': 22_713_216, // BertModel with pooler (pooling has none)
  'google/electra-base-discriminator': 108_891_648, // ElectraForPreTraining → feature-extraction (ElectraModel)
  gpt2: 124_439_808,
  'gpt2-medium': 354_823_168,
  'gpt2-large': 774_030_080,
  distilgpt2: 81_912_576,
  'TinyLlama/TinyLlama-1.1B-Chat-v1.0': 1_100_048_384,
  'HuggingFaceTB/SmolLM2-135M': 134_515_008,
  'meta-llama/Llama-3.2-1B': 1_235_814_400,
  'Qwen/Qwen2.5-0.5B': 494_032_768,
  'Qwen/Qwen2.5-1.5B': 1_543_714_304,
  'google/vit-base-patch16-224': 86_567_656, // ViTForImageClassification: no pooler, 1000-class classifier
  'google/vit-base-patch16-224-in21k': 86_389_248, // ViTModel with pooler
  't5-small': 60_506_624, // T5ForConditionalGeneration, lm_head tied
  't5-base': 222_903_552,
  'google/flan-t5-small': 76_961_152, // untied lm_head
  'google/flan-t5-base': 247_577_856,
};

function errorOf(fn: () => unknown): CoreError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CoreError) return err;
    throw err;
  }
  throw new Error('expected a CoreError');
}

describe('model registry', () => {
  const models = listModels();

  it('lists at least 40 distinct models including every required id', () => {
    expect(models.length).toBeGreaterThanOrEqual(40);
    expect(new Set(models.map((m) => m.id)).size).toBe(models.length);
    const ids = new Set(models.map((m) => m.id));
    for (const id of REQUIRED) expect(ids).toContain(id);
  });

  it('gives every model its family from model_type, with all four families present', () => {
    for (const m of models) expect(m.family).toBe(MODEL_TYPE_FAMILY[m.model_type]);
    expect(new Set(models.map((m) => m.family))).toEqual(
      new Set(['encoder', 'decoder', 'vision', 'encoder-decoder']),
    );
    expect(models.find((m) => m.id === 'google/electra-small-discriminator')!.family).toBe('encoder');
    expect(models.find((m) => m.id === 'Qwen/Qwen2-0.5B')!.model_type).toBe('qwen2');
    expect(models.find((m) => m.id === 't5-small')!.family).toBe('encoder-decoder');
    expect(models.find((m) => m.id === 'facebook/deit-base-distilled-patch16-224')!.model_type).toBe('deit');
  });

  it.each(Object.entries(KNOWN_PARAMETERS))(
    'counts the parameters of %s like transformers',
    (id, expected) => {
      const m = models.find((x) => x.id === id)!;
      expect(m.parameters).toBe(expected);
      expect(m.fp32_bytes).toBe(expected * 4);
      expect(countParameters(resolveModel(id).config)).toBe(expected);
    },
  );

  it.each(models.map((m) => [m.id, m] as const))(
    'lists for %s the parameter count of the graph built by default',
    async (id, m) => {
      const r = resolveModel(id);
      expect(m.task).toBe(r.task);
      expect(m.tasks).toContain(m.task);
      const built = await countGraphParameters(r.config, {
        task: r.task,
        pooling: r.task === 'feature-extraction' ? r.pooling : undefined,
      });
      expect(m.parameters).toBe(built);
    },
  );

  it('counts every other task of a model like its graph too', async () => {
    for (const id of [
      'bert-base-uncased',
      'roberta-base',
      'distilbert-base-uncased',
      'google/electra-small-discriminator',
      'gpt2',
      'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
      'facebook/deit-tiny-distilled-patch16-224',
      'google/vit-base-patch16-224',
      'google/flan-t5-small',
    ]) {
      const r = resolveModel(id);
      for (const task of tasksFor(r.modelType)) {
        expect([id, task, countParameters(r.config, task)]).toEqual([
          id,
          task,
          await countGraphParameters(r.config, { task }),
        ]);
      }
    }
  });

  it('defaults each id to the task its architectures name, as optimum infers it', () => {
    const task = (id: string) => models.find((m) => m.id === id)!.task;
    expect(task('bert-base-uncased')).toBe('fill-mask');
    expect(task('distilbert-base-uncased')).toBe('fill-mask');
    expect(task('xlm-roberta-base')).toBe('fill-mask');
    expect(task('sentence-transformers/all-MiniLM-L6-v2')).toBe('feature-extraction');
    expect(task('google/electra-base-discriminator')).toBe('feature-extraction');
    expect(task('gpt2')).toBe('text-generation');
    expect(task('Qwen/Qwen2.5-0.5B')).toBe('text-generation');
    expect(task('google/vit-base-patch16-224')).toBe('image-classification');
    expect(task('google/vit-base-patch16-224-in21k')).toBe('feature-extraction');
    expect(task('facebook/deit-base-distilled-patch16-224')).toBe('image-classification');
    expect(task('t5-small')).toBe('text2text-generation');
  });

  it('pins the registry values corrected against the published configs', () => {
    expect(resolveModel('Qwen/Qwen2.5-0.5B-Instruct').config.max_window_layers).toBe(21);
    expect(resolveModel('Qwen/Qwen2.5-1.5B').config.max_window_layers).toBe(28);
    expect(resolveModel('HuggingFaceTB/SmolLM2-1.7B').config.pad_token_id).toBe(2);
    expect(resolveModel('google/flan-t5-small').config.tie_word_embeddings).toBe(false);
    expect(models.find((m) => m.id === 'google/flan-t5-small')!.parameters).toBe(76_961_152);
  });

  it('gives the sentence-transformers ids their pooling and normalisation', () => {
    const pooling = (id: string) => models.find((m) => m.id === id)!.pooling;
    expect(pooling('sentence-transformers/all-MiniLM-L6-v2')).toEqual({ mode: 'mean', normalize: true });
    expect(pooling('sentence-transformers/paraphrase-MiniLM-L6-v2')).toEqual({
      mode: 'mean',
      normalize: false,
    });
    expect(pooling('BAAI/bge-small-en-v1.5')).toEqual({ mode: 'cls', normalize: true });
    expect(pooling('bert-base-uncased')).toBeUndefined();
    expect(resolveModel('intfloat/e5-small-v2').pooling).toEqual({ mode: 'mean', normalize: true });
  });

  it('keeps the real config values that matter to the builders', () => {
    const bert = resolveModel('bert-base-uncased').config;
    expect(bert).toMatchObject({
      hidden_size: 768,
      num_hidden_layers: 12,
      vocab_size: 30522,
      layer_norm_eps: 1e-12,
    });
    expect(resolveModel('roberta-base').config).toMatchObject({
      pad_token_id: 1,
      max_position_embeddings: 514,
      type_vocab_size: 1,
    });
    expect(resolveModel('gpt2').config).toMatchObject({ activation_function: 'gelu_new', n_positions: 1024 });
    expect(resolveModel('meta-llama/Llama-3.2-1B').config).toMatchObject({
      num_key_value_heads: 8,
      rope_theta: 500000,
      tie_word_embeddings: true,
    });
    expect(resolveModel('Qwen/Qwen2.5-0.5B').config).toMatchObject({
      rms_norm_eps: 1e-6,
      num_key_value_heads: 2,
    });
    expect(resolveModel('google/flan-t5-small').config).toMatchObject({
      feed_forward_proj: 'gated-gelu',
      tie_word_embeddings: false,
      d_kv: 64,
    });
    expect(resolveModel('google/electra-small-discriminator').config).toMatchObject({
      embedding_size: 128,
      hidden_size: 256,
    });
  });

  it('resolves ids case-insensitively and through Hub aliases, and returns a copy of the config', () => {
    expect(resolveModel('openai-community/gpt2').id).toBe('gpt2');
    expect(resolveModel('BERT-BASE-UNCASED').id).toBe('bert-base-uncased');
    const a = resolveModel('gpt2');
    a.config.n_layer = 1;
    expect(resolveModel('gpt2').config.n_layer).toBe(12);
    expect(findModel('nope/nothing')).toBeUndefined();
  });

  it('rejects an unknown id with UNKNOWN_MODEL naming the families and the local-directory option', () => {
    const err = errorOf(() => resolveModel('acme/not-a-model'));
    expect(err.code).toBe(ErrorCode.UNKNOWN_MODEL);
    expect(err.message).toContain('acme/not-a-model');
    expect(err.message).toMatch(/encoder-decoder/);
    expect(err.message).toMatch(/config\.json/);
    expect(errorOf(() => resolveModel('')).code).toBe(ErrorCode.UNKNOWN_MODEL);
  });

  describe('local directories', () => {
    let tmp: string;
    beforeEach(() => {
      tmp = mkdtempSync(join(tmpdir(), 'registry-'));
    });
    afterEach(() => rmSync(tmp, { recursive: true, force: true }));

    it.each([
      ['bert', 'encoder'],
      ['distilbert', 'encoder'],
      ['gpt2', 'decoder'],
      ['llama', 'decoder'],
      ['vit', 'vision'],
    ])('resolves the hf-tiny %s fixture to the %s family with its checkpoint', (name, family) => {
      const dir = join(HF_TINY, name);
      const r = resolveModel(dir);
      expect(r.family).toBe(family);
      expect(r.id).toBe(dir);
      expect(r.dir).toBe(dir);
      expect(r.modelType).toBe(r.config.model_type);
      expect(r.safetensorsPaths).toEqual([join(dir, 'model.safetensors')]);
      expect(r.tokenizerPath).toBeUndefined();
    });

    it('finds sharded checkpoints through the index, and tokenizer.json', () => {
      copyFileSync(join(HF_TINY, 'bert', 'config.json'), join(tmp, 'config.json'));
      writeFileSync(join(tmp, 'tokenizer.json'), '{}');
      for (const s of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'])
        writeFileSync(join(tmp, s), '');
      writeFileSync(
        join(tmp, 'model.safetensors.index.json'),
        JSON.stringify({
          weight_map: {
            a: 'model-00002-of-00002.safetensors',
            b: 'model-00001-of-00002.safetensors',
            c: 'model-00002-of-00002.safetensors',
          },
        }),
      );
      const r = resolveModel(tmp);
      expect(r.safetensorsPaths).toEqual([
        join(tmp, 'model-00001-of-00002.safetensors'),
        join(tmp, 'model-00002-of-00002.safetensors'),
      ]);
      expect(r.tokenizerPath).toBe(join(tmp, 'tokenizer.json'));
    });

    it('reports a shard the index names but the directory lacks', () => {
      copyFileSync(join(HF_TINY, 'bert', 'config.json'), join(tmp, 'config.json'));
      writeFileSync(
        join(tmp, 'model.safetensors.index.json'),
        JSON.stringify({ weight_map: { a: 'model-00001-of-00001.safetensors' } }),
      );
      const err = errorOf(() => resolveModel(tmp));
      expect(err.code).toBe(ErrorCode.INVALID_MODEL);
      expect(err.message).toContain('model-00001-of-00001.safetensors');
    });

    it('rejects a directory without config.json, or with an unsupported model_type, as UNKNOWN_MODEL', () => {
      expect(errorOf(() => resolveModel(tmp)).code).toBe(ErrorCode.UNKNOWN_MODEL);
      writeFileSync(join(tmp, 'config.json'), JSON.stringify({ model_type: 'mamba' }));
      const err = errorOf(() => resolveModel(tmp));
      expect(err.code).toBe(ErrorCode.UNKNOWN_MODEL);
      expect(err.message).toContain('mamba');
      expect(err.message).toContain('bert (encoder)');
    });
  });
});
