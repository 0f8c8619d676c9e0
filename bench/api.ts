/**
 * HTTP throughput of the API server, measured from outside its process.
 *
 *   npx ts-node --transpile-only bench/api.ts [--duration 10] [--connections 100] [--pipelining 1]
 *       [--model-root /work/shared/fixtures/hf-tiny] [--model <path inside the root>]
 *       [--test-concurrency 1] [--dist] [--no-baseline] [--only status|run]
 *
 * The server runs as a CHILD process (`node -r ts-node/register/transpile-only src/main.ts`, or
 * `node dist/src/main.js` with --dist after `npm run build`) with a temporary DATA_DIR (durable
 * SQLite file, WAL), MODEL_ROOTS, HARDWARE=cpu, LOG_LEVEL=error, so autocannon (in this process)
 * does not share the server's event loop. Phases:
 *
 *   1. GET  /api/test/status/{id} of one run created beforehand          target >= 18,000 req/s
 *   2. POST /api/test/run with a small valid body (basic test, tiny model) target >=  5,000 req/s
 *      then every run_id answered 202 is looked up in the SQLite file ("losing an accepted run
 *      is not acceptable"), and the row count is compared with the 2xx count.
 *   3. Baseline: a bare Fastify child (no Nest, no helmet, no store) with a GET route returning a
 *      status-sized JSON body and a POST route parsing a JSON body, same harness, same settings:
 *      the ceiling of this machine for this harness, so the server's figures can be read as a
 *      fraction of it.
 *
 * Accepted runs execute in the background (TEST_CONCURRENCY workers, default here 1): during
 * phase 2 they compete with request handling for the same CPUs, so the POST figure is a lower
 * bound of the pure accept path on a busy worker (noted in the output). The server is killed
 * after the phases; queued runs are left unexecuted and the temporary DATA_DIR is removed.
 *
 * The figures are noisy on a shared machine: the load average is printed with every phase.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require('better-sqlite3');

const ROOT = resolve(__dirname, '..');

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? 'true' : v;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const DURATION = Number(arg('duration', '10'));
const CONNECTIONS = Number(arg('connections', '100'));
const PIPELINING = Number(arg('pipelining', '1'));
const MODEL_ROOT = resolve(arg('model-root', '/work/shared/fixtures/hf-tiny')!);
const MODEL = resolve(arg('model', join(MODEL_ROOT, 'bert/torch_export.onnx'))!);
const TEST_CONCURRENCY = arg('test-concurrency', '1')!;
const USE_DIST = flag('dist');
const ONLY = arg('only');

const la = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

interface Server {
  child: ChildProcess;
  base: string;
  stderr: string[];
}

function waitForUrl(child: ChildProcess, stderr: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms\n${stderr.join('')}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on \S*?:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise(`http://127.0.0.1:${m[1]}`);
      }
    });
    child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening\n${stderr.join('')}`));
    });
  });
}

async function startApi(dataDir: string): Promise<Server> {
  const entry = USE_DIST ? [join(ROOT, 'dist/src/main.js')] : ['-r', 'ts-node/register/transpile-only', join(ROOT, 'src/main.ts')];
  if (USE_DIST && !existsSync(entry[0])) throw new Error(`${entry[0]} not found: run npm run build first`);
  const child = spawn(process.execPath, entry, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      MODEL_ROOTS: MODEL_ROOT,
      HARDWARE: 'cpu',
      LOG_LEVEL: 'error',
      TEST_CONCURRENCY,
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const base = await waitForUrl(child, stderr, 120_000);
  return { child, base, stderr };
}

const BASELINE_SRC = `
const fastify = require('fastify')({ logger: false });
const body = ${JSON.stringify({
  id: '00000000-0000-4000-8000-000000000000',
  status: 'queued',
  progress: 0,
  current_step: null,
  created_at: new Date().toISOString(),
  started_at: null,
  finished_at: null,
  elapsed_s: 0,
  eta_s: null,
})};
let n = 0;
fastify.get('/api/test/status/:id', async () => body);
fastify.post('/api/test/run', async (req, reply) => {
  reply.code(202);
  return { run_id: String(++n), status: 'queued', message: 'accepted', started_at: new Date().toISOString() };
});
fastify.listen({ port: 0, host: '127.0.0.1' }).then((a) => console.log('listening on ' + a));
`;

async function startBaseline(): Promise<Server> {
  const child = spawn(process.execPath, ['-e', BASELINE_SRC], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const base = await waitForUrl(child, stderr, 30_000);
  return { child, base, stderr };
}

async function stop(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

interface Row {
  name: string;
  reqs: number;
  p50: number;
  p99: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  ok2xx: number;
  total: number;
  load: string;
}

async function load(
  name: string,
  url: string,
  opts: { method?: string; body?: string; onResponse?: (status: number, body: string) => void },
): Promise<Row> {
  const headers = opts.body ? { 'content-type': 'application/json' } : undefined;
  const requests = opts.onResponse
    ? [{ method: opts.method ?? 'GET', body: opts.body, headers, onResponse: opts.onResponse }]
    : undefined;
  const r = await autocannon({
    url,
    method: opts.method ?? 'GET',
    body: opts.body,
    headers,
    requests,
    connections: CONNECTIONS,
    pipelining: PIPELINING,
    duration: DURATION,
  });
  return {
    name,
    reqs: r.requests.mean,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    ok2xx: r['2xx'],
    total: r.requests.total,
    load: la(),
  };
}

function printTable(rows: Row[]): void {
  const h = ['phase', 'req/s mean', 'p50 ms', 'p99 ms', 'errors', 'timeouts', 'non-2xx', '2xx', 'loadavg 1/5/15'];
  const cells = rows.map((r) => [
    r.name,
    r.reqs.toFixed(0),
    String(r.p50),
    String(r.p99),
    String(r.errors),
    String(r.timeouts),
    String(r.non2xx),
    String(r.ok2xx),
    r.load,
  ]);
  const w = h.map((x, i) => Math.max(x.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  console.log(line(h));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<void> {
  console.log(
    `machine: ${cpus().length} cpus (${cpus()[0]?.model}), node ${process.version}; loadavg at start ${la()}\n` +
      `autocannon: ${CONNECTIONS} connections, pipelining ${PIPELINING}, ${DURATION} s per phase; ` +
      `server: ${USE_DIST ? 'dist/src/main.js' : 'ts-node transpile-only src/main.ts'}, TEST_CONCURRENCY=${TEST_CONCURRENCY}\n` +
      `model: ${MODEL}\nNOTE: the machine is shared; figures are noisy. Load generator and server share the same cores.\n`,
  );
  const rows: Row[] = [];
  const targets: Record<string, number> = { 'api GET status': 18_000, 'api POST run': 5_000 };
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-api-'));
  const runBody = JSON.stringify({ model_name: MODEL, hardware: ['cpu'], test_type: 'basic', save_results: false });
  let server: Server | undefined;
  try {
    const t0 = Date.now();
    server = await startApi(dataDir);
    console.log(`server up at ${server.base} in ${((Date.now() - t0) / 1000).toFixed(1)} s (DATA_DIR ${dataDir})`);

    const created = await fetch(`${server.base}/api/test/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: runBody,
    });
    if (created.status !== 202) throw new Error(`POST /api/test/run → ${created.status}: ${await created.text()}`);
    const { run_id: firstId } = (await created.json()) as { run_id: string };
    // Let the first run go through so the status phase reads a finished run, not a moving one.
    for (let i = 0; i < 120; i++) {
      const s = (await (await fetch(`${server.base}/api/test/status/${firstId}`)).json()) as { status: string };
      if (!['queued', 'running'].includes(s.status)) {
        console.log(`run ${firstId}: ${s.status}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }

    if (ONLY !== 'run') {
      // short warm-up (JIT, connection setup), not reported
      await autocannon({ url: `${server.base}/api/test/status/${firstId}`, connections: 10, duration: 2 });
      rows.push(await load('api GET status', `${server.base}/api/test/status/${firstId}`, {}));
    }

    if (ONLY !== 'status') {
      const ids: string[] = [];
      const re = /"run_id":"([^"]+)"/;
      let unparsed = 0;
      const onResponse = (status: number, body: string): void => {
        if (status !== 202) return;
        const m = re.exec(body);
        if (m) ids.push(m[1]);
        else unparsed++;
      };
      const row = await load('api POST run', `${server.base}/api/test/run`, { method: 'POST', body: runBody, onResponse });
      rows.push(row);
      // Check the store: every 202 run_id must be there (durable SQLite file, read-only from here).
      const db = new Database(join(dataDir, 'ipfs-accelerate.sqlite'), { readonly: true, fileMustExist: true });
      const has = db.prepare('SELECT 1 FROM operations WHERE id = ?').pluck();
      let missing = 0;
      for (const id of ids) if (!has.get(id)) missing++;
      const byStatus = db
        .prepare("SELECT status, count(*) AS n FROM operations WHERE kind = 'test' GROUP BY status")
        .all() as { status: string; n: number }[];
      const count = byStatus.reduce((a, b) => a + b.n, 0);
      db.close();
      console.log(
        `\nstore check after POST phase: ${ids.length} run_ids answered 202 (autocannon 2xx ${row.ok2xx}` +
          `${unparsed ? `, ${unparsed} 202 bodies without run_id` : ''}); missing from the store: ${missing}; ` +
          `rows of kind test: ${count} (${byStatus.map((s) => `${s.status} ${s.n}`).join(', ')}; ` +
          `rows >= 2xx + 1 because requests in flight when autocannon stops are stored but not counted)` +
          `\n  => ${missing === 0 && unparsed === 0 ? 'OK: no accepted run lost' : 'FAIL: accepted runs missing'}`,
      );
      if (missing > 0) process.exitCode = 1;
    }
    const err = server.stderr.join('').trim();
    if (err) console.log(`\nserver stderr (last 2000 chars):\n${err.slice(-2000)}`);
  } finally {
    if (server) await stop(server);
    rmSync(dataDir, { recursive: true, force: true });
  }

  if (!flag('no-baseline')) {
    const base = await startBaseline();
    try {
      await autocannon({ url: `${base.base}/api/test/status/x`, connections: 10, duration: 2 });
      if (ONLY !== 'run')
        rows.push(await load('bare fastify GET', `${base.base}/api/test/status/00000000-0000-4000-8000-000000000000`, {}));
      if (ONLY !== 'status')
        rows.push(
          await load('bare fastify POST', `${base.base}/api/test/run`, {
            method: 'POST',
            body: runBody,
            onResponse: () => undefined, // same body-collecting client path as the api POST phase
          }),
        );
    } finally {
      await stop(base);
    }
  }

  console.log('');
  printTable(rows);
  console.log('');
  for (const r of rows) {
    const t = targets[r.name];
    if (t) console.log(`${r.name}: ${r.reqs.toFixed(0)} req/s vs target ${t} → ${r.reqs >= t ? 'MET' : 'MISSED'}`);
  }
  const pair = (a: string, b: string): void => {
    const x = rows.find((r) => r.name === a);
    const y = rows.find((r) => r.name === b);
    if (x && y) console.log(`${a} / ${b}: ${((100 * x.reqs) / y.reqs).toFixed(1)}% of the bare-Fastify ceiling in this harness`);
  };
  pair('api GET status', 'bare fastify GET');
  pair('api POST run', 'bare fastify POST');
  console.log(
    `POST figure includes background execution of accepted runs (TEST_CONCURRENCY=${TEST_CONCURRENCY}) on the same cores.\n` +
      `loadavg at end ${la()} (${cpus().length} cpus)`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
