/** The CLI as a child process against a real server started here (and --local with none). */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startServer, TestServer } from './app';
import { HF_TINY, REPO_ROOT } from './fixtures';
import { until } from './processes';

jest.setTimeout(120_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const CLI = ['-r', require.resolve('ts-node/register/transpile-only'), join(REPO_ROOT, 'src/cli/main.ts')];
const CLI_ENV = { TS_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.json'), ACCELERATE_URL: '', NO_COLOR: '' };

function cli(args: string[], env: Record<string, string> = {}, cwd = REPO_ROOT): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], {
      cwd,
      env: { ...process.env, ...CLI_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(
      (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    );
  });

  it('exits 4 on a run or model that is not there, or a model that cannot be loaded', async () => {
    const none = '00000000-0000-7000-8000-000000000000';
    const missing = await cli(['--url', server.url, 'compare', none, none]);
    expect(missing.code).toBe(4);
    const unknown = await cli(['--url', server.url, 'test', 'no-such-model-anywhere', '--hardware', 'cpu']);
    expect(unknown.code).toBe(4);
    // A model.onnx that is not ONNX: the run completes and every load check fails.
    const broken = join(server.dataDir, 'broken');
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, 'model.onnx'), 'this is not an onnx graph');
    const r = await cli(['--url', server.url, 'test', broken, '--hardware', 'cpu']);
    expect(r.code).toBe(4);
  });

  it('exits 5 when no requested backend is available (bench and test alike)', async () => {
    const bench = await cli(['--url', server.url, 'bench', 'bert', '--hardware', 'cuda', '--seq-lens', '8']);
    expect(bench.stderr).toMatch(/BACKEND_UNAVAILABLE/);
    expect(bench.code).toBe(5);
    const test = await cli(['--url', server.url, 'test', 'bert', '--hardware', 'cuda']);
    expect(test.code).toBe(5);
  });

  it('colours only a terminal or FORCE_COLOR, never with NO_COLOR or --no-color', async () => {
    const plain = await cli(['--url', server.url, 'hardware']);
    // eslint-disable-next-line no-control-regex
    expect(plain.stdout).not.toMatch(/\x1b\[/);
    const forced = await cli(['--url', server.url, 'hardware'], { FORCE_COLOR: '1' });
    // eslint-disable-next-line no-control-regex
    expect(forced.stdout).toMatch(/\x1b\[32myes/);
    const noColor = await cli(['--url', server.url, 'hardware'], { FORCE_COLOR: '1', NO_COLOR: '1' });
    // eslint-disable-next-line no-control-regex
    expect(noColor.stdout).not.toMatch(/\x1b\[/);
    const flag = await cli(['--url', server.url, '--no-color', 'hardware'], { FORCE_COLOR: '1' });
    // eslint-disable-next-line no-control-regex
    expect(flag.stdout).not.toMatch(/\x1b\[/);
  });

  it('fits tables to the width (the terminal, or COLUMNS)', async () => {
    const wide = await cli(['--url', server.url, 'templates']);
    expect(Math.max(...wide.stdout.split('\n').map((l) => l.length))).toBeGreaterThan(80);
    const narrow = await cli(['--url', server.url, 'templates'], { COLUMNS: '80' });
    expect(narrow.code).toBe(0);
    const lines = narrow.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(wide.stdout.trimEnd().split('\n').length);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    expect(narrow.stdout).toMatch(/…/);
  });

  it('prints bash and zsh completion scripts; bash sources it and completes commands and values', async () => {
    const bash = await cli(['completion', 'bash']);
    expect(bash.code).toBe(0);
    const script = join(tmp, 'completion.bash');
    writeFileSync(script, bash.stdout);
    const probe = spawnSync(
      'bash',
      [
        '-c',
        `source ${script} && complete -p ipfs-accelerate && ` +
          'COMP_WORDS=(ipfs-accelerate te); COMP_CWORD=1; _ipfs_accelerate; echo "commands: ${COMPREPLY[*]}"; ' +
          'COMP_WORDS=(ipfs-accelerate test --type c); COMP_CWORD=3; _ipfs_accelerate; echo "type: ${COMPREPLY[*]}"; ' +
          'COMP_WORDS=(ipfs-accelerate bench --hardware ""); COMP_CWORD=3; _ipfs_accelerate; echo "hardware: ${COMPREPLY[*]}"',
      ],
      { encoding: 'utf8' },
    );
    expect(probe.stderr).toBe('');
    expect(probe.stdout).toMatch(/^complete -o default -F _ipfs_accelerate ipfs-accelerate$/m);
    expect(probe.stdout).toMatch(/^commands: templates test$/m);
    expect(probe.stdout).toMatch(/^type: comprehensive$/m);
    expect(probe.stdout).toMatch(/^hardware: cpu cuda webgpu$/m);
    const zsh = await cli(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef ipfs-accelerate$/m);
    expect(zsh.stdout).toMatch(/'--type\[test type\]:type:\(basic comprehensive fault_tolerance\)'/);
    expect((await cli(['completion', 'fish'])).code).toBe(2);
  });

  it('resolves a relative model path against its own working directory: what generate prints, test takes', async () => {
    // Run from a folder of its own: the path is relative to it, not to the server's DATA_DIR.
    const cwd = join(tmp, 'work');
    mkdirSync(cwd, { recursive: true });
    const model = relative(cwd, join(HF_TINY, 'bert'));
    expect(model.startsWith('../')).toBe(true);
    const dataDir = join(cwd, 'data');
    const env = { DATA_DIR: dataDir, HARDWARE: 'cpu', MODEL_ROOTS: '' };
    const gen = await cli(['--local', 'generate', model, '--force'], env, cwd);
    expect(gen.stderr).not.toMatch(/error:/);
    expect(gen.code).toBe(0);
    const implementation = /^ {2}implementation: (.+)$/m.exec(gen.stdout)?.[1];
    expect(implementation).toBeDefined();
    const folder = relative(cwd, join(implementation!, '..'));
    const r = await cli(['--local', 'test', `./${folder}`, '--hardware', 'cpu'], env, cwd);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^PASSED: /m);
    // A server of its own gets the same absolute path: inside its MODEL_ROOTS (the fixtures) it is
    // tested; outside them (this folder's data) it stays refused, a usage error.
    const inRoots = await cli(['--url', server.url, 'test', model, '--hardware', 'cpu'], {}, cwd);
    expect(inRoots.code).toBe(0);
    const outside = await cli(['--url', server.url, 'test', `./${folder}`, '--hardware', 'cpu'], {}, cwd);
    expect(outside.stderr).toMatch(/PATH_OUTSIDE_ROOTS/);
    expect(outside.code).toBe(2);
  });

  it('generate-text and bench --generate run a KV-cache model it generated; exit 4 for a model that does not generate', async () => {
    const cwd = join(tmp, 'gen-text');
    mkdirSync(cwd, { recursive: true });
    const env = { DATA_DIR: join(cwd, 'data'), HARDWARE: 'cpu', MODEL_ROOTS: '' };
    const gen = await cli(
      ['--local', 'generate', relative(cwd, join(HF_TINY, 'llama')), '--force'],
      env,
      cwd,
    );
    expect(gen.code).toBe(0);
    const folder = relative(cwd, join(/^ {2}implementation: (.+)$/m.exec(gen.stdout)![1]!, '..'));
    const r = await cli(
      ['--local', 'generate-text', `./${folder}`, '--ids', '5,17,3', '--max-new-tokens', '6'],
      env,
      cwd,
    );
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    // Greedy from these ids: the hf-tiny Llama stops at its EOS id 2 or after 6 tokens.
    const ids = /^\[cpu\] (\d+(?: \d+)*)$/m.exec(r.stdout)?.[1]?.split(' ');
    if (ids === undefined) throw new Error(`no [cpu] line in:\n${r.stdout}\n${r.stderr}`);
    expect(ids.length).toBeLessThanOrEqual(6);
    const reason = ids.length === 6 && ids[5] !== '2' ? 'length' : 'eos';
    expect(r.stderr).toContain(`cpu: ${ids.length} new tokens (${reason}) after 3 prompt tokens; TTFT `);
    expect(r.stderr).toMatch(/TTFT [\d.]+ ms, TPOT [\d.]+ ms, [\d.]+ tokens\/s/);
    // bench --generate: TTFT, TPOT and tokens/s of the same model.
    const bench = await cli(
      [
        '--local',
        'bench',
        `./${folder}`,
        '--generate',
        '4',
        '--batch-sizes',
        '1',
        '--seq-lens',
        '5',
        '--rounds',
        '2',
        '--min-iterations',
        '2',
        '--min-duration',
        '0',
      ],
      env,
      cwd,
    );
    expect(bench.stderr).not.toMatch(/error:/);
    expect(bench.code).toBe(0);
    expect(bench.stdout).toMatch(/generation \(each iteration one generate\(\) call\):/);
    expect(bench.stdout).toMatch(/^backend\s+batch\s+prompt\s+new\s+TTFT p50 ms\s+TPOT p50 ms/m);
    expect(bench.stdout).toMatch(/^cpu\s+1\s+5\s+4\s+[\d.]+\s+[\d.]+/m);
    const notLm = await cli(['--url', server.url, 'generate-text', 'bert', '--ids', '1,2']);
    expect(notLm.stdout).toMatch(/does not generate/);
    expect(notLm.code).toBe(4);
    expect((await cli(['--url', server.url, 'generate-text', 'bert'])).code).toBe(2);
  });

  it('Ctrl-C during bench cancels the run on the server, waits for it to end cancelled and exits 130', async () => {
    const child = spawn(
      process.execPath,
      [
        ...CLI,
        '--url',
        server.url,
        'bench',
        'bert',
        '--batch-sizes',
        '1',
        '--seq-lens',
        '8',
        '--min-duration',
        '60',
      ],
      { cwd: REPO_ROOT, env: { ...process.env, ...CLI_ENV }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const runId = await until(
      'bench running',
      () => /^bench running/m.test(stderr) && /benchmark (\S+) accepted/.exec(stderr)?.[1],
      60_000,
    );
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(new RegExp(`interrupted: cancelling benchmark ${runId} on the server`));
    expect(stderr).toMatch(new RegExp(`benchmark ${runId} cancelled`));
    const status = (await (await fetch(`${server.url}/api/benchmark/status/${runId}`)).json()) as {
      status: string;
    };
    expect(status.status).toBe('cancelled');
  });

  it('Ctrl-C on a terminal restores the cursor the progress bar hid', async () => {
    // `script` gives the CLI a pseudo-terminal; ^C typed into it reaches the CLI as SIGINT.
    const args = [
      '--url',
      server.url,
      'bench',
      'bert',
      '--batch-sizes',
      '1',
      '--seq-lens',
      '8',
      '--min-duration',
      '60',
    ];
    const command = [process.execPath, ...CLI, ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...CLI_ENV, TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await until('progress bar', () => out.includes('\x1b[?25l') && /ETA/.test(out), 60_000);
    child.stdin.write('\x03');
    const code = await exited;
    expect(out).toMatch(/interrupted: cancelling benchmark/);
    expect(out.lastIndexOf('\x1b[?25h')).toBeGreaterThan(out.lastIndexOf('\x1b[?25l'));
    expect(code).toBe(130);
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
