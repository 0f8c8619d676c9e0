/**
 * Parameter counts from a Hugging Face config, by the same architecture the ONNX builder emits for a
 * task (default: the one the config's architectures name; see onnx/tasks):
 * - feature-extraction: the base model, with its pooler where the architecture has one (BertModel,
 *   RobertaModel, ViTModel; ELECTRA and DistilBERT have none), decoders and T5 without their LM head;
 * - fill-mask, text-classification, token-classification, image-classification: the transformers
 *   *For* class (no pooler, except BERT's sequence classifier), tied decoders counted once;
 * - text-generation / text2text-generation: the LM head (shared with the embeddings when tied).
 * A spec checks this against the graph the builder makes for every registry id.
 */
import { CoreError, ErrorCode } from '../errors';
import { defaultTask, numLabels, type Task } from '../onnx/tasks';

type Config = Record<string, unknown>;

function num(config: Config, keys: string | string[], fallback?: number): number {
  for (const k of Array.isArray(keys) ? keys : [keys]) {
    const v = config[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  if (fallback !== undefined) return fallback;
  throw new CoreError(
    ErrorCode.INVALID_MODEL,
    `config of ${String(config.model_type)} has no ${[keys].flat().join(' / ')}`,
  );
}

const linear = (inF: number, outF: number, bias = true) => inF * outF + (bias ? outF : 0);
const layerNorm = (size: number) => 2 * size;

function bertLike(c: Config, task: Task): number {
  const H = num(c, 'hidden_size');
  const E = c.model_type === 'electra' ? num(c, 'embedding_size', H) : H;
  const I = num(c, 'intermediate_size');
  const L = num(c, 'num_hidden_layers');
  const V = num(c, 'vocab_size');
  const P = num(c, 'max_position_embeddings');
  const T = num(c, 'type_vocab_size', 2);
  const embeddings = (V + P + T) * E + layerNorm(E) + (E !== H ? linear(E, H) : 0);
  const layer = 4 * linear(H, H) + linear(H, I) + linear(I, H) + 2 * layerNorm(H);
  const base = embeddings + L * layer;
  const poolerCapable = c.model_type !== 'electra';
  const N = numLabels(c);
  switch (task) {
    case 'fill-mask': {
      const width = c.model_type === 'electra' ? E : H;
      const untied = c.tie_word_embeddings === false ? V * width : 0;
      return base + linear(H, width) + layerNorm(width) + V + untied;
    }
    case 'text-classification': // BERT: pooler + classifier; the others: dense + out_proj
      return base + linear(H, H) + linear(H, N);
    case 'token-classification':
      return base + linear(H, N);
    default:
      return base + (poolerCapable ? linear(H, H) : 0);
  }
}

function distilbert(c: Config, task: Task): number {
  const H = num(c, 'dim');
  const I = num(c, 'hidden_dim');
  const V = num(c, 'vocab_size');
  const embeddings = (V + num(c, 'max_position_embeddings')) * H + layerNorm(H);
  const layer = 4 * linear(H, H) + linear(H, I) + linear(I, H) + 2 * layerNorm(H);
  const base = embeddings + num(c, 'n_layers') * layer;
  const N = numLabels(c);
  switch (task) {
    case 'fill-mask':
      return base + linear(H, H) + layerNorm(H) + V + (c.tie_word_embeddings === false ? V * H : 0);
    case 'text-classification':
      return base + linear(H, H) + linear(H, N);
    case 'token-classification':
      return base + linear(H, N);
    default:
      return base;
  }
}

function gpt2(c: Config, task: Task): number {
  const H = num(c, 'n_embd');
  const I = num(c, 'n_inner', 4 * H);
  const layer = 2 * layerNorm(H) + linear(H, 3 * H) + linear(H, H) + linear(H, I) + linear(I, H);
  const untiedHead =
    task === 'text-generation' && c.tie_word_embeddings === false ? num(c, 'vocab_size') * H : 0;
  return (
    (num(c, 'vocab_size') + num(c, 'n_positions')) * H + num(c, 'n_layer') * layer + layerNorm(H) + untiedHead
  );
}

/** Llama, Qwen2: RMSNorm (one vector), GQA, SwiGLU MLP. */
function llamaLike(c: Config, task: Task): number {
  const H = num(c, 'hidden_size');
  const heads = num(c, 'num_attention_heads');
  const kv = num(c, 'num_key_value_heads', heads);
  const hd = num(c, 'head_dim', H / heads);
  const I = num(c, 'intermediate_size');
  const V = num(c, 'vocab_size');
  const qkvBias = c.model_type === 'qwen2' || c.attention_bias === true;
  const oBias = c.model_type !== 'qwen2' && c.attention_bias === true;
  const mlpBias = c.mlp_bias === true;
  const attention =
    linear(H, heads * hd, qkvBias) + 2 * linear(H, kv * hd, qkvBias) + linear(heads * hd, H, oBias);
  const mlp = 2 * linear(H, I, mlpBias) + linear(I, H, mlpBias);
  const layer = attention + mlp + 2 * H;
  const head = task === 'text-generation' && c.tie_word_embeddings === false ? V * H : 0;
  return V * H + num(c, 'num_hidden_layers') * layer + H + head;
}

/** T5ForConditionalGeneration (shared embeddings, relative position bias in the first layer of each stack). */
function t5(c: Config, task: Task): number {
  const d = num(c, 'd_model');
  const inner = num(c, 'num_heads') * num(c, 'd_kv');
  const ff = num(c, 'd_ff');
  const V = num(c, 'vocab_size');
  const encLayers = num(c, 'num_layers');
  const decLayers = num(c, 'num_decoder_layers', encLayers);
  const gated = String(c.feed_forward_proj ?? 'relu').startsWith('gated-');
  const attention = 4 * d * inner;
  const ffn = (gated ? 2 : 1) * d * ff + ff * d;
  const relBias = num(c, 'relative_attention_num_buckets', 32) * num(c, 'num_heads');
  const encoder = encLayers * (attention + ffn + 2 * d) + relBias + d;
  const decoder = decLayers * (2 * attention + ffn + 3 * d) + relBias + d;
  const head = task === 'text2text-generation' && c.tie_word_embeddings === false ? V * d : 0;
  return V * d + encoder + decoder + head;
}

function vitLike(c: Config, task: Task): number {
  const H = num(c, 'hidden_size');
  const I = num(c, 'intermediate_size');
  const C = num(c, 'num_channels', 3);
  const P = num(c, 'patch_size', 16);
  const S = num(c, 'image_size', 224);
  const tokens = c.model_type === 'deit' ? 2 : 1;
  const patches = Math.floor(S / P) ** 2;
  const qkvBias = c.qkv_bias !== false;
  const embeddings = linear(C * P * P, H) + tokens * H + (patches + tokens) * H;
  const layer = 3 * linear(H, H, qkvBias) + linear(H, H) + linear(H, I) + linear(I, H) + 2 * layerNorm(H);
  const base = embeddings + num(c, 'num_hidden_layers') * layer + layerNorm(H);
  if (task === 'image-classification') {
    const archs = Array.isArray(c.architectures) ? c.architectures : [];
    const teacher =
      c.model_type === 'deit' && archs.some((a) => typeof a === 'string' && a.endsWith('WithTeacher'));
    return base + (teacher ? 2 : 1) * linear(H, numLabels(c));
  }
  return base + linear(H, num(c, 'pooler_output_size', H));
}

const COUNTERS: Record<string, (c: Config, task: Task) => number> = {
  bert: bertLike,
  roberta: bertLike,
  'xlm-roberta': bertLike,
  camembert: bertLike,
  electra: bertLike,
  distilbert,
  gpt2,
  llama: llamaLike,
  qwen2: llamaLike,
  t5,
  vit: vitLike,
  deit: vitLike,
};

/** Parameter count implied by a config and task (see the file comment for which heads are included). */
export function countParameters(config: Record<string, unknown>, task?: Task): number {
  const counter = COUNTERS[String(config.model_type)];
  if (!counter) {
    throw new CoreError(
      ErrorCode.UNKNOWN_MODEL,
      `cannot count parameters of model_type "${String(config.model_type)}"; known: ${Object.keys(COUNTERS).join(', ')}`,
    );
  }
  return counter(config, task ?? defaultTask(config));
}
