/** The CLI as a child process against a real server started here (and --local with none). */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, TestServer } from './app';
import { HF_TINY, REPO_ROOT } from './fixtures';

jest.setTimeout(120_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', 'src/cli/main.ts', ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json', ACCELERATE_URL: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('ipfs-accelerate CLI', () => {
  let server: TestServer;
  let tmp: string;

  beforeAll(async () => {
    server = await startServer('embedded');
    tmp = mkdtempSync(join(tmpdir(), 'ipfs-accel-cli-'));
  });
  afterAll(async () => {
    await server?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('hardware lists every backend', async () => {
    const r = await cli(['--url', server.url, 'hardware']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend\s+available/m);
    expect(r.stdout).toMatch(/^cpu\s+yes/m);
    expect(r.stdout).toMatch(/^cuda\s/m);
  });

  it('test bert writes JUnit and exits 0', async () => {
    const junit = join(tmp, 'junit.xml');
    const r = await cli(['--url', server.url, 'test', 'bert', '--hardware', 'cpu', '--junit', junit]);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^PASS\s+cpu\s+inference/m);
    expect(r.stdout).toMatch(/^PASSED: \d+ passed, 0 failed/m);
    expect(existsSync(junit)).toBe(true);
    expect(readFileSync(junit, 'utf8')).toContain('<testsuite');
  });

  it('bench prints a markdown table', async () => {
    const r = await cli([
      '--url',
      server.url,
      'bench',
      'bert',
      '--batch-sizes',
      '1',
      '--seq-lens',
      '8',
      '--min-duration',
      '0.2',
      '--format',
      'markdown',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\| model \| backend \| batch \|/m);
    expect(r.stdout).toMatch(/^\| bert \| cpu \| 1 \| 8 \|/m);
  });

  it('compare and bench --baseline gate on the verdict: 0 unchanged, 6 inconclusive, with the interval', async () => {
    const bench = async (model: string, extra: string[] = []): Promise<Run> =>
      cli([
        '--url',
        server.url,
        'bench',
        model,
        '--batch-sizes',
        '1',
        '--seq-lens',
        '8',
        '--min-duration',
        '0.1',
        '--rounds',
        '5',
        ...extra,
      ]);
    const a = await bench('bert', ['--format', 'json']);
    expect(a.code).toBe(0);
    const runA = (JSON.parse(a.stdout) as { run_id: string }).run_id;

    // The same run against itself: ratio 1; a wide threshold holds the whole interval.
    const same = await cli(['--url', server.url, 'compare', runA, runA, '--threshold', '10']);
    expect(same.stdout).toMatch(/^verdict: unchanged \(threshold 10, confidence 0\.95, min of rounds\)/m);
    expect(same.stdout).toMatch(/^bert\s+cpu\s+1\s+8\s.*\d\.\d{3}\.\.\d\.\d{3}\s.*unchanged$/m);
    expect(same.code).toBe(0);

    // Threshold 0: no interval of a noisy ratio fits in [1, 1], so the runs cannot tell.
    const strict = await cli([
      '--url',
      server.url,
      'compare',
      runA,
      runA,
      '--threshold',
      '0',
      '--statistic',
      'min',
    ]);
    expect(strict.stdout).toMatch(/^verdict: inconclusive/m);
    expect(strict.code).toBe(6);

    // Different models never match: inconclusive (never unchanged), and the reason is printed.
    const other = await bench('distilbert', ['--format', 'json']);
    expect(other.code).toBe(0);
    const runC = (JSON.parse(other.stdout) as { run_id: string }).run_id;
    const unmatched = await cli(['--url', server.url, 'compare', runA, runC]);
    expect(unmatched.stdout).toMatch(/^unmatched \(baseline\): bert cpu batch 1 seq 8: /m);
    expect(unmatched.stdout).toMatch(/^verdict: inconclusive/m);
    expect(unmatched.code).toBe(6);

    // bench --baseline prints the comparison under its table and exits by its verdict.
    const gated = await bench('bert', ['--baseline', runA, '--threshold', '10']);
    expect(gated.stdout).toMatch(new RegExp(`^compared with ${runA}:$`, 'm'));
    expect(gated.stdout).toMatch(/^verdict: unchanged/m);
    expect(gated.code).toBe(0);
    const gatedStrict = await bench('bert', ['--baseline', runC]);
    expect(gatedStrict.stdout).toMatch(/^verdict: inconclusive/m);
    expect(gatedStrict.code).toBe(6);
  });

  it('bench with several models measures them side by side and prints the paired ratios', async () => {
    const r = await cli([
      '--url',
      server.url,
      'bench',
      'bert',
      'distilbert',
      '--batch-sizes',
      '1',
      '--seq-lens',
      '8',
      '--min-duration',
      '0.1',
    ]);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^paired \(measured side by side, candidate \/ baseline\):$/m);
    expect(r.stdout).toMatch(/^bert\S*\s+distilbert\S*\s+\d+\.\d{3}\s+\d+\.\d{3}\.\.\d+\.\d{3}\s+5\s+\w+$/m);
  });

  it('exits 3 when the server is unreachable', async () => {
    const r = await cli(['--url', `http://127.0.0.1:${await closedPort()}`, 'models']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/server unreachable/);
  });

  it('exits 2 on bad usage', async () => {
    expect((await cli(['bench'])).code).toBe(2);
    expect((await cli(['--url', server.url, 'test', 'bert', '--hardware', 'tpu'])).code).toBe(2);
    expect((await cli(['no-such-command'])).code).toBe(2);
  });

  it('--local runs in-process without a server', async () => {
    const dataDir = join(tmp, 'local-data');
    const r = await cli(['--local', 'test', join(HF_TINY, 'bert'), '--hardware', 'cpu'], {
      DATA_DIR: dataDir,
      MODEL_ROOTS: HF_TINY,
      HARDWARE: 'cpu',
    });
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^PASSED: /m);
    expect(existsSync(join(dataDir, 'ipfs-accelerate.sqlite'))).toBe(true);
  });
});
