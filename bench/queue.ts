/**
 * End-to-end queue throughput and WebSocket fan-out, measured from outside the server processes.
 *
 *   npx ts-node --transpile-only bench/queue.ts [--n 300] [--inflight 32] [--clients 1000]
 *       [--only ops|ws] [--setups embedded,bullmq1,bullmq2] [--ws-model llama] [--ws-duration 10]
 *       [--ws-block 5] [--ws-client raw|ws] [--keep]
 *
 * 1. Operations per second for the cheapest real job: a `basic` test run on cpu of the tiny ONNX
 *    model of libs/core/src/backends/tiny-model.ts (written to <tmp DATA_DIR>/tiny/model.onnx,
 *    model_name 'tiny/model.onnx', save_results false). N runs are submitted as fast as possible
 *    (--inflight concurrent POSTs) and the clock runs from the first submit to the moment the last
 *    one is seen finished (GET /api/test/runs?since=..&limit=500, polled every 200 ms, so the
 *    wall figure is over-estimated by up to ~200 ms). Per-operation latency is
 *    finished_at - created_at of the status bodies (store clock, ms resolution). Setups:
 *      embedded  one process (ROLE=all, embedded driver, TEST_CONCURRENCY=2)
 *      bullmq1   an API process (ROLE=api) + one worker process (ROLE=worker), private redis-server
 *      bullmq2   the same with two worker processes
 *    All share one DATA_DIR (SQLite file) per setup; redis-server is started by this script on a
 *    free port with no persistence and killed at the end. Each setup runs one warm-up run first
 *    (not counted).
 * 2. WebSocket fan-out: --clients clients subscribe to ONE operation: a benchmark run of the
 *    hf-tiny llama fixture on cpu (batch 1, sequence 8, min_duration_s --ws-duration 10), whose
 *    runner reports progress every 100 ms (a `comprehensive` test run of the tiny fixtures is over
 *    in well under a second: too few updates). Embedded server, its own DATA_DIR,
 *    BENCHMARK_CONCURRENCY=1, and a blocker run (--ws-block 5 s) queued first so the measured run
 *    is still queued while the clients connect. The clients run in a process of their own
 *    (bench/ws-clients.ts; --ws-client raw, the default, is a minimal socket client, ws the `ws`
 *    library's). For every update message (key:
 *    status|progress|current_step) received by every client (each client's on-connect status is
 *    excluded):
 *      spread  = client receive time - earliest receive time of that message across clients
 *      send    = client receive time - the server's first ws send() of that message
 *      update  = client receive time - the first OperationEvents.changed() the message carries
 *                (includes the gateway's coalescing wait, up to 50 ms by contract, and its store read)
 *    `send` and `update` come from a preload in the launcher below (monkey-patches of
 *    ws.WebSocket.prototype.send and OperationEvents.prototype.changed in the server process, which
 *    append JSON lines to a file); src/ is not changed. Clocks: performance.timeOrigin + now() in
 *    both processes (same machine).
 *
 * Servers are child processes (`node -r ts-node/register/transpile-only`, TS_NODE_PROJECT
 * tsconfig.spec.json, LOG_LEVEL=error, HARDWARE=cpu), so the load generator does not share their
 * event loop, but it does share the machine's cores: the load average is printed.
 */
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { tinyModel } from '../libs/core/src/backends/tiny-model';
import { assertAlive, PrivateRedis, ServerProcess, until } from '../test/processes';
import type { ClientsMessage, ClientsRequest } from './ws-clients';
import { arg, flag, loadAverage } from './cli';

const ROOT = resolve(__dirname, '..');
const HF_TINY = '/work/shared/fixtures/hf-tiny';

const N = Number(arg('n', '300'));
const INFLIGHT = Number(arg('inflight', '32'));
const CLIENTS = Number(arg('clients', '1000'));
const ONLY = arg('only');
const SETUPS = (arg('setups', 'embedded,bullmq1,bullmq2') ?? '').split(',').filter(Boolean);
const WS_MODEL = arg('ws-model', 'llama')!;
const KEEP = flag('keep');
const WS_DURATION_S = Number(arg('ws-duration', '10'));
const WS_BLOCK_S = Number(arg('ws-block', '5'));
const WS_CLIENT = arg('ws-client', 'raw') === 'ws' ? 'ws' : 'raw';

const la = loadAverage;
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
const fmt = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

/**
 * Launcher: optional preload (timestamps of ws sends and operation updates, appended to
 * WSBENCH_TRACE) then src/main.ts. Only the ws-fan-out server sets WSBENCH_TRACE.
 */
const LAUNCHER = `
const trace = process.env.WSBENCH_TRACE;
if (trace) {
  const fs = require('fs');
  const { performance } = require('perf_hooks');
  const now = () => performance.timeOrigin + performance.now();
  const fd = fs.openSync(trace, 'a');
  const { OperationEvents } = require(${JSON.stringify(join(ROOT, 'src/common/operations/operation-events.ts'))});
  const seen = new Set();
  const pending = new Map(); // id -> first changed() instant not yet carried by a sent message
  const changed = OperationEvents.prototype.changed;
  OperationEvents.prototype.changed = function (id) {
    if (!pending.has(id)) pending.set(id, now());
    return changed.call(this, id);
  };
  // patch every copy of ws the server may load (one, since the adapter uses ws itself)
  for (const from of [${JSON.stringify(ROOT)}]) {
  const WS = require(require.resolve('ws', { paths: [from] }));
  if (WS.WebSocket.prototype.send.__wsbench) continue;
  const send = WS.WebSocket.prototype.send;
  const reStatus = /"status":"([^"]+)"/, reProgress = /"progress":([^,}]+)/, reId = /"id":"([^"]+)"/;
  const reStep = /"current_step":("(?:[^"\\\\]|\\\\.)*"|null)/;
  let last;
  WS.WebSocket.prototype.send = function (data, ...rest) {
    // the gateway sends one Buffer to every subscriber of an update: look at each one once
    const text = data === last ? undefined : typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString() : undefined;
    last = data;
    if (text !== undefined) {
      const id = reId.exec(text), st = reStatus.exec(text), pr = reProgress.exec(text), cs = reStep.exec(text);
      const m = id && st && pr && cs ? [null, id[1], st[1], pr[1], cs[1]] : null;
      if (m) {
        const key = m[2] + '|' + m[3] + '|' + m[4];
        if (!seen.has(key)) {
          seen.add(key);
          const t = now();
          const u = pending.get(m[1]);
          pending.delete(m[1]);
          fs.writeSync(fd, JSON.stringify({ key, send: t, update: u ?? null }) + '\\n');
        }
      }
    }
    return send.call(this, data, ...rest);
  };
  WS.WebSocket.prototype.send.__wsbench = true;
  }
}
require(${JSON.stringify(join(ROOT, 'src/main.ts'))});
`;

/** A server child: the launcher above, a minimal environment, `env` on top. */
function benchServer(name: string, env: Record<string, string>): ServerProcess {
  return new ServerProcess(name, ['-r', 'ts-node/register/transpile-only', '-e', LAUNCHER], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TS_NODE_PROJECT: join(ROOT, 'tsconfig.spec.json'),
    HOST: '127.0.0.1',
    PORT: '0',
    HARDWARE: 'cpu',
    LOG_LEVEL: 'error',
    NODE_ENV: 'production',
    ...env,
  }).start();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- loosely typed JSON bodies in a bench script
async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} → ${res.status}: ${await res.text()}`);
  return res.json();
}
async function postRun(base: string, body: unknown, kind = 'test'): Promise<string> {
  const res = await fetch(`${base}/api/${kind}/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`POST /api/${kind}/run → ${res.status}: ${text}`);
  return (JSON.parse(text) as { run_id: string }).run_id;
}
const TERMINAL = ['completed', 'failed', 'cancelled', 'timeout'];

interface OpsRow {
  setup: string;
  n: number;
  wall_s: number;
  ops_s: number;
  submit_s: number;
  p50: number;
  p99: number;
  max: number;
  failed: number;
  load: string;
}

async function opsSetup(setup: string): Promise<OpsRow> {
  const dataDir = mkdtempSync(join(tmpdir(), `bench-queue-${setup}-`));
  mkdirSync(join(dataDir, 'tiny'));
  writeFileSync(join(dataDir, 'tiny/model.onnx'), tinyModel().bytes);
  const procs: ServerProcess[] = [];
  let redis: PrivateRedis | undefined;
  try {
    const common: Record<string, string> = { DATA_DIR: dataDir, TEST_CONCURRENCY: '2' };
    let workers = 0;
    if (setup !== 'embedded') {
      workers = setup === 'bullmq2' ? 2 : 1;
      redis = await PrivateRedis.start();
      Object.assign(common, { REDIS_URL: redis.url, QUEUE_PREFIX: `bench-${setup}` });
    }
    const api = benchServer(`${setup}-api`, { ...common, ROLE: setup === 'embedded' ? 'all' : 'api' });
    procs.push(api);
    for (let i = 0; i < workers; i++)
      procs.push(benchServer(`${setup}-worker${i + 1}`, { ...common, ROLE: 'worker' }));
    const base = await api.ready();
    for (const p of procs.slice(1)) await p.ready();
    if (workers)
      await until('workers announced', async () => {
        assertAlive(procs);
        return ((await getJson(`${base}/api/workers`)).workers as unknown[]).length === workers
          ? true
          : undefined;
      });
    const body = {
      model_name: 'tiny/model.onnx',
      hardware: ['cpu'],
      test_type: 'basic',
      save_results: false,
    };
    // warm-up (not counted): one run end to end
    const warm = await postRun(base, body);
    const w = await until(
      'warm-up run finished',
      async () => {
        assertAlive(procs);
        const s = await getJson(`${base}/api/test/status/${warm}`);
        return TERMINAL.includes(s.status) ? s : undefined;
      },
      120_000,
    );
    if (w.status !== 'completed') throw new Error(`warm-up run ${w.status}: ${JSON.stringify(w.error ?? w)}`);
    await sleep(500);

    const since = new Date(Date.now() - 1000).toISOString(); // store clock == this clock
    const ids = new Set<string>();
    const load = la();
    const t0 = now();
    let next = 0;
    let submitEnd = 0;
    const submitter = async () => {
      while (next < N) {
        next++;
        ids.add(await postRun(base, body));
      }
    };
    const submitting = Promise.all(Array.from({ length: INFLIGHT }, submitter)).then(
      () => (submitEnd = now()),
    );
    type RunStatus = { id: string; status: string; created_at: string; finished_at: string | null };
    let done: RunStatus[] = [];
    let tEnd = 0;
    for (;;) {
      await sleep(200);
      assertAlive(procs);
      const items: RunStatus[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: RunStatus[]; next_cursor: string | null } = await getJson(
          `${base}/api/test/runs?limit=500&since=${encodeURIComponent(since)}${cursor ? `&cursor=${cursor}` : ''}`,
        );
        items.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor);
      const t = now();
      done = items.filter((s) => ids.has(s.id) && TERMINAL.includes(s.status));
      if (submitEnd && done.length >= N) {
        tEnd = t;
        break;
      }
      if (t - t0 > 600_000) throw new Error(`${setup}: only ${done.length}/${N} finished in 600 s`);
    }
    await submitting;
    const lat = done
      .map((s) => Date.parse(s.finished_at ?? s.created_at) - Date.parse(s.created_at))
      .sort((a, b) => a - b);
    const failed = done.filter((s) => s.status !== 'completed');
    if (failed.length)
      console.log(
        `${setup}: ${failed.length} not completed, e.g. ${JSON.stringify(failed[0]).slice(0, 400)}`,
      );
    const wall = (tEnd - t0) / 1000;
    const errs = procs.map((p) => p.output.replace(/^.*listening on.*$/gm, '').trim()).filter(Boolean);
    if (errs.length)
      console.log(`${setup} server output (tail):\n${errs.map((e) => e.slice(-800)).join('\n---\n')}`);
    return {
      setup:
        setup === 'embedded'
          ? 'embedded (1 proc, conc 2)'
          : `bullmq api + ${workers} worker${workers > 1 ? 's' : ''} (conc 2 each)`,
      n: N,
      wall_s: wall,
      ops_s: N / wall,
      submit_s: (submitEnd - t0) / 1000,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      max: lat[lat.length - 1] ?? NaN,
      failed: failed.length,
      load: `${load} → ${la()}`,
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop('SIGTERM', 10_000)));
    await redis?.kill();
    if (!KEEP) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`kept ${dataDir}`);
  }
}

interface WsResult {
  clients: number;
  connected: number;
  connect_s: number;
  run_s: number;
  messages: number;
  common: number;
  samples: number;
  spread: number[];
  send: number[];
  update: number[];
  closes: Record<string, number>;
  status: string;
  load: string;
}

async function wsFanout(): Promise<WsResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-queue-ws-'));
  const trace = join(dataDir, 'ws-trace.jsonl');
  const server = benchServer('ws-server', {
    DATA_DIR: dataDir,
    MODEL_ROOTS: HF_TINY,
    BENCHMARK_CONCURRENCY: '1',
    WSBENCH_TRACE: trace,
  });
  const clients = fork(join(__dirname, 'ws-clients.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.spec.json') },
  });
  const fromClients = <T extends ClientsMessage['type']>(type: T) =>
    new Promise<Extract<ClientsMessage, { type: T }>>((res, rej) => {
      const onMessage = (m: ClientsMessage) => {
        if (m.type !== type) return;
        clients.off('exit', onExit);
        res(m as Extract<ClientsMessage, { type: T }>);
      };
      const onExit = (code: number) => rej(new Error(`ws client process exited (${code}) before '${type}'`));
      clients.on('message', onMessage);
      clients.once('exit', onExit);
    });
  try {
    const base = await server.ready();
    const load = la();
    const runBody = (min_duration_s: number) => ({
      model_name: join(HF_TINY, WS_MODEL, 'torch_export.onnx'),
      hardware: ['cpu'],
      batch_sizes: [1],
      sequence_lengths: [8],
      min_duration_s,
      min_iterations: 10,
    });
    // BENCHMARK_CONCURRENCY=1: a blocker run first, so the measured run stays queued while clients connect
    const blocker = await postRun(base, runBody(WS_BLOCK_S), 'benchmark');
    const runId = await postRun(base, runBody(WS_DURATION_S), 'benchmark');
    const tRun = now();
    const wsUrl = `${base.replace('http', 'ws')}/api/benchmark/ws/${runId}`;
    const connectedMsg = fromClients('connected');
    const doneMsg = fromClients('done');
    doneMsg.catch(() => undefined); // awaited below; a failed connect phase throws first
    clients.send({ url: wsUrl, clients: CLIENTS, client: WS_CLIENT } satisfies ClientsRequest);
    const { connected, connect_s: connectS } = await connectedMsg;
    const atConnect = await getJson(`${base}/api/benchmark/status/${runId}`);
    const blk = await getJson(`${base}/api/benchmark/status/${blocker}`);
    console.log(
      `all connected: measured run ${atConnect.status} ${atConnect.progress}, blocker ${blk.status} ${blk.progress}`,
    );
    const stop = setTimeout(() => clients.send('stop'), (WS_BLOCK_S + WS_DURATION_S) * 1000 + 120_000);
    const { recv: got, closes } = await doneMsg;
    clearTimeout(stop);
    const recv = got.map((pairs) => new Map(pairs));
    const final = await getJson(`${base}/api/benchmark/status/${runId}`);
    const runS = (now() - tRun) / 1000;
    // messages every client received after its on-connect status
    const all = new Set<string>();
    for (const m of recv) for (const k of m.keys()) all.add(k);
    const commonKeys = [...all].filter((k) => recv.every((m) => m.has(k)));
    const serverTimes = new Map<string, { send: number; update: number | null }>();
    if (existsSync(trace))
      for (const line of readFileSync(trace, 'utf8').split('\n').filter(Boolean)) {
        const o = JSON.parse(line) as { key: string; send: number; update: number | null };
        // server key: status|progress|"current_step" as it appears in the JSON text
        const [st, pr, ...cs] = o.key.split('|');
        serverTimes.set(`${st}|${Number(pr)}|${cs.join('|')}`, o);
      }
    const spread: number[] = [];
    const send: number[] = [];
    const update: number[] = [];
    for (const k of commonKeys) {
      const times = recv.map((m) => m.get(k)!);
      const earliest = Math.min(...times);
      const srv = serverTimes.get(k);
      for (const t of times) {
        spread.push(t - earliest);
        if (srv) send.push(t - srv.send);
        if (srv?.update != null) update.push(t - srv.update);
      }
    }
    const sortN = (a: number[]) => a.sort((x, y) => x - y);
    return {
      clients: CLIENTS,
      connected,
      connect_s: connectS,
      run_s: runS,
      messages: all.size,
      common: commonKeys.length,
      samples: spread.length,
      spread: sortN(spread),
      send: sortN(send),
      update: sortN(update),
      closes,
      status: final.status,
      load: `${load} → ${la()}`,
    };
  } finally {
    if (clients.exitCode === null) clients.kill();
    await server.stop('SIGTERM', 10_000);
    if (!KEEP) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`kept ${dataDir}`);
  }
}

function table(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  console.log(
    `machine: ${cpus().length} cpus (${cpus()[0]?.model}), node ${process.version}; loadavg at start ${la()}\n` +
      `NOTE: shared machine (other agents run on the same cores): figures are noisy; load generator and servers share the cores.\n`,
  );
  const ops: OpsRow[] = [];
  if (ONLY !== 'ws')
    for (const s of SETUPS) {
      console.log(`ops: ${s} ...`);
      ops.push(await opsSetup(s));
    }
  let ws: WsResult | undefined;
  if (ONLY !== 'ops') {
    console.log(`ws fan-out: ${CLIENTS} clients ...`);
    ws = await wsFanout();
  }
  console.log('');
  if (ops.length) {
    console.log(
      `1. end-to-end ops (basic test, tiny ONNX model, cpu; ${N} runs, ${INFLIGHT} POSTs in flight; latency = finished_at - created_at)`,
    );
    table(
      [
        'setup',
        'runs',
        'wall s',
        'ops/s',
        'submit s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'failed',
        'loadavg before → after',
      ],
      ops.map((r) => [
        r.setup,
        String(r.n),
        fmt(r.wall_s, 2),
        fmt(r.ops_s, 1),
        fmt(r.submit_s, 2),
        fmt(r.p50, 0),
        fmt(r.p99, 0),
        fmt(r.max, 0),
        String(r.failed),
        r.load,
      ]),
    );
    console.log('');
  }
  if (ws) {
    console.log(
      `2. WebSocket fan-out: ${ws.connected}/${ws.clients} clients on one benchmark run (${WS_MODEL}, cpu, min_duration_s ${WS_DURATION_S}; progress every 100 ms), ` +
        `connected in ${fmt(ws.connect_s, 2)} s; run ${ws.status} after ${fmt(ws.run_s, 1)} s; ` +
        `${ws.messages} distinct update messages, ${ws.common} received by every client (${ws.samples} samples); ` +
        `closes ${JSON.stringify(ws.closes)}; loadavg ${ws.load}`,
    );
    const row = (name: string, a: number[]) => [
      name,
      String(a.length),
      fmt(pct(a, 50)),
      fmt(pct(a, 99)),
      fmt(a[a.length - 1] ?? NaN),
    ];
    table(
      ['lag (ms)', 'samples', 'p50', 'p99', 'max'],
      [
        row('spread: recv - earliest recv', ws.spread),
        row('recv - server first send()', ws.send),
        row('recv - server update (changed())', ws.update),
      ],
    );
    const p99 = pct(ws.spread, 99);
    console.log(`fan-out spread p99 ${fmt(p99)} ms vs target < 50 ms → ${p99 < 50 ? 'MET' : 'MISSED'}`);
  }
  console.log(`\nloadavg at end ${la()} (${cpus().length} cpus)`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
