/**
 * Restarts resume (embedded driver): a real server process is SIGKILLed while a stream of POSTs
 * comes in, restarted on the same DATA_DIR and store, and every operation it accepted reaches a
 * terminal state with its work done: queued ones run, running ones run again once (attempts 2),
 * and one that was running at two crashes in a row ends failed INTERRUPTED instead of a third run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provisionDatabase, ProvisionedDatabase } from './app';
import { HF_TINY } from './fixtures';
import { ServerProcess, tsNodeServer, until } from './processes';

jest.setTimeout(600_000);

type Status = Record<string, unknown> & { status: string; attempts: number };
const TERMINAL = ['completed', 'failed', 'cancelled', 'timeout'];

describe('restart after SIGKILL (embedded driver)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-restart-'));
  let store: ProvisionedDatabase;
  let server: ServerProcess | undefined;
  let starts = 0;

  const start = async (): Promise<string> => {
    server = tsNodeServer(`server-${++starts}`, {
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      MODEL_ROOTS: HF_TINY,
      HARDWARE: 'cpu',
      TEST_CONCURRENCY: '2',
      BENCHMARK_CONCURRENCY: '1',
      ...store.env,
    }).start();
    return server.ready();
  };
  const get = async (url: string, path: string) => (await (await fetch(`${url}${path}`)).json()) as Status;
  const post = async (url: string, path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status !== 202) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { run_id: string }).run_id;
  };

  /** POSTs test runs two at a time until told to stop or the server goes away; the ids it accepted. */
  const stream = (url: string) => {
    const accepted: string[] = [];
    let stop = false;
    const poster = async () => {
      while (!stop) {
        try {
          accepted.push(await post(url, '/api/test/run', TEST_RUN));
        } catch {
          return; // the server was killed: this POST was not accepted
        }
      }
    };
    const done = Promise.all([poster(), poster()]);
    return {
      accepted,
      async end() {
        stop = true;
        await done;
      },
    };
  };

  const TEST_RUN = { model_name: 'bert', hardware: ['cpu'], test_type: 'basic', save_results: false };
  const LONG_BENCHMARK = {
    model_name: 'bert',
    hardware: ['cpu'],
    batch_sizes: [1],
    sequence_lengths: [8],
    min_duration_s: 8,
    min_iterations: 10,
  };

  beforeAll(async () => {
    store = await provisionDatabase();
  });

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await store?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('puts the running job back in the queue on a graceful stop, and runs it at the next start', async () => {
    let url = await start();
    const long = await post(url, '/api/benchmark/run', { ...LONG_BENCHMARK, min_duration_s: 3 });
    const queued = await post(url, '/api/test/run', TEST_RUN);
    await until(
      'running',
      async () => (await get(url, `/api/benchmark/status/${long}`)).status === 'running',
    );
    await server!.stop('SIGTERM', 60_000);
    expect(server!.child.signalCode ?? server!.child.exitCode).not.toBe('SIGKILL');
    url = await start();
    const s = await until(
      'done after the restart',
      async () => {
        const st = await get(url, `/api/benchmark/status/${long}`);
        return TERMINAL.includes(st.status) ? st : undefined;
      },
      120_000,
    );
    // Not the job's doing: its attempt was given back, so this is its first (complete) start.
    expect(s).toMatchObject({ status: 'completed', attempts: 1 });
    const test = await until('the test run done', async () => {
      const st = await get(url, `/api/test/status/${queued}`);
      return TERMINAL.includes(st.status) ? st : undefined;
    });
    expect(test).toMatchObject({ status: 'completed', attempts: 1 });
    await server!.stop('SIGKILL');
  });

  it('resumes every accepted operation after kill -9, and stops retrying one that crashed twice', async () => {
    // First life: a long benchmark running, one queued behind it, test runs streaming in.
    let url = await start();
    const long = await post(url, '/api/benchmark/run', LONG_BENCHMARK);
    const behind = await post(url, '/api/benchmark/run', { ...LONG_BENCHMARK, min_duration_s: 0.2 });
    const first = stream(url);
    await until('the long benchmark running and a backlog of tests', async () => {
      const s = await get(url, `/api/benchmark/status/${long}`);
      return s.status === 'running' && first.accepted.length >= 30;
    });
    await server!.stop('SIGKILL');
    await first.end();
    const tests = [...first.accepted];

    // Second life: what was left runs again. The long benchmark starts its retry (attempt 2) first;
    // kill the server again while that attempt runs and more tests stream in.
    url = await start();
    const second = stream(url);
    const retry = await until('the long benchmark running again', async () => {
      const s = await get(url, `/api/benchmark/status/${long}`);
      return s.status === 'running' && s.attempts === 2 ? s : undefined;
    });
    expect(retry.attempts).toBe(2);
    await until('more tests accepted', () => second.accepted.length >= 10);
    await server!.stop('SIGKILL');
    await second.end();
    tests.push(...second.accepted);

    // Third life: everything ends.
    url = await start();
    const all = [
      ...tests.map((id) => ({ id, path: `/api/test/status/${id}` })),
      { id: long, path: `/api/benchmark/status/${long}` },
      { id: behind, path: `/api/benchmark/status/${behind}` },
    ];
    const final = new Map<string, Status>();
    await until(
      'every accepted operation terminal',
      async () => {
        for (const { id, path } of all) {
          if (final.has(id)) continue;
          const s = await get(url, path);
          if (!TERMINAL.includes(s.status)) return false;
          final.set(id, s);
        }
        return true;
      },
      300_000,
      250,
    );

    // Started at both crashes: its one retry spent, it is not started a third time.
    expect(final.get(long)).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { code: 'INTERRUPTED', details: { attempts: 2, max_attempts: 2 } },
    });
    // Queued at the first crash (and perhaps the second): it ran.
    expect(final.get(behind)).toMatchObject({ status: 'completed', attempts: 1 });
    const measured = (await (await fetch(`${url}/api/benchmark/results/${behind}`)).json()) as {
      configurations: Array<{ status: string; latencies_ms: number[] }>;
    };
    expect(measured.configurations).toHaveLength(1);
    expect(measured.configurations[0]).toMatchObject({ status: 'ok' });
    expect(measured.configurations[0]!.latencies_ms.length).toBeGreaterThanOrEqual(10);
    // Every test run accepted by a process that was then killed completed: on its first start
    // when it was queued at the kill, on its second when it was running. Only one running at both
    // kills (started in the first life, retried in the second) may end INTERRUPTED instead.
    for (const id of tests) {
      const s = final.get(id)!;
      if (s.status === 'failed') {
        expect(s).toMatchObject({ attempts: 2, error: { code: 'INTERRUPTED' } });
        expect(first.accepted).toContain(id);
        continue;
      }
      expect({ id, status: s.status, error: s.error }).toEqual({ id, status: 'completed', error: undefined });
      expect([1, 2]).toContain(s.attempts);
      const r = (await (await fetch(`${url}/api/test/results/${id}`)).json()) as Record<string, unknown>;
      expect(r).toMatchObject({ run_id: id, status: 'passed' });
    }
  });
});
