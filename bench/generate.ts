/**
 * Cost of building ONNX graphs (random fp32 weights), one child process per model.
 *
 *   npx ts-node --transpile-only bench/generate.ts [model ids...] [--no-full] [--keep]
 *
 * Default models: bert-base-uncased, gpt2, TinyLlama/TinyLlama-1.1B-Chat-v1.0. Each model is resolved
 * with resolveModel and built with buildOnnxModel into a temporary directory in a CHILD process, so
 * the peak RSS (VmHWM, read in the child at its end: util/peak-rss.ts) is that model's alone.
 * Prints wall time of the build, peak RSS and bytes written (model.onnx + model.onnx.data).
 * Targets: bert-base-uncased < 5 s and < 2 GiB.
 *
 * Then (unless --no-full) the full generation for bert-base-uncased in one child: graph, then
 * generateImplementation (render + type-check + compile + manifest with CIDs), timed per stage.
 *
 * Temporary outputs are removed after each model (unless --keep). A model whose fp32 weights would not
 * fit leaves it skipped: free disk is checked (statfs) and a model needs fp32 bytes + 10 GB... in
 * practice: skipped when free space < 10 GB or < 2.5 x its fp32 size. The machine is shared, so
 * figures are noisy; the load average is printed with every row.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import * as gen from '../libs/core/src/generator';
import { countParameters, resolveModel } from '../libs/core/src/models/registry';
import { buildOnnxModel } from '../libs/core/src/onnx';
import { loadAverage } from './cli';
import { peakRssBytes } from '../libs/core/src/util/peak-rss';

const DEFAULTS = ['bert-base-uncased', 'gpt2', 'TinyLlama/TinyLlama-1.1B-Chat-v1.0'];
const GiB = 1024 ** 3;
const la = loadAverage;

interface ChildResult {
  model: string;
  ok: boolean;
  error?: string;
  stages: Record<string, number>;
  bytesWritten?: number;
  parameters?: number;
  maxRssBytes: number;
  load: string;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

/* ---------------------------------- child ---------------------------------- */
async function child(mode: 'graph' | 'full', id: string, outDir: string): Promise<void> {
  const stages: Record<string, number> = {};
  const t = (): number => Number(process.hrtime.bigint()) / 1e9;
  const out: ChildResult = { model: id, ok: false, stages, maxRssBytes: 0, load: '' };
  try {
    let s = t();
    const resolved = resolveModel(id);
    s = t();
    const built = await buildOnnxModel({
      config: resolved.config,
      outDir,
      weights: 'random',
      precision: 'fp32',
      seed: 1,
    });
    stages.graph_s = t() - s;
    out.bytesWritten = built.bytesWritten;
    out.parameters = built.parameters;
    if (mode === 'full') {
      s = t();
      const r = await gen.generateImplementation({
        modelDir: outDir,
        slug: gen.slugify(id),
        modelId: resolved.id,
        family: resolved.family,
        config: resolved.config,
        inputs: built.inputs,
        outputs: built.outputs,
        backends: ['cpu'],
        weightsSource: 'random',
        precision: 'fp32',
        seed: 1,
        onProgress: (() => {
          let last = t();
          let lastStep = 'start';
          return (_f: number, step: string): void => {
            const now = t();
            if (step !== lastStep) {
              stages[`  ${lastStep}`] = (stages[`  ${lastStep}`] ?? 0) + (now - last);
              last = now;
              lastStep = step;
            }
          };
        })(),
      });
      stages.generate_s = t() - s;
      out.bytesWritten = dirBytes(outDir);
      void r;
    }
    out.ok = true;
  } catch (err) {
    out.error = (err as Error).stack ?? String(err);
  }
  out.maxRssBytes = peakRssBytes();
  out.load = la();
  process.stdout.write(`\n@@RESULT@@${JSON.stringify(out)}\n`);
}

/* ---------------------------------- parent --------------------------------- */
function runChild(mode: 'graph' | 'full', id: string, keep: boolean): ChildResult & { wall_s: number } {
  const outDir = mkdtempSync(join(tmpdir(), 'bench-gen-'));
  const s = Date.now();
  const r = spawnSync(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', __filename, '--child', mode, id, outDir],
    {
      cwd: join(__dirname, '..'),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192' },
    },
  );
  const wall = (Date.now() - s) / 1000;
  if (!keep) rmSync(outDir, { recursive: true, force: true });
  else console.log(`  kept ${outDir}`);
  const m = /@@RESULT@@(.*)/.exec(r.stdout ?? '');
  if (!m) {
    return {
      model: id,
      ok: false,
      error: `child exited ${r.status ?? r.signal}: ${(r.stderr ?? '').slice(-1500)}`,
      stages: {},
      maxRssBytes: 0,
      load: la(),
      wall_s: wall,
    };
  }
  return { ...(JSON.parse(m[1]) as ChildResult), wall_s: wall };
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

async function parent(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const ids = args.length ? args : DEFAULTS;
  const keep = process.argv.includes('--keep');
  console.log(
    `machine: ${cpus().length} cpus (${cpus()[0]?.model}), ${(totalmem() / GiB).toFixed(1)} GiB RAM, node ${process.version}; ` +
      `loadavg at start ${la()}\nbuildOnnxModel, random weights, fp32, one child process per model; temp dir ${tmpdir()}\n` +
      `NOTE: the machine is shared; figures are noisy.\n`,
  );
  const rows: string[][] = [];
  const head = [
    'model',
    'params',
    'build s',
    'child wall s',
    'peak RSS GiB',
    'bytes written',
    'loadavg 1/5/15',
    'note',
  ];
  for (const id of ids) {
    let expected = 0;
    try {
      const resolved = resolveModel(id);
      expected = countParameters(resolved.config as never) * 4;
    } catch (err) {
      rows.push([id, '-', '-', '-', '-', '-', la(), `cannot resolve: ${(err as Error).message}`]);
      continue;
    }
    const free = freeBytes(tmpdir());
    if (free < 10e9 || free < 2.5 * expected) {
      rows.push([
        id,
        '-',
        '-',
        '-',
        '-',
        '-',
        la(),
        `SKIPPED: ${(free / 1e9).toFixed(1)} GB free in ${tmpdir()} (< 10 GB or < 2.5 x ${(expected / 1e9).toFixed(1)} GB)`,
      ]);
      continue;
    }
    console.log(
      `building ${id} (~${(expected / 1e9).toFixed(2)} GB fp32, ${(free / 1e9).toFixed(0)} GB free) ...`,
    );
    const r = runChild('graph', id, keep);
    let note = r.ok ? '' : `FAILED: ${r.error?.split('\n')[0]}`;
    if (r.ok && id === 'bert-base-uncased') {
      const ok = r.stages.graph_s < 5 && r.maxRssBytes < 2 * GiB;
      note = `target < 5 s, < 2 GiB: ${ok ? 'MET' : 'MISSED'}`;
    }
    if (!r.ok) console.log(r.error);
    rows.push([
      id,
      r.parameters !== undefined ? `${(r.parameters / 1e6).toFixed(1)} M` : '-',
      r.stages.graph_s !== undefined ? r.stages.graph_s.toFixed(2) : '-',
      r.wall_s.toFixed(2),
      r.maxRssBytes ? (r.maxRssBytes / GiB).toFixed(2) : '-',
      r.bytesWritten !== undefined ? r.bytesWritten.toLocaleString('en-US') : '-',
      r.load,
      note,
    ]);
  }
  print(head, rows);

  if (!process.argv.includes('--no-full')) {
    console.log(
      '\nfull generation (graph + render + typecheck/compile + manifest) for bert-base-uncased ...',
    );
    const r = runChild('full', 'bert-base-uncased', keep);
    if (!r.ok) console.log(`FAILED: ${r.error}`);
    else {
      const st = Object.entries(r.stages).map(([k, v]) => [k, v.toFixed(2)]);
      st.push(['child wall s', r.wall_s.toFixed(2)], ['peak RSS GiB', (r.maxRssBytes / GiB).toFixed(2)]);
      st.push(['bytes in output dir', (r.bytesWritten ?? 0).toLocaleString('en-US')], ['loadavg', r.load]);
      print(['stage (generate sub-steps indented, by onProgress step)', 'seconds / value'], st);
    }
  }
  console.log(
    `\nloadavg at end ${la()} (${cpus().length} cpus); temporary outputs ${keep ? 'kept' : 'removed'}`,
  );
}

function print(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (c: string[]): string =>
    c
      .map((x, i) => (i === 0 || i === c.length - 1 ? x.padEnd(w[i]) : x.padStart(w[i])))
      .join('  ')
      .trimEnd();
  console.log('\n' + line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of rows) console.log(line(r));
}

const ci = process.argv.indexOf('--child');
(ci >= 0
  ? child(process.argv[ci + 1] as 'graph' | 'full', process.argv[ci + 2], process.argv[ci + 3])
  : parent()
).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
