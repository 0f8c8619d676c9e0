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
