/**
 * Known Hugging Face models with their config.json values as published (label maps and
 * task_specific_params left out). Where a published file relies on a transformers default for a
 * field the builders read (T5's feed_forward_proj, relative_attention_max_distance,
 * num_decoder_layers), the default is written out and marked.
 */
import type { PoolingSpec } from '../onnx/tasks';

export interface RegistryEntry {
  id: string;
  /** Other names the Hub serves the same repository under. */
  aliases?: string[];
  config: Record<string, unknown>;
  /** sentence-transformers checkpoints: their 1_Pooling mode and whether a Normalize module follows. */
  pooling?: PoolingSpec;
}

type Cfg = Record<string, unknown>;

/** The fields every BERT config.json carries, with bert-base values. */
const bert = (over: Cfg): Cfg => ({
  architectures: ['BertForMaskedLM'],
  attention_probs_dropout_prob: 0.1,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  hidden_size: 768,
  initializer_range: 0.02,
  intermediate_size: 3072,
  layer_norm_eps: 1e-12,
  max_position_embeddings: 512,
  model_type: 'bert',
  num_attention_heads: 12,
  num_hidden_layers: 12,
  pad_token_id: 0,
  position_embedding_type: 'absolute',
  type_vocab_size: 2,
  use_cache: true,
  vocab_size: 30522,
  ...over,
});

const bertLarge: Cfg = {
  hidden_size: 1024,
  intermediate_size: 4096,
  num_attention_heads: 16,
  num_hidden_layers: 24,
};
const bertPooler: Cfg = {
  directionality: 'bidi',
  pooler_fc_size: 768,
  pooler_num_attention_heads: 12,
  pooler_num_fc_layers: 3,
  pooler_size_per_head: 128,
  pooler_type: 'first_token_transform',
};
const miniLM: Cfg = { hidden_size: 384, intermediate_size: 1536, num_attention_heads: 12 };

const roberta = (over: Cfg): Cfg => ({
  architectures: ['RobertaForMaskedLM'],
  attention_probs_dropout_prob: 0.1,
  bos_token_id: 0,
  eos_token_id: 2,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  hidden_size: 768,
  initializer_range: 0.02,
  intermediate_size: 3072,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 514,
  model_type: 'roberta',
  num_attention_heads: 12,
  num_hidden_layers: 12,
  pad_token_id: 1,
  type_vocab_size: 1,
  vocab_size: 50265,
  ...over,
});

const distilbert = (over: Cfg): Cfg => ({
  activation: 'gelu',
  architectures: ['DistilBertForMaskedLM'],
  attention_dropout: 0.1,
  dim: 768,
  dropout: 0.1,
  hidden_dim: 3072,
  initializer_range: 0.02,
  max_position_embeddings: 512,
  model_type: 'distilbert',
  n_heads: 12,
  n_layers: 6,
  pad_token_id: 0,
  qa_dropout: 0.1,
  seq_classif_dropout: 0.2,
  sinusoidal_pos_embds: false,
  tie_weights_: true,
  vocab_size: 30522,
  ...over,
});

const electra = (over: Cfg): Cfg => ({
  architectures: ['ElectraForPreTraining'],
  attention_probs_dropout_prob: 0.1,
  embedding_size: 768,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  hidden_size: 768,
  initializer_range: 0.02,
  intermediate_size: 3072,
  layer_norm_eps: 1e-12,
  max_position_embeddings: 512,
  model_type: 'electra',
  num_attention_heads: 12,
  num_hidden_layers: 12,
  pad_token_id: 0,
  type_vocab_size: 2,
  vocab_size: 30522,
  ...over,
});

const gpt2 = (over: Cfg): Cfg => ({
  activation_function: 'gelu_new',
  architectures: ['GPT2LMHeadModel'],
  attn_pdrop: 0.1,
  bos_token_id: 50256,
  embd_pdrop: 0.1,
  eos_token_id: 50256,
  initializer_range: 0.02,
  layer_norm_epsilon: 1e-5,
  model_type: 'gpt2',
  n_ctx: 1024,
  n_embd: 768,
  n_head: 12,
  n_layer: 12,
  n_positions: 1024,
  resid_pdrop: 0.1,
  summary_activation: null,
  summary_first_dropout: 0.1,
  summary_proj_to_labels: true,
  summary_type: 'cls_index',
  summary_use_proj: true,
  vocab_size: 50257,
  ...over,
});

const llama = (over: Cfg): Cfg => ({
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  hidden_act: 'silu',
  initializer_range: 0.02,
  mlp_bias: false,
  model_type: 'llama',
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  torch_dtype: 'bfloat16',
  use_cache: true,
  ...over,
});

const smolLM2 = (over: Cfg): Cfg =>
  llama({
    bos_token_id: 0,
    eos_token_id: 0,
    head_dim: 64,
    is_llama_config: true,
    max_position_embeddings: 8192,
    rope_interleaved: false,
    rope_theta: 100000,
    tie_word_embeddings: true,
    vocab_size: 49152,
    ...over,
  });

const qwen2 = (over: Cfg): Cfg => ({
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 24,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
  ...over,
});

const vit = (over: Cfg): Cfg => ({
  architectures: ['ViTForImageClassification'],
  attention_probs_dropout_prob: 0.0,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.0,
  hidden_size: 768,
  image_size: 224,
  initializer_range: 0.02,
  intermediate_size: 3072,
  layer_norm_eps: 1e-12,
  model_type: 'vit',
  num_attention_heads: 12,
  num_channels: 3,
  // stands in for the published 1000-entry ImageNet id2label, which is left out
  num_labels: 1000,
  num_hidden_layers: 12,
  patch_size: 16,
  qkv_bias: true,
  ...over,
});

const deitDistilled = (over: Cfg): Cfg =>
  vit({
    architectures: ['DeiTForImageClassificationWithTeacher'],
    encoder_stride: 16,
    model_type: 'deit',
    ...over,
  });

const t5 = (over: Cfg): Cfg => ({
  architectures: ['T5ForConditionalGeneration'],
  d_ff: 2048,
  d_kv: 64,
  d_model: 512,
  decoder_start_token_id: 0,
  dropout_rate: 0.1,
  eos_token_id: 1,
  // transformers default, not in the original t5-* files:
  feed_forward_proj: 'relu',
  initializer_factor: 1.0,
  is_encoder_decoder: true,
  layer_norm_epsilon: 1e-6,
  model_type: 't5',
  n_positions: 512,
  num_heads: 8,
  num_layers: 6,
  // transformers defaults, not in the original t5-* files:
  num_decoder_layers: 6,
  relative_attention_max_distance: 128,
  output_past: true,
  pad_token_id: 0,
  relative_attention_num_buckets: 32,
  vocab_size: 32128,
  ...over,
});

const t5Gated = (over: Cfg): Cfg =>
  t5({
    d_ff: 1024,
    dense_act_fn: 'gelu_new',
    feed_forward_proj: 'gated-gelu',
    is_gated_act: true,
    num_heads: 6,
    num_layers: 8,
    num_decoder_layers: 8,
    tie_word_embeddings: false,
    use_cache: true,
    ...over,
  });

export const REGISTRY_ENTRIES: RegistryEntry[] = [
  // ---- encoders: BERT and BERT-architecture checkpoints ----
  {
    id: 'bert-base-uncased',
    aliases: ['google-bert/bert-base-uncased'],
    config: bert({ gradient_checkpointing: false }),
  },
  { id: 'bert-large-uncased', aliases: ['google-bert/bert-large-uncased'], config: bert({ ...bertLarge }) },
  { id: 'bert-base-cased', aliases: ['google-bert/bert-base-cased'], config: bert({ vocab_size: 28996 }) },
  {
    id: 'bert-large-cased',
    aliases: ['google-bert/bert-large-cased'],
    config: bert({ ...bertLarge, vocab_size: 28996 }),
  },
  {
    id: 'bert-base-multilingual-cased',
    aliases: ['google-bert/bert-base-multilingual-cased'],
    config: bert({ ...bertPooler, vocab_size: 119547 }),
  },
  {
    id: 'bert-base-multilingual-uncased',
    aliases: ['google-bert/bert-base-multilingual-uncased'],
    config: bert({ ...bertPooler, vocab_size: 105879 }),
  },
  {
    id: 'bert-base-chinese',
    aliases: ['google-bert/bert-base-chinese'],
    config: bert({ ...bertPooler, vocab_size: 21128 }),
  },
  {
    id: 'prajjwal1/bert-tiny',
    config: bert({ hidden_size: 128, intermediate_size: 512, num_attention_heads: 2, num_hidden_layers: 2 }),
  },
  {
    id: 'prajjwal1/bert-mini',
    config: bert({ hidden_size: 256, intermediate_size: 1024, num_attention_heads: 4, num_hidden_layers: 4 }),
  },
  {
    id: 'sentence-transformers/all-MiniLM-L6-v2',
    pooling: { mode: 'mean', normalize: true },
    config: bert({
      ...miniLM,
      architectures: ['BertModel'],
      gradient_checkpointing: false,
      num_hidden_layers: 6,
    }),
  },
  {
    id: 'sentence-transformers/all-MiniLM-L12-v2',
    pooling: { mode: 'mean', normalize: true },
    config: bert({ ...miniLM, architectures: ['BertModel'], gradient_checkpointing: false }),
  },
  {
    id: 'sentence-transformers/paraphrase-MiniLM-L6-v2',
    pooling: { mode: 'mean', normalize: false },
    config: bert({
      ...miniLM,
      architectures: ['BertModel'],
      gradient_checkpointing: false,
      num_hidden_layers: 6,
    }),
  },
  {
    id: 'sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2',
    pooling: { mode: 'mean', normalize: false },
    config: bert({
      ...miniLM,
      architectures: ['BertModel'],
      gradient_checkpointing: false,
      vocab_size: 250037,
    }),
  },
  { id: 'microsoft/MiniLM-L12-H384-uncased', config: bert({ ...miniLM, architectures: ['BertModel'] }) },
  {
    id: 'BAAI/bge-small-en-v1.5',
    pooling: { mode: 'cls', normalize: true },
    config: bert({ ...miniLM, architectures: ['BertModel'] }),
  },
  {
    id: 'BAAI/bge-base-en-v1.5',
    pooling: { mode: 'cls', normalize: true },
    config: bert({ architectures: ['BertModel'] }),
  },
  {
    id: 'intfloat/e5-small-v2',
    pooling: { mode: 'mean', normalize: true },
    config: bert({ ...miniLM, architectures: ['BertModel'] }),
  },
  // ---- encoders: DistilBERT ----
  { id: 'distilbert-base-uncased', aliases: ['distilbert/distilbert-base-uncased'], config: distilbert({}) },
  {
    id: 'distilbert-base-cased',
    aliases: ['distilbert/distilbert-base-cased'],
    config: distilbert({ vocab_size: 28996 }),
  },
  {
    id: 'distilbert-base-multilingual-cased',
    aliases: ['distilbert/distilbert-base-multilingual-cased'],
    config: distilbert({ vocab_size: 119547 }),
  },
  // ---- encoders: RoBERTa, XLM-RoBERTa ----
  { id: 'roberta-base', aliases: ['FacebookAI/roberta-base'], config: roberta({}) },
  { id: 'roberta-large', aliases: ['FacebookAI/roberta-large'], config: roberta({ ...bertLarge }) },
  {
    id: 'distilroberta-base',
    aliases: ['distilbert/distilroberta-base'],
    config: roberta({ num_hidden_layers: 6 }),
  },
  {
    id: 'xlm-roberta-base',
    aliases: ['FacebookAI/xlm-roberta-base'],
    config: roberta({
      architectures: ['XLMRobertaForMaskedLM'],
      model_type: 'xlm-roberta',
      output_past: true,
      vocab_size: 250002,
    }),
  },
  {
    id: 'xlm-roberta-large',
    aliases: ['FacebookAI/xlm-roberta-large'],
    config: roberta({
      ...bertLarge,
      architectures: ['XLMRobertaForMaskedLM'],
      model_type: 'xlm-roberta',
      output_past: true,
      vocab_size: 250002,
    }),
  },
  // ---- encoders: ELECTRA ----
  {
    id: 'google/electra-small-discriminator',
    config: electra({
      embedding_size: 128,
      hidden_size: 256,
      intermediate_size: 1024,
      num_attention_heads: 4,
    }),
  },
  { id: 'google/electra-base-discriminator', config: electra({}) },
  { id: 'google/electra-large-discriminator', config: electra({ ...bertLarge, embedding_size: 1024 }) },
  // ---- decoders: GPT-2 ----
  { id: 'gpt2', aliases: ['openai-community/gpt2'], config: gpt2({}) },
  {
    id: 'gpt2-medium',
    aliases: ['openai-community/gpt2-medium'],
    config: gpt2({ n_embd: 1024, n_head: 16, n_layer: 24, n_special: 0, predict_special_tokens: true }),
  },
  {
    id: 'gpt2-large',
    aliases: ['openai-community/gpt2-large'],
    config: gpt2({ n_embd: 1280, n_head: 20, n_layer: 36 }),
  },
  {
    id: 'gpt2-xl',
    aliases: ['openai-community/gpt2-xl'],
    config: gpt2({ n_embd: 1600, n_head: 25, n_layer: 48 }),
  },
  { id: 'distilgpt2', aliases: ['distilbert/distilgpt2'], config: gpt2({ n_layer: 6 }) },
  // ---- decoders: Llama ----
  {
    id: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    config: llama({
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_size: 2048,
      intermediate_size: 5632,
      max_position_embeddings: 2048,
      num_attention_heads: 32,
      num_hidden_layers: 22,
      num_key_value_heads: 4,
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      vocab_size: 32000,
    }),
  },
  {
    id: 'HuggingFaceTB/SmolLM2-135M',
    config: smolLM2({
      hidden_size: 576,
      initializer_range: 0.041666666666666664,
      intermediate_size: 1536,
      num_attention_heads: 9,
      num_hidden_layers: 30,
      num_key_value_heads: 3,
    }),
  },
  {
    id: 'HuggingFaceTB/SmolLM2-360M',
    config: smolLM2({
      hidden_size: 960,
      intermediate_size: 2560,
      num_attention_heads: 15,
      num_hidden_layers: 32,
      num_key_value_heads: 5,
    }),
  },
  {
    id: 'HuggingFaceTB/SmolLM2-1.7B',
    config: smolLM2({
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_size: 2048,
      intermediate_size: 8192,
      num_attention_heads: 32,
      num_hidden_layers: 24,
      num_key_value_heads: 32,
      pad_token_id: 2,
      rope_theta: 130000,
    }),
  },
  {
    id: 'meta-llama/Llama-3.2-1B',
    config: llama({
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 64,
      hidden_size: 2048,
      intermediate_size: 8192,
      max_position_embeddings: 131072,
      num_attention_heads: 32,
      num_hidden_layers: 16,
      num_key_value_heads: 8,
      rope_scaling: {
        factor: 32.0,
        high_freq_factor: 4.0,
        low_freq_factor: 1.0,
        original_max_position_embeddings: 8192,
        rope_type: 'llama3',
      },
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      vocab_size: 128256,
    }),
  },
  // ---- decoders: Qwen2 ----
  { id: 'Qwen/Qwen2.5-0.5B', config: qwen2({ use_mrope: false }) },
  { id: 'Qwen/Qwen2.5-0.5B-Instruct', config: qwen2({ eos_token_id: 151645, max_window_layers: 21 }) },
  {
    id: 'Qwen/Qwen2.5-1.5B',
    config: qwen2({
      hidden_size: 1536,
      intermediate_size: 8960,
      max_position_embeddings: 131072,
      max_window_layers: 28,
      num_attention_heads: 12,
      num_hidden_layers: 28,
      sliding_window: 131072,
      use_mrope: false,
    }),
  },
  {
    id: 'Qwen/Qwen2-0.5B',
    config: qwen2({ max_position_embeddings: 131072, sliding_window: 131072 }),
  },
  // ---- vision: ViT, DeiT ----
  { id: 'google/vit-base-patch16-224', config: vit({}) },
  {
    id: 'google/vit-large-patch16-224',
    config: vit({
      hidden_size: 1024,
      intermediate_size: 4096,
      num_attention_heads: 16,
      num_hidden_layers: 24,
    }),
  },
  {
    id: 'google/vit-base-patch16-224-in21k',
    config: vit({ architectures: ['ViTModel'], num_labels: undefined }),
  },
  // The non-distilled DeiT checkpoints are published as ViT models.
  {
    id: 'facebook/deit-tiny-patch16-224',
    config: vit({ hidden_size: 192, intermediate_size: 768, num_attention_heads: 3 }),
  },
  {
    id: 'facebook/deit-small-patch16-224',
    config: vit({ hidden_size: 384, intermediate_size: 1536, num_attention_heads: 6 }),
  },
  { id: 'facebook/deit-base-patch16-224', config: vit({}) },
  {
    id: 'facebook/deit-tiny-distilled-patch16-224',
    config: deitDistilled({ hidden_size: 192, intermediate_size: 768, num_attention_heads: 3 }),
  },
  {
    id: 'facebook/deit-small-distilled-patch16-224',
    config: deitDistilled({ hidden_size: 384, intermediate_size: 1536, num_attention_heads: 6 }),
  },
  { id: 'facebook/deit-base-distilled-patch16-224', config: deitDistilled({}) },
  // ---- encoder-decoder: T5 ----
  { id: 't5-small', aliases: ['google-t5/t5-small'], config: t5({}) },
  {
    id: 't5-base',
    aliases: ['google-t5/t5-base'],
    config: t5({ d_ff: 3072, d_model: 768, num_heads: 12, num_layers: 12, num_decoder_layers: 12 }),
  },
  {
    id: 't5-large',
    aliases: ['google-t5/t5-large'],
    config: t5({ d_ff: 4096, d_model: 1024, num_heads: 16, num_layers: 24, num_decoder_layers: 24 }),
  },
  { id: 'google/flan-t5-small', config: t5Gated({}) },
  {
    id: 'google/flan-t5-base',
    config: t5Gated({ d_ff: 2048, d_model: 768, num_heads: 12, num_layers: 12, num_decoder_layers: 12 }),
  },
  { id: 'google/t5-v1_1-small', config: t5Gated({ dense_act_fn: undefined, is_gated_act: undefined }) },
];
