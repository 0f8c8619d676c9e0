/**
 * Status GET latency while a large job runs (issue 16: p99 under 100 ms). Starts the server as a
 * child process (embedded driver, temporary DATA_DIR, HARDWARE=cpu), stores one finished test run,
 * then measures `GET /api/test/status/{id}` (and the running job's own status) from --clients
 * concurrent loops: first idle, then while a large job runs: by default a cpu benchmark of the
 * registry model gpt2 (124 M parameters, 498 MB of random weights generated on demand first, then
 * batch 1 and 8 × seq 128 for --min-duration seconds each), or a `comprehensive` test of it.
 *
 *   npm run build && npx ts-node --transpile-only bench/status-under-load.ts [--model openai-community/gpt2]
 *       [--job benchmark|test] [--requests 3000] [--clients 4] [--min-duration 10]
 *
 * Prints p50/p90/p99/max per phase, how many requests fell in each part of the job, and the
 * server's RSS. Requests go one after another in each loop (no pipelining), with no pause.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HF_TINY, REPO_ROOT } from '../test/fixtures';
import { ServerProcess } from '../test/processes';
import { arg, loadAverage } from './cli';

const MODEL = arg('model', 'openai-community/gpt2')!; // not 'gpt2': MODEL_ROOTS has a tiny gpt2 folder
const JOB = arg('job', 'benchmark')!;
const REQUESTS = Number(arg('requests', '3000'));
const CLIENTS = Number(arg('clients', '4'));
const MIN_DURATION = Number(arg('min-duration', '10'));
const TERMINAL = ['completed', 'failed', 'cancelled', 'timeout'];

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

async function post(base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 202) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function status(
  base: string,
  kind: string,
  id: string,
): Promise<{ status: string; current_step: string }> {
  return (await (await fetch(`${base}/api/${kind}/status/${id}`)).json()) as {
    status: string;
    current_step: string;
  };
}

interface Sample {
  ms: number;
  step: string;
}

/** CLIENTS loops of GET status until `count` requests are done or `stop()` says so. */
async function measure(
  base: string,
  url: string,
  count: number,
  stepOf: () => string,
  stop: () => boolean = () => false,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  let left = count;
  const loop = async () => {
    while (left > 0 && !stop()) {
      left--;
      const t = performance.now();
      const res = await fetch(`${base}${url}`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
      samples.push({ ms: performance.now() - t, step: stepOf() });
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, loop));
  return samples;
}

function report(name: string, samples: Sample[]): void {
  const s = samples.map((x) => x.ms).sort((a, b) => a - b);
  console.log(
    `| ${name} | ${s.length} | ${pct(s, 50).toFixed(2)} | ${pct(s, 90).toFixed(2)} | ${pct(s, 99).toFixed(2)} | ${s[s.length - 1]!.toFixed(1)} |`,
  );
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-status-'));
  const entry = join(REPO_ROOT, 'dist/src/main.js');
  if (!existsSync(entry)) throw new Error(`${entry} not found: run npm run build first`);
  const server = new ServerProcess('server', [entry], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    MODEL_ROOTS: HF_TINY,
    HARDWARE: 'cpu',
    LOG_LEVEL: 'error',
    NODE_ENV: 'production',
  }).start();
  try {
    const base = await server.ready(120_000);
    const done = await post(base, '/api/test/run', { model_name: 'bert/torch_export.onnx' });
    const doneId = String(done.run_id);
    while (!TERMINAL.includes((await status(base, 'test', doneId)).status))
      await new Promise((r) => setTimeout(r, 50));
    console.log(
      `job: ${JOB} of ${MODEL}; ${CLIENTS} clients; ${REQUESTS} status GETs per phase; loadavg ${loadAverage()}`,
    );
    console.log('| phase | requests | p50 ms | p90 ms | p99 ms | max ms |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    await measure(base, `/api/test/status/${doneId}`, 500, () => 'warm-up');
    report('idle', await measure(base, `/api/test/status/${doneId}`, REQUESTS, () => 'idle'));

    const accepted =
      JOB === 'test'
        ? await post(base, '/api/test/run', { model_name: MODEL, test_type: 'comprehensive', timeout: 3600 })
        : await post(base, '/api/benchmark/run', {
            model_name: MODEL,
            batch_sizes: [1, 8],
            sequence_lengths: [128],
            min_duration_s: MIN_DURATION,
            timeout: 3600,
          });
    const kind = JOB === 'test' ? 'test' : 'benchmark';
    const id = String(accepted.run_id);
    let step = 'queued';
    let finished = false;
    const poll = (async () => {
      for (;;) {
        const s = await status(base, kind, id);
        step =
          s.status === 'running'
            ? s.current_step.startsWith('generating')
              ? 'generating'
              : 'running'
            : s.status;
        if (TERMINAL.includes(s.status)) {
          finished = true;
          return s;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const all: Sample[] = [];
    // Phases until the job ends (at least one): each phase REQUESTS GETs of the finished run's status.
    while (!finished) {
      const samples = await measure(
        base,
        `/api/test/status/${doneId}`,
        REQUESTS,
        () => step,
        () => finished,
      );
      all.push(...samples);
    }
    const final = await poll;
    const running = all.filter((x) => x.step === 'running');
    const generating = all.filter((x) => x.step === 'generating');
    report(`during the ${kind} (all)`, all);
    if (generating.length) report('… while generating the model on demand', generating);
    if (running.length) report(`… while the ${kind} itself runs`, running);
    report(
      `GET status of the job itself, after it ended`,
      await measure(base, `/api/${kind}/status/${id}`, Math.min(REQUESTS, 1000), () => 'after'),
    );
    console.log(
      `job ended ${final.status}; server output tail: ${server.output.slice(-200).trim() || '(none)'}`,
    );
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
