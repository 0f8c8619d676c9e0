/** Where the shared correctness oracles live: ../shared/fixtures beside the repository (CI lays it there too). */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..');
export const SHARED_FIXTURES = resolve(REPO_ROOT, '../shared/fixtures');
export const HF_TINY = join(SHARED_FIXTURES, 'hf-tiny');
export const TOKENIZER_FIXTURES = join(SHARED_FIXTURES, 'tokenizers');
export const HF_TINY_MODELS = ['bert', 'distilbert', 'gpt2', 'llama', 'vit'] as const;

if (!existsSync(HF_TINY)) {
  throw new Error(`fixtures not found at ${HF_TINY}: the shared/ folder must sit beside the repository`);
}
