/**
 * The seed's integration example as written: generator, tests and benchmarks each in their own
 * server process (`serve --components`), sharing DATA_DIR, driven by examples/workflow.ts.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { HF_TINY, REPO_ROOT } from './fixtures';
import { freePort } from './net';

jest.setTimeout(300_000);

const TS_NODE = ['-r', 'ts-node/register/transpile-only'];

describe('three servers, one per suite, sharing DATA_DIR', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-seed-'));
  const servers: Array<{ component: string; port: number; child: ChildProcess }> = [];

  beforeAll(async () => {
    for (const component of ['generator', 'test', 'benchmark']) {
      const port = await freePort();
      const child = spawn(
        process.execPath,
        [
          ...TS_NODE,
          'src/cli/main.ts',
          'serve',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--components',
          component,
        ],
        {
          cwd: REPO_ROOT,
          env: {
            ...process.env,
            TS_NODE_PROJECT: 'tsconfig.spec.json',
            DATA_DIR: dataDir,
            MODEL_ROOTS: HF_TINY,
            HARDWARE: 'cpu',
            LOG_LEVEL: 'warn',
          },
          stdio: 'ignore',
        },
      );
      servers.push({ component, port, child });
    }
    const deadline = Date.now() + 180_000;
    for (const s of servers) {
      for (;;) {
        try {
          if ((await fetch(`http://127.0.0.1:${s.port}/health`)).ok) break;
        } catch {
          /* not up yet */
        }
        if (Date.now() > deadline) throw new Error(`${s.component} server did not start within 180 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });

  afterAll(() => {
    for (const s of servers) s.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves only its own suite on each port', async () => {
    const [gen, test, bench] = servers.map((s) => `http://127.0.0.1:${s.port}`);
    expect((await fetch(`${gen}/api/generator/templates`)).status).toBe(200);
    expect((await fetch(`${gen}/api/test/types`)).status).toBe(404);
    expect((await fetch(`${test}/api/test/types`)).status).toBe(200);
    expect((await fetch(`${bench}/api/benchmark/runs`)).status).toBe(200);
    expect((await fetch(`${bench}/api/generator/templates`)).status).toBe(404);
  });

  it('runs generate → test → benchmark across the three servers and prints latency and throughput', () => {
    const [gen, test, bench] = servers.map((s) => `http://127.0.0.1:${s.port}`);
    const run = spawnSync(
      process.execPath,
      [
        ...TS_NODE,
        'examples/workflow.ts',
        // As the README writes it: a folder relative to the repository, resolved by the example.
        relative(REPO_ROOT, join(HF_TINY, 'bert')),
        '--generator-url',
        gen!,
        '--test-url',
        test!,
        '--bench-url',
        bench!,
        '--seq-len',
        '8',
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.spec.json' },
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    const out = `${run.stdout}\n${run.stderr}`;
    expect([run.status, out]).toEqual([0, expect.any(String)]);
    // The model given is the model built (an earlier version ignored it and built bert-base-uncased).
    expect(out.split('\n')[0]).toBe(`1. generate ${join(HF_TINY, 'bert')}`);
    expect(out).toMatch(/passed: \d+ passed, 0 failed/);
    expect(out).toMatch(/latency_ms: \d+\.\d+/);
    expect(out).toMatch(/throughput: \d+\.\d items\/s/);
  });
});
