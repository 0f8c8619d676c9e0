/**
 * Writes stay inside DATA_DIR on their real paths, folders we did not create are never replaced,
 * regenerations swap in only when complete, leftovers are swept at start-up, and benchmarks share
 * one cached on-demand model whatever their seed.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { tempSibling } from '../libs/core/src/models/write-paths';
import { DRIVERS, TestServer, json, postJson, startServer, waitFor } from './app';
import { HF_TINY } from './fixtures';

jest.setTimeout(300_000);

/** Everything under `dir`, as relative paths (symlinks not followed). */
function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(rel);
    if (e.isDirectory()) out.push(...listTree(join(dir, e.name), rel));
  }
  return out.sort();
}

function tempLeftovers(dir: string): string[] {
  return existsSync(dir) ? listTree(dir).filter((p) => /\.ipfsacc-tmp-|\.tmp-/.test(p)) : [];
}

describe.each(DRIVERS)('confined writes and leftovers (%s driver)', (driver) => {
  let server: TestServer;
  let outside: string;
  const post = (path: string, body: unknown) => postJson(server.url, path, body);
  const models = () => join(server.dataDir, 'models');
  const generate = async (body: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const res = await post('/api/generator/model', body);
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    return waitFor(`${server.url}/api/generator/status/${task_id}`);
  };

  beforeAll(async () => {
    server = await startServer(driver);
    outside = mkdtempSync(join(tmpdir(), 'outside-data-dir-'));
  });
  afterAll(async () => {
    await server.close();
    rmSync(outside, { recursive: true, force: true });
  });

  it('a symlink inside DATA_DIR/models that leads outside: refused with 422, nothing outside touched', async () => {
    writeFileSync(join(outside, 'victim'), 'precious');
    mkdirSync(models(), { recursive: true });
    symlinkSync(outside, join(models(), 'escape'));
    for (const output_dir of ['escape/victim', 'escape', 'escape/new/deeper']) {
      for (const force of [false, true]) {
        const res = await post('/api/generator/model', { model_name: 'bert', output_dir, force });
        expect(res.status).toBe(422);
        const body = await json(res);
        expect(body).toMatchObject({ statusCode: 422, code: 'PATH_OUTSIDE_ROOTS' });
        expect(String(body.message)).toMatch(/outside/);
      }
    }
    const batch = await post('/api/generator/batch', {
      models: [
        { model_name: 'bert', output_dir: 'fine' },
        { model_name: 'bert', output_dir: 'escape/x' },
      ],
    });
    expect(batch.status).toBe(422);
    expect(listTree(outside)).toEqual(['victim']);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('precious');
    expect(existsSync(join(models(), 'fine'))).toBe(false);
  });

  it('checked again when the job runs: a symlink planted after acceptance is refused', async () => {
    // The generator queue runs one job at a time: the second waits behind the first.
    const first = await post('/api/generator/model', {
      model_name: 'google/electra-small-discriminator',
      output_dir: `busy-${driver}`,
      hardware: ['cpu'],
    });
    expect(first.status).toBe(202);
    const second = await post('/api/generator/model', {
      model_name: 'bert',
      output_dir: `later-${driver}/out`,
    });
    expect(second.status).toBe(202);
    const secondId = (await json<{ task_id: string }>(second)).task_id;
    const secondStatus = await json(await fetch(`${server.url}/api/generator/status/${secondId}`));
    expect(secondStatus.status).toBe('queued');
    symlinkSync(outside, join(models(), `later-${driver}`));
    const status = await waitFor(`${server.url}/api/generator/status/${secondId}`);
    expect(status).toMatchObject({ status: 'failed', error: { code: 'PATH_OUTSIDE_ROOTS' } });
    expect(listTree(outside).filter((p) => p.startsWith('out'))).toEqual([]);
    await waitFor(`${server.url}/api/generator/status/${(await json<{ task_id: string }>(first)).task_id}`);
  });

  it("an operator's folder (model.onnx, no manifest) is refused with and without force, and left intact", async () => {
    const operator = join(models(), `operator-${driver}`);
    mkdirSync(operator, { recursive: true });
    copyFileSync(join(HF_TINY, 'bert', 'torch_export.onnx'), join(operator, 'model.onnx'));
    const before = readFileSync(join(operator, 'model.onnx'));
    for (const force of [false, true]) {
      const res = await post('/api/generator/model', {
        model_name: 'bert',
        output_dir: `operator-${driver}`,
        force,
      });
      expect(res.status).toBe(409);
      const body = await json(res);
      expect(body).toMatchObject({ statusCode: 409, code: 'CONFLICT' });
      expect(String(body.message)).toMatch(/not generated here|never overwritten/);
    }
    expect(readdirSync(operator)).toEqual(['model.onnx']);
    expect(readFileSync(join(operator, 'model.onnx')).equals(before)).toBe(true);
  });

  it('the on-demand cache folder is reserved, with or without force', async () => {
    const run = await post('/api/test/run', {
      model_name: 'google/electra-small-discriminator',
      hardware: ['cpu'],
    });
    expect(run.status).toBe(202);
    await waitFor(`${server.url}/api/test/status/${(await json<{ run_id: string }>(run)).run_id}`);
    const cache = join(models(), '.cache');
    const before = listTree(cache);
    expect(before.length).toBeGreaterThan(0);
    for (const output_dir of ['.cache', '.cache/electra']) {
      for (const force of [false, true]) {
        const res = await post('/api/generator/model', { model_name: 'bert', output_dir, force });
        expect(res.status).toBe(422);
        expect(String((await json(res)).message)).toMatch(/reserved/);
      }
    }
    expect(listTree(cache)).toEqual(before);
  });

  it('force replaces a model we generated; a cancelled forced regeneration keeps the previous one', async () => {
    const out = `ours-${driver}`;
    expect(await generate({ model_name: 'bert', output_dir: out, hardware: ['cpu'] })).toMatchObject({
      status: 'completed',
    });
    const manifestPath = join(models(), out, 'manifest.json');
    const first = readFileSync(manifestPath, 'utf8');
    expect(
      await generate({ model_name: 'bert', output_dir: out, hardware: ['cpu'], force: true }),
    ).toMatchObject({
      status: 'completed',
    });
    const second = readFileSync(manifestPath, 'utf8');
    expect(second).not.toBe(first); // a new model (its created_at at least)

    // Regenerate from a bigger model with force, and cancel it while it runs.
    const res = await post('/api/generator/model', {
      model_name: 'google/electra-small-discriminator',
      output_dir: out,
      hardware: ['cpu'],
      force: true,
    });
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    for (;;) {
      const s = await json(await fetch(`${server.url}/api/generator/status/${task_id}`));
      if (s.status !== 'queued') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await post(`/api/generator/cancel/${task_id}`, {});
    const status = await waitFor(`${server.url}/api/generator/status/${task_id}`);
    expect(status.status).toBe('cancelled');
    expect(readFileSync(manifestPath, 'utf8')).toBe(second);
    expect(JSON.parse(second)).toMatchObject({
      family: 'encoder',
      model_id: expect.not.stringMatching(/electra/) as unknown,
    });
    // And nothing half-made is left beside it.
    expect(tempLeftovers(models())).toEqual([]);
  });

  it('benchmarks of a registry id share one cached model whatever their seed', async () => {
    for (const seed of [3, 4]) {
      const res = await post('/api/benchmark/run', {
        model_name: 'google/electra-small-discriminator',
        hardware: ['cpu'],
        batch_sizes: [1],
        sequence_lengths: [8],
        min_iterations: 1,
        min_duration_s: 0,
        warmup: { min_iterations: 0, max_iterations: 1 },
        seed,
      });
      expect(res.status).toBe(202);
      const status = await waitFor(
        `${server.url}/api/benchmark/status/${(await json<{ run_id: string }>(res)).run_id}`,
      );
      expect(status.status).toBe('completed');
    }
    const entries = readdirSync(join(models(), '.cache')).filter((d) =>
      d.startsWith('google--electra-small-discriminator-'),
    );
    expect(entries).toHaveLength(1);
  });
});

describe('start-up sweep of DATA_DIR', () => {
  it('removes what a crashed process left, keeps what a live process is writing', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'janitor-e2e-'));
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
        .stdout,
    );
    const withPid = (p: string, pid: number): string =>
      join(dirname(p), basename(p).replace(`-${process.pid}-`, `-${pid}-`));
    const make = (p: string): string => {
      mkdirSync(p, { recursive: true });
      writeFileSync(join(p, 'model.onnx.data'), Buffer.alloc(1024));
      return p;
    };
    let server: TestServer | undefined;
    try {
      const stale = [
        make(withPid(tempSibling(join(dataDir, 'models', 'bert')), dead)),
        make(withPid(tempSibling(join(dataDir, 'models', '.cache', 'gpt2-0123456789abcdef')), dead)),
        make(withPid(tempSibling(join(dataDir, 'tmp', 'some-run')), dead)),
      ];
      const live = [
        make(withPid(tempSibling(join(dataDir, 'models', 'llama')), sleeper.pid!)),
        make(withPid(tempSibling(join(dataDir, 'tmp', 'other-run')), sleeper.pid!)),
      ];
      server = await startServer('embedded', { DATA_DIR: dataDir });
      for (const p of stale) expect(existsSync(p)).toBe(false);
      for (const p of live) expect(existsSync(join(p, 'model.onnx.data'))).toBe(true);
    } finally {
      sleeper.kill();
      await server?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
