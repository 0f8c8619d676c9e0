/**
 * generate-text <model> [prompt]: the model's generate() on the server (a `generation` test run),
 * then the new text (or token ids) and the timings of each backend.
 */
import type { Backend, RunTestRequest, TestResults } from '../../../libs/client/src';
import { CliContext, EXIT, exitForStatus, modelArgument } from '../context';
import { fixed } from '../progress';
import { paint } from '../term';
import { testExitCode } from './test.action';

export interface GenerateTextOptions {
  hardware: Backend['name'][];
  chat?: boolean;
  ids?: number[];
  maxNewTokens: number;
  sample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  timeout?: number;
  json?: boolean;
}

interface GenerateMetrics {
  tokens?: number[][];
  text?: string[];
  prompt_tokens?: number[];
  ttft_ms?: number;
  tpot_ms?: number;
  decode_tokens_per_s?: number;
  finish_reasons?: string[];
}

export async function generateTextAction(
  ctx: CliContext,
  model: string,
  prompt: string | undefined,
  opts: GenerateTextOptions,
): Promise<number> {
  if (opts.ids === undefined && (prompt === undefined || prompt === '')) {
    ctx.out('generate-text needs a prompt, or --ids with token ids');
    return EXIT.USAGE;
  }
  const source: NonNullable<RunTestRequest['generation']> =
    opts.ids !== undefined
      ? { input_ids: [opts.ids] }
      : opts.chat
        ? { messages: [{ role: 'user', content: prompt! }] }
        : { prompt: prompt! };
  const accepted = await ctx.client.runTest({
    model_name: modelArgument(model),
    hardware: opts.hardware,
    test_type: 'generation',
    generation: {
      ...source,
      max_new_tokens: opts.maxNewTokens,
      ...(opts.sample ? { do_sample: true } : {}),
      ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
      ...(opts.topK !== undefined ? { top_k: opts.topK } : {}),
      ...(opts.topP !== undefined ? { top_p: opts.topP } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    },
    ...(opts.timeout ? { timeout: opts.timeout } : {}),
  });
  ctx.info(`generation run ${accepted.run_id} accepted`);
  const { status, results } = await ctx.monitor<TestResults>('test', accepted.run_id, 'generate');
  if (!results) {
    ctx.out(
      `generation ${paint.out('red', status.status)}${status.error ? `: ${status.error.code}: ${status.error.message}` : ''}`,
    );
    return exitForStatus(status);
  }
  if (opts.json) ctx.out(JSON.stringify(results, null, 2));
  let notGenerative = false;
  for (const d of results.test_details.filter((t) => t.name === 'generate' || t.status !== 'passed')) {
    if (d.status !== 'passed') {
      if (/does not generate/.test(d.message ?? '')) notGenerative = true;
      if (!opts.json) {
        const mark = d.status === 'skipped' ? paint.out('yellow', 'SKIP') : paint.out('red', 'FAIL');
        ctx.out(`${mark}  ${d.backend} ${d.name}: ${d.message ?? ''}`);
      }
      continue;
    }
    if (opts.json) continue;
    const m = (d.metrics ?? {}) as GenerateMetrics;
    const out = m.text?.[0] ?? m.tokens?.[0]?.join(' ') ?? '';
    ctx.out(`${paint.out('bold', `[${d.backend}]`)} ${out}`);
    ctx.info(
      `${d.backend}: ${m.tokens?.[0]?.length ?? 0} new tokens (${m.finish_reasons?.[0] ?? '?'}) after ${m.prompt_tokens?.[0] ?? '?'} prompt tokens; ` +
        `TTFT ${fixed(m.ttft_ms ?? NaN)} ms, TPOT ${m.tpot_ms !== undefined ? `${fixed(m.tpot_ms)} ms` : 'n/a'}, ` +
        `${m.decode_tokens_per_s !== undefined ? `${fixed(m.decode_tokens_per_s, 1)} tokens/s` : 'n/a'}`,
    );
  }
  if (notGenerative) return EXIT.NOT_FOUND;
  return testExitCode(results);
}
