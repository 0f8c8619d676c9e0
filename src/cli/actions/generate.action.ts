/** generate <model>: start a generation, follow it, print where the implementation went. */
import type { Backend, GenerateModelRequest, GenerationResults } from '../../../libs/client/src';
import { CliContext, EXIT, exitForStatus, modelArgument } from '../context';
import { paint } from '../term';

export interface GenerateOptions {
  hardware: Backend['name'][];
  weights?: 'auto' | 'random' | 'safetensors';
  force?: boolean;
  outputDir?: string;
  precision?: NonNullable<GenerateModelRequest['precision']>;
  graph?: NonNullable<GenerateModelRequest['graph']>;
  blockSize?: GenerateModelRequest['block_size'];
}

/** Generates and returns the results (undefined when the generation did not complete). */
export async function generate(
  ctx: CliContext,
  model: string,
  opts: GenerateOptions,
): Promise<{ results?: GenerationResults; exit: number }> {
  const body: GenerateModelRequest = {
    model_name: modelArgument(model),
    hardware: opts.hardware,
    force: Boolean(opts.force),
  };
  if (opts.weights) body.weights = opts.weights;
  if (opts.outputDir) body.output_dir = opts.outputDir;
  if (opts.precision) body.precision = opts.precision;
  if (opts.graph) body.graph = opts.graph;
  if (opts.blockSize !== undefined) body.block_size = opts.blockSize;
  const accepted = await ctx.client.generateModel(body);
  ctx.info(`generation ${accepted.task_id} accepted → ${accepted.output_dir}`);
  const { status, results } = await ctx.monitor<GenerationResults>('generator', accepted.task_id, 'generate');
  if (!results) {
    ctx.out(
      `generation ${paint.out('red', status.status)}${status.error ? `: ${status.error.code}: ${status.error.message}` : ''}`,
    );
    return { exit: exitForStatus(status) };
  }
  ctx.out(
    `${paint.out('green', 'generated')} ${results.model_name} (${results.family}, ${results.parameters} parameters, ` +
      `${results.weights} weights, ${results.precision}${results.block_size ? ` blocks of ${results.block_size}` : ''}, ` +
      `${results.graph} graph)`,
  );
  ctx.out(`  implementation: ${results.file_path}`);
  ctx.out(`  javascript:     ${results.js_path}`);
  ctx.out(`  onnx:           ${results.onnx_path}`);
  ctx.out(`  manifest cid:   ${results.cid}`);
  return { results, exit: EXIT.OK };
}

export async function generateAction(ctx: CliContext, model: string, opts: GenerateOptions): Promise<number> {
  return (await generate(ctx, model, opts)).exit;
}
