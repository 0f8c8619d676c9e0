/**
 * Decoder family: causal language models with inputs input_ids and attention_mask (int64,
 * [batch_size, sequence_length]) and output logits [batch_size, sequence_length, vocab_size].
 * GPT-2 in ./decoder-gpt2, Llama and Qwen2 in ./decoder-llama.
 */
import { CoreError, ErrorCode } from '../../errors';
import { buildGpt2 } from './decoder-gpt2';
import { buildLlama } from './decoder-llama';
import type { FamilyContext, FamilyModule } from './types';

export const DECODER_MODEL_TYPES = ['gpt2', 'llama', 'qwen2'] as const;

const PREFIXES: Record<string, string[]> = {
  gpt2: ['', 'transformer.'],
  llama: ['', 'model.'],
  qwen2: ['', 'model.'],
};

export function buildDecoder(ctx: FamilyContext): void {
  const modelType = ctx.config.modelType;
  switch (modelType) {
    case 'gpt2':
      return buildGpt2(ctx);
    case 'llama':
    case 'qwen2':
      return buildLlama(ctx);
    default:
      throw new CoreError(ErrorCode.UNKNOWN_MODEL, `decoder family does not build model_type "${modelType}"`);
  }
}

export const decoderFamily: FamilyModule = {
  family: 'decoder',
  modelTypes: DECODER_MODEL_TYPES,
  // GPT-2: SkipLayerNormalization, FastGelu. Llama and Qwen2: SimplifiedLayerNormalization,
  // SkipSimplifiedLayerNormalization, RotaryEmbedding.
  optimized: ['gpt2', 'llama', 'qwen2'],
  weightPrefixes: (modelType) => PREFIXES[modelType] ?? ['', 'model.'],
  build: buildDecoder,
};
