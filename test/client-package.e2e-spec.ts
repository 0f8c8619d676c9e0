/**
 * The SDK as a package, used as an outside project would: `npm run build:client`, `npm pack`, and
 * the tarball installed offline into a fresh folder outside the repository (with `ws` and
 * `@types/node` packed from this repository's node_modules, so no registry is needed). There a
 * strict TypeScript project (`strict`, `noUncheckedIndexedAccess`, `module: nodenext`, the package's
 * own .d.ts checked too) holding the README's SDK sample as written and a script of the SDK's main
 * calls type-checks with the repository's tsc with zero errors, while a wrong call does not; and
 * the installed package runs against a real server as an ES module import. Its types are what
 * openapi-typescript makes of the server's document.
 */
import { execFile, spawnSync, SpawnSyncReturns } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { CLIENT_TYPES_FILE, renderClientTypes } from '../scripts/client-types';
import { startServer, TestServer } from './app';
import { REPO_ROOT } from './fixtures';

jest.setTimeout(300_000);

const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, ...env },
  });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0)
    throw new Error(`${what}: exit ${r.status}\n${`${r.stdout}\n${r.stderr}`.slice(-3000)}`);
  return r.stdout;
}

/** `npm pack <folder>` into `into`; the tarball's path. */
function pack(folder: string, into: string): string {
  const out = ok(
    run('npm', ['pack', folder, '--pack-destination', into, '--json', '--ignore-scripts'], REPO_ROOT),
    `npm pack ${folder}`,
  );
  const [info] = JSON.parse(out) as Array<{ filename: string }>;
  return join(into, info!.filename);
}

/** The README's TypeScript sample: the first ```ts block of its "SDK and CLI" section. */
function readmeSample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## SDK and CLI'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README: no ```ts block in the SDK section');
  return match[1]!;
}

/** A script of the SDK's main calls, with the narrowing a strict caller writes. */
const MAIN_CALLS = `import {
  ApiClient,
  ApiError,
  NotFoundError,
  type BenchmarkResults,
  type OperationStatus,
  type RunBenchmarkRequest,
} from '@ipfs-accelerate/client';

const client = new ApiClient({ baseUrl: 'http://127.0.0.1:8000', timeoutMs: 10_000, maxRetries: 1 });
const signal = AbortSignal.timeout(60_000);

const hardware = await client.getHardware({ signal });
const usable: string[] = hardware.backends.filter((b) => b.available).map((b) => b.name);
const first = hardware.backends[0];
console.log(usable, first?.reason ?? 'available');

const models = await client.getModels();
const templates = await client.getTemplates();
console.log(models.map((m) => \`\${m.id}: \${m.parameters}\`), templates[0]?.variables.length);

const generation = await client.generateModel({ model_name: 'prajjwal1/bert-tiny', hardware: ['cpu'] });
const batch = await client.generateBatch([{ model_name: 'prajjwal1/bert-tiny' }]);
const built = await client.monitorGeneration(generation.task_id, { websocket: true, signal });
const file: string | undefined = built.results?.file_path;
console.log(batch.tasks.length, file);

const run = await client.runTest({ model_name: 'prajjwal1/bert-tiny', test_type: 'basic' });
const onProgress = (s: OperationStatus): void => console.log(s.status, s.progress, s.eta_s ?? '?');
const tested = await client.monitorTestWs(run.run_id, { onProgress, signal });
if (tested.results) {
  const passed: number = tested.results.summary.tests_passed;
  const cpu = tested.results.performance_metrics['cpu'];
  console.log(passed, cpu?.latency_ms);
}
const junit: string = await client.getTestResults(run.run_id, { format: 'junit' });
console.log(junit.length, (await client.listTestRuns({ limit: 5 })).items.length);

const request: RunBenchmarkRequest = { models: ['prajjwal1/bert-tiny'], batch_sizes: [1, 8], rounds: 3 };
const bench = await client.runBenchmark(request);
const measured = await client.monitorBenchmark(bench.run_id, { intervalMs: 250 });
const results: BenchmarkResults | undefined = measured.results;
for (const c of results?.configurations ?? []) {
  const p50: number | undefined = c.stats?.p50;
  console.log(c.label, c.status, p50, c.throughput_items_per_sec, c.rounds.length);
}
const csv: string = await client.getBenchmarkResults(bench.run_id, { format: 'csv' });
const comparison = await client.compareBenchmarks({ baseline: bench.run_id, candidate: bench.run_id });
const verdict: 'improved' | 'regressed' | 'unchanged' | 'inconclusive' = comparison.verdict;
console.log(csv.length, verdict, comparison.configurations[0]?.ratio_ci?.[0]);
console.log((await client.listBenchmarkRuns({ model: 'prajjwal1/bert-tiny' })).items[0]?.p50_ms);

const health = await client.health();
console.log(health.status, health.queue ?? 'in-process');
try {
  await client.getTestStatus('00000000-0000-7000-8000-000000000000');
} catch (err) {
  if (err instanceof NotFoundError) console.log(err.status, err.code);
  else if (err instanceof ApiError) console.log(err.message);
  else throw err;
}
`;

/** A wrong call: model_name is required, and hardware names backends. */
const WRONG_CALLS = `import { ApiClient } from '@ipfs-accelerate/client';

const client = new ApiClient({ baseUrl: 'http://127.0.0.1:8000' });
await client.runTest({ test_type: 'basic' });
await client.runBenchmark({ model_name: 'bert', hardware: ['tpu'] });
`;

/** Run against a real server: the installed package imported as an ES module by plain Node. */
const RUNTIME = `import { ApiClient, NotFoundError } from '@ipfs-accelerate/client';

const client = new ApiClient({ baseUrl: process.argv[2], maxRetries: 0 });
const health = await client.health();
const types = await client.getTestTypes();
let missing = 'no error';
try {
  await client.getTestStatus('00000000-0000-7000-8000-000000000000');
} catch (err) {
  missing = err instanceof NotFoundError ? \`NotFoundError \${err.status} \${err.code}\` : String(err);
}
console.log(JSON.stringify({ health: health.status, types: types.map((t) => t.name), missing }));
`;

describe('the SDK package (@ipfs-accelerate/client)', () => {
  const work = mkdtempSync(join(tmpdir(), 'ipfs-accel-sdk-'));
  const consumer = join(work, 'consumer');
  let tarball: string;
  let server: TestServer | undefined;

  beforeAll(() => {
    expect(relative(REPO_ROOT, work).startsWith('..')).toBe(true);
    ok(run('npm', ['run', 'build:client'], REPO_ROOT), 'npm run build:client');
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    tarball = pack('./libs/client', tarballs);
    // Its runtime dependency and the types a Node TypeScript project has, from this repository.
    const typesNode = join(REPO_ROOT, 'node_modules', '@types', 'node');
    const typesNodeDeps = Object.keys(
      (JSON.parse(readFileSync(join(typesNode, 'package.json'), 'utf8')) as { dependencies?: object })
        .dependencies ?? {},
    );
    const deps = ['ws', '@types/node', ...typesNodeDeps].map((name) =>
      pack(join(REPO_ROOT, 'node_modules', name), tarballs),
    );
    mkdirSync(consumer);
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2),
    );
    ok(
      run(
        'npm',
        ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, ...deps],
        consumer,
        // An empty cache of its own: everything comes from the tarballs, nothing from a registry.
        { npm_config_update_notifier: 'false', npm_config_cache: join(work, 'npm-cache') },
      ),
      'npm install --offline <tarballs>',
    );
  });

  afterAll(async () => {
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('is packed with its package.json, built .js and .d.ts, and nothing of the server', () => {
    const installed = join(consumer, 'node_modules', '@ipfs-accelerate', 'client');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      exports: Record<string, { types?: string; default?: string }>;
      dependencies: Record<string, string>;
    };
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(Object.keys(manifest.dependencies)).toEqual(['ws']);
    const files = readdirSync(join(installed, 'dist')).sort();
    expect(files).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'errors.d.ts', 'types.d.ts']));
    expect(readdirSync(installed).sort()).toEqual(['dist', 'package.json']);
    // Every import of the built files is a sibling or `ws`.
    const specifiers = files.flatMap((f) =>
      [
        ...readFileSync(join(installed, 'dist', f), 'utf8').matchAll(
          /(?:require\(|from |import\()\s*["']([^"']+)["']/g,
        ),
      ].map((m) => m[1]!),
    );
    expect(specifiers.length).toBeGreaterThan(5);
    expect(specifiers.filter((s) => !/^\.\/[\w-]+(\.js)?$/.test(s) && s !== 'ws')).toEqual([]);
  });

  it('type-checks the README sample and a script of its main calls outside the repository, strict, with zero errors', () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            strict: true,
            noUncheckedIndexedAccess: true,
            module: 'nodenext',
            moduleResolution: 'nodenext',
            target: 'es2022',
            types: ['node'],
            noEmit: true,
            skipLibCheck: false,
          },
          include: ['*.ts'],
        },
        null,
        2,
      ),
    );
    writeFileSync(join(consumer, 'readme-sample.ts'), readmeSample());
    writeFileSync(join(consumer, 'main-calls.ts'), MAIN_CALLS);
    const r = run(process.execPath, [TSC, '-p', 'tsconfig.json'], consumer);
    expect({ status: r.status, errors: r.stdout + r.stderr }).toEqual({ status: 0, errors: '' });
    // The checks are real: a wrong call is an error at the place it is made.
    writeFileSync(join(consumer, 'wrong-calls.ts'), WRONG_CALLS);
    const wrong = run(process.execPath, [TSC, '-p', 'tsconfig.json'], consumer);
    rmSync(join(consumer, 'wrong-calls.ts'));
    expect(wrong.status).not.toBe(0);
    // The first line may elide the type; the missing property is named in the diagnostic either way.
    expect(wrong.stdout).toMatch(/wrong-calls\.ts\(4,\d+\): error TS\d+: [^]*?model_name/);
    expect(wrong.stdout).toMatch(/wrong-calls\.ts\(5,\d+\): error TS\d+: .*"tpu"/);
    expect(wrong.stdout).not.toMatch(/(readme-sample|main-calls)\.ts/);
  });

  it('runs from the installed tarball against a real server (an ES module importing it)', async () => {
    server = await startServer('embedded');
    writeFileSync(join(consumer, 'runtime.mjs'), RUNTIME);
    // Not spawnSync: the server runs in this process and must answer meanwhile.
    const { stdout: out } = await promisify(execFile)(process.execPath, ['runtime.mjs', server.url], {
      cwd: consumer,
      timeout: 60_000,
    });
    expect(JSON.parse(out)).toEqual({
      health: 'ok',
      types: expect.arrayContaining(['basic', 'comprehensive']),
      missing: 'NotFoundError 404 NOT_FOUND',
    });
  });

  it("has the types openapi-typescript makes of the server's document (npm run client:types)", async () => {
    server ??= await startServer('embedded');
    const doc = (await (await fetch(`${server.url}/docs-json`)).json()) as object;
    expect(existsSync(CLIENT_TYPES_FILE)).toBe(true);
    // Compared as text: a DTO change without `npm run client:types` fails here.
    expect(await renderClientTypes(doc)).toBe(readFileSync(CLIENT_TYPES_FILE, 'utf8'));
  });
});
