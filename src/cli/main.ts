#!/usr/bin/env node
/**
 * ipfs-accelerate: the command line. Commands here only parse options; the work is in ./actions.
 * Exit codes (EXIT in ./context): 0 ok, 1 test failed or regression, 2 usage, 3 server unreachable,
 * 4 not found or invalid model, 5 nothing measured (no requested backend available), 6 comparison
 * inconclusive, 130 interrupted (Ctrl-C, after cancelling the operation on the server).
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { benchAction } from './actions/bench.action';
import { compareAction } from './actions/compare.action';
import { generateAction } from './actions/generate.action';
import { generateTextAction } from './actions/generate-text.action';
import { hardwareAction, modelsAction, templatesAction } from './actions/info.actions';
import { serveAction } from './actions/serve.action';
import { testAction } from './actions/test.action';
import { workflowAction } from './actions/workflow.action';
import { completionScript, Shell, SHELLS } from './completion';
import { VERSION } from '../common/version';
import { CliContext, createContext, EXIT, GlobalOptions, reportError } from './context';
import { INT4_BLOCK_SIZES } from '../../libs/core/src/onnx/quantize';

const BACKENDS = ['cpu', 'cuda', 'webgpu'] as const;
type Backend = (typeof BACKENDS)[number];

function list(value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!items.length) throw new InvalidArgumentError('expected a comma-separated list');
  return items;
}

function backends(value: string): Backend[] {
  const items = list(value);
  const bad = items.filter((b) => !(BACKENDS as readonly string[]).includes(b));
  if (bad.length)
    throw new InvalidArgumentError(`unknown backend(s) ${bad.join(', ')}; use ${BACKENDS.join(', ')}`);
  return items as Backend[];
}

function positiveInts(value: string): number[] {
  return list(value).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${s}" is not a positive integer`);
    return n;
  });
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a non-negative number`);
  return n;
}

function confidence(value: string): number {
  const n = Number(value);
  if (!(n >= 0.5 && n <= 0.9999)) throw new InvalidArgumentError('must be a number in [0.5, 0.9999]');
  return n;
}

function fraction(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('must be a number in [0, 1]');
  return n;
}

/** The options of a verdict (compare, bench --baseline): threshold, confidence, statistic, run noise. */
/** --precision: the precisions the generator builds (a registry id is generated in it). */
function precisionOption(): Option {
  return new Option(
    '--precision <precision>',
    'fp32, fp16, int8 (DynamicQuantizeMatMul) or int4 (MatMulNBits); a file must already be of it',
  ).choices(['fp32', 'fp16', 'int8', 'int4']);
}

function verdictOptions(command: Command): Command {
  return command
    .option('--threshold <fraction>', 'smallest relative change that counts (default 0.05)', nonNegative)
    .option('--confidence <level>', 'confidence level of the ratio intervals (default 0.95)', confidence)
    .addOption(new Option('--statistic <statistic>', 'per-round value compared').choices(['median', 'min']))
    .option(
      '--run-noise <cv>',
      'between-run noise of separate runs (default: from 10+ earlier runs of the configuration, else 0.03)',
      fraction,
    );
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port`);
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The exit code of the command, once it is done; 'running' for serve. */
type Outcome = number | 'running';

export function buildProgram(setOutcome: (p: Promise<Outcome>) => void): Command {
  const program = new Command('ipfs-accelerate')
    .description('Generate, test and benchmark ONNX model implementations on CPU, CUDA and WebGPU')
    .option('--url <url>', 'server URL (default: $ACCELERATE_URL or http://localhost:8000)')
    .option('--api-key <key>', 'API key (default: $API_KEY)')
    .option('--local', 'run in-process without a server (DATA_DIR from the environment or ./data)')
    .option('--no-color', 'no colour (also: NO_COLOR set, or output not a terminal)')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .hook('preAction', (cmd) => {
      if (cmd.opts<{ color?: boolean }>().color === false) process.env.NO_COLOR = '1';
    });

  /** Runs an action with a client, always closing the in-process server. */
  const withContext =
    <A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<number>) =>
    (...args: A): void => {
      const command = args[args.length - 1] as Command;
      const globals = command.optsWithGlobals<GlobalOptions>();
      setOutcome(
        (async () => {
          const ctx = await createContext(globals, args.slice(0, -2));
          try {
            const code = await fn(ctx, ...args);
            return ctx.interrupted ? EXIT.INTERRUPTED : code;
          } finally {
            await ctx.close();
          }
        })(),
      );
    };

  program
    .command('serve')
    .description('start the API server')
    .option('--port <port>', 'port (default: $PORT or 8000)', port)
    .option('--host <host>', 'host (default: $HOST or 0.0.0.0)')
    .option('--components <list>', 'components to serve: test,generator,benchmark', list)
    .addOption(new Option('--role <role>', 'all, api or worker').choices(['all', 'api', 'worker']))
    .action((opts: { port?: number; host?: string; components?: string[]; role?: string }) =>
      setOutcome(serveAction(opts)),
    );

  program
    .command('hardware')
    .description('backends with availability and the reason when unavailable')
    .option('--json', 'print JSON')
    .action(withContext((ctx, opts: { json?: boolean }) => hardwareAction(ctx, opts)));

  program
    .command('models')
    .description('known models')
    .option('--json', 'print JSON')
    .action(withContext((ctx, opts: { json?: boolean }) => modelsAction(ctx, opts)));

  program
    .command('templates')
    .description('generator templates')
    .option('--json', 'print JSON')
    .action(withContext((ctx, opts: { json?: boolean }) => templatesAction(ctx, opts)));

  program
    .command('generate <model>')
    .description(
      'generate an implementation from a registry id or a local folder with config.json (relative to this folder)',
    )
    .option('--hardware <list>', 'backends: cpu,cuda,webgpu', backends, ['cpu'] as Backend[])
    .addOption(new Option('--weights <kind>', 'weights').choices(['auto', 'random', 'safetensors']))
    .option('--output-dir <dir>', 'folder relative to DATA_DIR/models')
    .option('--force', 'overwrite an existing output folder')
    .addOption(precisionOption())
    .addOption(
      new Option(
        '--graph <flavour>',
        'portable (standard ONNX ops) or optimized (fused contrib ops)',
      ).choices(['portable', 'optimized']),
    )
    .addOption(
      new Option('--block-size <n>', 'int4: values per quantization block (default 32)')
        .choices(INT4_BLOCK_SIZES.map(String))
        .argParser(Number),
    )
    .action(withContext((ctx, model: string, opts) => generateAction(ctx, model, opts)));

  program
    .command('test <model>')
    .description(
      "test a model: a local path (relative to this folder, inside the server's DATA_DIR or MODEL_ROOTS), a path in DATA_DIR, or a registry id",
    )
    .option('--hardware <list>', 'backends: cpu,cuda,webgpu', backends, ['cpu'] as Backend[])
    .addOption(
      new Option('--type <type>', 'test type')
        .choices(['basic', 'comprehensive', 'fault_tolerance'])
        .default('basic'),
    )
    .option('--timeout <s>', 'seconds before the run stops with status timeout', (v) => positiveInts(v)[0])
    .addOption(precisionOption())
    .option('--junit <file>', 'write JUnit XML here')
    .action(withContext((ctx, model: string, opts) => testAction(ctx, model, opts)));

  program
    .command('generate-text <model> [prompt]')
    .description(
      'generate text with a causal language model (registry id, generated folder or local checkpoint): its generate() on the server, KV cache included',
    )
    .option('--chat', "send the prompt as a user message, rendered with the model's chat template")
    .option('--ids <list>', 'the prompt as comma-separated token ids (models without a tokenizer)', (v) =>
      list(v).map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${s}" is not a token id`);
        return n;
      }),
    )
    .option('--max-new-tokens <n>', 'new tokens at most', (v) => positiveInts(v)[0], 32)
    .option('--sample', 'sample instead of greedy decoding')
    .option('--temperature <t>', 'divides the logits when sampling', (v) => {
      const n = Number(v);
      if (!(n > 0)) throw new InvalidArgumentError('must be a number > 0');
      return n;
    })
    .option('--top-k <k>', 'sample from the k most likely tokens', (v) => positiveInts(v)[0])
    .option('--top-p <p>', 'sample from the smallest set reaching probability p', fraction)
    .option('--seed <n>', 'seed of the sampler', (v) => positiveInts(String(Number(v) + 1))[0]! - 1)
    .option('--hardware <list>', 'backends: cpu,cuda,webgpu', backends, ['cpu'] as Backend[])
    .option('--timeout <s>', 'seconds before the run stops with status timeout', (v) => positiveInts(v)[0])
    .option('--json', 'print the results as JSON')
    .action(
      withContext((ctx, model: string, prompt: string | undefined, opts) =>
        generateTextAction(ctx, model, prompt, opts),
      ),
    );

  const bench = program
    .command('bench <models...>')
    .description(
      'benchmark a model; several models are measured side by side round by round, with paired ratios ' +
        '(the first is the baseline). With --baseline: exits 1 on regressed, 6 on inconclusive',
    )
    .option('--hardware <list>', 'backends: cpu,cuda,webgpu', backends, ['cpu'] as Backend[])
    .option('--batch-sizes <list>', 'batch sizes', positiveInts, [1, 8])
    .option('--seq-lens <list>', 'sequence lengths', positiveInts, [128])
    .option('--min-duration <s>', 'minimum measurement time per configuration (s)', nonNegative)
    .option('--min-iterations <n>', 'minimum measured iterations', (v) => positiveInts(v)[0])
    .option('--tag <tag>', 'tag the run (repeatable)', collect)
    .option('--rounds <n>', 'measurement rounds per configuration (default 5)', (v) => positiveInts(v)[0])
    .option('--baseline <run_id>', 'compare with this earlier run when done')
    .addOption(precisionOption())
    .option(
      '--generate <n>',
      'generate mode: each iteration generates n new tokens (language models); prints TTFT, TPOT and tokens/s',
      (v) => positiveInts(v)[0],
    );
  verdictOptions(bench)
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'json', 'csv', 'markdown'])
        .default('table'),
    )
    .option('--out <file>', 'write the output here instead of stdout')
    .action(withContext((ctx, models: string[], opts) => benchAction(ctx, models, opts)));

  const compare = program
    .command('compare <baseline> <candidate>')
    .description(
      'compare two benchmark runs: ratio interval per configuration from the between-round spread; ' +
        'exits 1 on regressed, 6 on inconclusive, 0 on unchanged or improved',
    );
  verdictOptions(compare)
    .option('--json', 'print JSON')
    .action(
      withContext((ctx, baseline: string, candidate: string, opts) =>
        compareAction(ctx, baseline, candidate, opts),
      ),
    );

  program
    .command('workflow <model>')
    .description('generate → test the generated implementation → benchmark when the tests pass')
    .option('--hardware <list>', 'backends: cpu,cuda,webgpu', backends, ['cpu'] as Backend[])
    .addOption(new Option('--weights <kind>', 'weights').choices(['auto', 'random', 'safetensors']))
    .option('--force', 'overwrite an earlier generation of this model')
    .option('--batch-sizes <list>', 'benchmark batch sizes', positiveInts, [1])
    .option('--seq-lens <list>', 'benchmark sequence lengths', positiveInts, [128])
    .option('--min-duration <s>', 'benchmark minimum duration per configuration (s)', nonNegative, 1)
    .action(withContext((ctx, model: string, opts) => workflowAction(ctx, model, opts)));

  program
    .command('completion')
    .description('print a shell completion script: source <(ipfs-accelerate completion bash)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .action((shell: Shell) => {
      process.stdout.write(completionScript(program, shell));
      setOutcome(Promise.resolve(EXIT.OK));
    });

  return program;
}

/** Parses argv, runs the command and returns its exit code ('running' while serve serves). */
export async function run(argv: string[]): Promise<Outcome> {
  let outcome: Promise<Outcome> | undefined;
  const program = buildProgram((p) => (outcome = p));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    return reportError(err);
  }
  if (!outcome) return EXIT.USAGE;
  try {
    return await outcome;
  } catch (err) {
    return reportError(err);
  }
}

if (require.main === module) {
  void run(process.argv).then((code) => {
    if (code !== 'running') process.exit(code);
  });
}
