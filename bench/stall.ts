/**
 * How responsive the API stays while the suites work: /health latency, probed every --every ms
 * from this process, while one operation runs in the server (a child process, embedded driver).
 *
 *   npm run build && npx ts-node --transpile-only bench/stall.ts [--model bert-base-uncased] [--every 20]
 *       [--root <another checkout, built>]
 *
 * Phases, one after the other: idle (3 s), a generation of --model with seeded random weights at its
 * real size, a `comprehensive` cpu test run of the generated model, and a short cpu benchmark of
 * it. onnxruntime-node opens sessions and runs inference synchronously, and the graph builder and
 * the TypeScript compiler are synchronous too: whatever of that runs on the server's event loop
 * shows here as /health latency.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../test/fixtures';
import { ServerProcess } from '../test/processes';
import { arg, loadAverage } from './cli';

const MODEL = arg('model', 'bert-base-uncased')!;
const EVERY = Number(arg('every', '20'));
/** Another checkout's build to measure (its dist/src/main.js), for before/after figures. */
const ROOT = arg('root', REPO_ROOT)!;
const TERMINAL = ['completed', 'failed', 'cancelled', 'timeout'];

interface Status {
  id: string;
  status: string;
}

interface Row {
  phase: string;
  seconds: number;
  probes: number;
  p50: number;
  p99: number;
  max: number;
  outcome: string;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

async function probeWhile(base: string, done: () => Promise<boolean>): Promise<number[]> {
  const lat: number[] = [];
  let next = 0;
  for (;;) {
    const t = performance.now();
    await fetch(`${base}/health`);
    lat.push(performance.now() - t);
    if (performance.now() > next) {
      next = performance.now() + 250;
      if (await done()) return lat;
    }
    await new Promise((r) => setTimeout(r, EVERY));
  }
}

async function phase(
  base: string,
  name: string,
  kind: string,
  path: string,
  body: unknown,
): Promise<[Row, Status]> {
  const t0 = performance.now();
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const accepted = (await res.json()) as { run_id?: string; task_id?: string };
  if (res.status !== 202) throw new Error(`${name}: ${res.status} ${JSON.stringify(accepted)}`);
  const id = accepted.run_id ?? accepted.task_id;
  let status!: Status;
  const lat = await probeWhile(base, async () => {
    status = (await (await fetch(`${base}/api/${kind}/status/${id}`)).json()) as Status;
    return TERMINAL.includes(status.status);
  });
  return [row(name, t0, lat, status.status), status];
}

function row(phase: string, t0: number, lat: number[], outcome: string): Row {
  const s = [...lat].sort((a, b) => a - b);
  return {
    phase,
    seconds: (performance.now() - t0) / 1000,
    probes: s.length,
    p50: pct(s, 50),
    p99: pct(s, 99),
    max: s[s.length - 1]!,
    outcome,
  };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-stall-'));
  const server = new ServerProcess('server', [join(ROOT, 'dist/src/main.js')], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    HARDWARE: 'cpu',
    LOG_LEVEL: 'error',
    NODE_ENV: 'production',
  }).start();
  const rows: Row[] = [];
  try {
    const base = await server.ready(60_000);
    console.log(`model ${MODEL}; /health every ${EVERY} ms; loadavg ${loadAverage()}`);
    const t0 = performance.now();
    const idleUntil = t0 + 3000;
    rows.push(row('idle', t0, await probeWhile(base, async () => performance.now() > idleUntil), '-'));
    const [gen, generated] = await phase(
      base,
      `generate ${MODEL} (random weights)`,
      'generator',
      '/api/generator/model',
      {
        model_name: MODEL,
        weights: 'random',
      },
    );
    rows.push(gen);
    const results = (await (await fetch(`${base}/api/generator/results/${generated.id}`)).json()) as {
      onnx_path: string;
    };
    const onnx = results.onnx_path;
    rows.push(
      (
        await phase(base, 'comprehensive test, cpu', 'test', '/api/test/run', {
          model_name: onnx,
          test_type: 'comprehensive',
        })
      )[0],
    );
    rows.push(
      (
        await phase(base, 'benchmark, cpu, batch 1, seq 128, 2 s', 'benchmark', '/api/benchmark/run', {
          model_name: onnx,
          batch_sizes: [1],
          sequence_lengths: [128],
          min_duration_s: 2,
        })
      )[0],
    );
  } finally {
    await server.stop('SIGTERM', 10_000);
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(
    '\nphase                                           s   probes   p50 ms   p99 ms    max ms  outcome',
  );
  for (const r of rows)
    console.log(
      `${r.phase.padEnd(44)} ${r.seconds.toFixed(1).padStart(5)} ${String(r.probes).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.max.toFixed(0).padStart(9)}  ${r.outcome}`,
    );
  console.log(`loadavg at end ${loadAverage()}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
