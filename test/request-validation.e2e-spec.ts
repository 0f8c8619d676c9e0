/**
 * Validation before storage: `null` and a wrong type for every field of every POST body, values the
 * cores would refuse, timeouts above the server maximum and backends the server lacks are refused
 * before anything is stored. The field table is generated from the DTOs' validation metadata, and
 * checked against the OpenAPI document so that no documented field is left out.
 */
import 'reflect-metadata';
import { getMetadataStorage } from 'class-validator';
import { DEFAULT_SETTINGS } from '../libs/core/src/benchmark/runner';
import { JobName } from '../src/common/jobs/job.types';
import { OperationsService } from '../src/common/operations/operations.service';
import { OperationsRepository } from '../src/common/store/operations.repository';
import { RunBenchmarkRequestDto, WarmupDto } from '../src/modules/benchmark/benchmark.dto';
import { BatchGenerateRequestDto, GenerateModelRequestDto } from '../src/modules/generator/generator.dto';
import { RunTestRequestDto } from '../src/modules/test/test.dto';
import { DRIVERS, json, postJson, startServer, TestServer, waitFor } from './app';

jest.setTimeout(300_000);

type Body = Record<string, unknown>;
type Ctor = new () => object;

/** The fields class-validator knows of a DTO (every decorated property). */
function fieldsOf(dto: Ctor): string[] {
  const metas = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
  return [...new Set(metas.map((m) => m.propertyName))].sort();
}

/** A JSON value of a type the field does not take, from its declared TypeScript type. */
function wrongTypeFor(dto: Ctor, field: string): unknown {
  const type = Reflect.getMetadata('design:type', dto.prototype, field) as unknown;
  if (type === String) return 42;
  if (type === Number) return '1';
  if (type === Boolean) return 'true';
  if (type === Array) return 'cpu';
  return 'not-an-object'; // Object (a map) or a nested DTO class
}

interface Route {
  path: string;
  dto: Ctor;
  schema: string;
  /** A body the server accepts (202). */
  valid: Body;
  /** Nested DTOs: where they sit in the body, and a valid value of them. */
  nested?: Array<{ at: (body: Body, inner: Body) => Body; dto: Ctor; schema: string; valid: Body }>;
}

const GENERATE: Body = { model_name: 'bert', output_dir: 'validation-control' };
/** bert of hf-tiny has 64 positions: the default sequence length (128) does not fit it. */
const BENCH: Body = { model_name: 'bert', sequence_lengths: [8] };
const ROUTES: Route[] = [
  {
    path: '/api/test/run',
    dto: RunTestRequestDto,
    schema: 'RunTestRequestDto',
    valid: { model_name: 'bert', hardware: ['cpu'], save_results: false },
  },
  {
    path: '/api/generator/model',
    dto: GenerateModelRequestDto,
    schema: 'GenerateModelRequestDto',
    valid: GENERATE,
  },
  {
    path: '/api/generator/batch',
    dto: BatchGenerateRequestDto,
    schema: 'BatchGenerateRequestDto',
    valid: { models: [{ ...GENERATE, output_dir: 'validation-batch' }] },
    nested: [
      {
        at: (body, inner) => ({ ...body, models: [inner] }),
        dto: GenerateModelRequestDto,
        schema: 'BatchGenerateItemDto',
        valid: { ...GENERATE, output_dir: 'validation-batch' },
      },
    ],
  },
  {
    path: '/api/benchmark/run',
    dto: RunBenchmarkRequestDto,
    schema: 'RunBenchmarkRequestDto',
    valid: {
      model_name: 'bert',
      batch_sizes: [1],
      sequence_lengths: [8],
      min_iterations: 2,
      min_duration_s: 0,
      warmup: { min_iterations: 1, max_iterations: 2, steady_cv: 0.5 },
    },
    nested: [
      {
        at: (body, inner) => ({ ...body, warmup: inner }),
        dto: WarmupDto,
        schema: 'WarmupDto',
        valid: { min_iterations: 1, max_iterations: 2, steady_cv: 0.5 },
      },
    ],
  },
];

/** Every (route, description, body) that must be a 400 naming `field`. */
function badBodies(): Array<[string, string, string, Body]> {
  const out: Array<[string, string, string, Body]> = [];
  for (const route of ROUTES) {
    for (const field of fieldsOf(route.dto)) {
      out.push([route.path, `${field}: null`, field, { ...route.valid, [field]: null }]);
      out.push([
        route.path,
        `${field}: ${JSON.stringify(wrongTypeFor(route.dto, field))}`,
        field,
        { ...route.valid, [field]: wrongTypeFor(route.dto, field) },
      ]);
    }
    for (const n of route.nested ?? []) {
      for (const field of fieldsOf(n.dto)) {
        const wrong = wrongTypeFor(n.dto, field);
        out.push([
          route.path,
          `${n.schema}.${field}: null`,
          field,
          n.at(route.valid, { ...n.valid, [field]: null }),
        ]);
        out.push([
          route.path,
          `${n.schema}.${field}: ${JSON.stringify(wrong)}`,
          field,
          n.at(route.valid, { ...n.valid, [field]: wrong }),
        ]);
      }
      for (const item of [null, 'x', 7, []]) {
        out.push([
          route.path,
          `${n.schema} as ${JSON.stringify(item)}`,
          '',
          n.at(route.valid, item as never),
        ]);
      }
    }
  }
  return out;
}

describe.each(DRIVERS)('request validation before storage (%s driver)', (driver) => {
  let server: TestServer;
  const post = (path: string, body: unknown) => postJson(server.url, path, body);
  /** Every operation in the store, of every kind. */
  const stored = async (): Promise<number> => {
    const repo = server.app.get(OperationsRepository);
    let n = 0;
    for (const kind of ['test', 'generator', 'benchmark'] as const) {
      n += (await repo.list({ kind, limit: 10_000 })).items.length;
    }
    return n;
  };
  const expectRefused = async (res: Response, status: number, message: RegExp): Promise<Body> => {
    const body = await json(res);
    expect({ status: res.status, body }).toMatchObject({
      status,
      body: { statusCode: status, error: expect.any(String), code: expect.any(String), message },
    });
    return body;
  };

  beforeAll(async () => {
    server = await startServer(driver, { MAX_OPERATION_S: '7200' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('has a table entry for every field the OpenAPI document lists', async () => {
    const doc = await json<{ components: { schemas: Record<string, { properties?: Body }> } }>(
      await fetch(`${server.url}/docs-json`),
    );
    for (const route of ROUTES) {
      for (const { schema, dto } of [route, ...(route.nested ?? [])]) {
        const documented = Object.keys(doc.components.schemas[schema]?.properties ?? {}).sort();
        expect({ schema, fields: fieldsOf(dto) }).toEqual({ schema, fields: documented });
      }
    }
  });

  it.each(badBodies())(
    'POST %s with %s is a 400 naming the field; nothing is stored',
    async (path, _what, field, body) => {
      const before = await stored();
      const err = await expectRefused(await post(path, body), 400, new RegExp(field));
      expect(err.code).toBe('VALIDATION');
      expect(await stored()).toBe(before);
    },
  );

  it.each([
    ['/api/test/run', { model_name: 'bert', timeout: 7201 }],
    ['/api/generator/model', { ...GENERATE, timeout: 7201 }],
    ['/api/generator/batch', { models: [GENERATE, { ...GENERATE, output_dir: 'other', timeout: 7201 }] }],
    ['/api/benchmark/run', { ...BENCH, timeout: 7201 }],
  ])('POST %s with a timeout above MAX_OPERATION_S is a 400; nothing is stored', async (path, body) => {
    const before = await stored();
    await expectRefused(await post(path, body), 400, /timeout.*7200.*MAX_OPERATION_S/);
    expect(await stored()).toBe(before);
  });

  it.each([
    [
      'min_iterations above the measurement cap',
      { min_iterations: DEFAULT_SETTINGS.max_iterations + 1 },
      /min_iterations/,
    ],
    ['warmup.min_iterations above the default warm-up cap', { warmup: { min_iterations: 500 } }, /warmup/],
    [
      'warmup.min_iterations above warmup.max_iterations',
      { warmup: { min_iterations: 50, max_iterations: 10 } },
      /warmup/,
    ],
    ['max_duration_s below min_duration_s', { min_duration_s: 5, max_duration_s: 1 }, /max_duration_s/],
  ])('a benchmark with %s is a 400 before storage', async (_what, extra, message) => {
    const before = await stored();
    await expectRefused(await post('/api/benchmark/run', { ...BENCH, ...extra }), 400, message);
    expect(await stored()).toBe(before);
  });

  it('accepts a value at the core cap: the edge is not stricter than the core', async () => {
    const before = await stored();
    const res = await post('/api/benchmark/run', {
      ...ROUTES[3]!.valid,
      min_iterations: DEFAULT_SETTINGS.max_iterations,
      max_duration_s: 0.01,
    });
    const { run_id } = await json<{ run_id: string }>(res);
    expect(res.status).toBe(202);
    expect(await stored()).toBe(before + 1);
    await fetch(`${server.url}/api/benchmark/cancel/${run_id}`, { method: 'POST' });
  });

  it.each([
    ['/api/test/run', { model_name: 'bert', hardware: ['cuda'] }, /cuda/],
    ['/api/benchmark/run', { ...BENCH, hardware: ['cuda'] }, /cuda/],
    ['/api/benchmark/run', { ...BENCH, hardware: ['cpu', 'cuda'] }, /cuda/],
  ])(
    'POST %s with %j (a backend this server lacks) is a 422; nothing is stored',
    async (path, body, message) => {
      const before = await stored();
      const err = await expectRefused(await post(path, body), 422, message);
      expect(err.code).toBe('BACKEND_UNAVAILABLE');
      expect(err.details).toMatchObject({
        backends: [{ name: 'cuda', available: false, reason: expect.any(String) }],
      });
      expect(await stored()).toBe(before);
    },
  );

  it('stores each valid body once (the counts above can see a stored operation)', async () => {
    for (const route of ROUTES) {
      const before = await stored();
      const res = await post(route.path, route.valid);
      const accepted = await json(res);
      expect({ path: route.path, status: res.status }).toEqual({ path: route.path, status: 202 });
      expect(await stored()).toBe(before + 1);
      // Not needed to finish: cancel what would take a while.
      const id = (accepted.run_id ??
        accepted.task_id ??
        (accepted.tasks as Body[] | undefined)?.[0]?.task_id) as string;
      const kind = route.path.split('/')[2];
      await fetch(`${server.url}/api/${kind}/cancel/${id}`, { method: 'POST' });
    }
  });

  it('gives every operation a deadline: the timeout asked for, else the suite default, capped by MAX_OPERATION_S', async () => {
    const repo = server.app.get(OperationsRepository);
    const run = async (body: Body): Promise<{ timeout: unknown; deadlineS: number }> => {
      const { run_id } = await json<{ run_id: string }>(await post('/api/test/run', body));
      await waitFor(`${server.url}/api/test/status/${run_id}`);
      const op = (await repo.get(run_id, true))!;
      return {
        timeout: op.request.timeout,
        deadlineS: (Date.parse(op.deadline_at!) - Date.parse(op.started_at!)) / 1000,
      };
    };
    expect(await run({ model_name: 'bert', save_results: false })).toEqual({ timeout: 300, deadlineS: 300 });
    expect(await run({ model_name: 'bert', save_results: false, timeout: 7200 })).toEqual({
      timeout: 7200,
      deadlineS: 7200,
    });
  });
});

describe('deadline of a stored request without one (older rows)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer('embedded', { MAX_OPERATION_S: '1' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('a suite default above MAX_OPERATION_S is capped to it', async () => {
    const { run_id } = await json<{ run_id: string }>(
      await postJson(server.url, '/api/test/run', { model_name: 'bert', save_results: false }),
    );
    const op = await server.app.get(OperationsRepository).get(run_id, true);
    expect(op!.request.timeout).toBe(1);
    await waitFor(`${server.url}/api/test/status/${run_id}`);
  });

  it('the executor applies MAX_OPERATION_S to an operation stored without a timeout', async () => {
    // Stored as a server before this change stored it: no `timeout` in the request. A benchmark
    // that would measure for 60 s is stopped by the server maximum of 1 s.
    const op = await server.app.get(OperationsService).start(JobName.BenchmarkRun, 'bert', {
      models: ['bert'],
      hardware: ['cpu'],
      batch_sizes: [1],
      sequence_lengths: [8],
      precision: 'fp32',
      min_iterations: 1,
      min_duration_s: 60,
      seed: 0,
      tags: [],
      include_preprocessing: false,
    });
    const status = await waitFor(`${server.url}/api/benchmark/status/${op.id}`);
    expect(status).toMatchObject({ status: 'timeout', error: { code: 'TIMEOUT' } });
    const stored = (await server.app.get(OperationsRepository).get(op.id, true))!;
    expect((Date.parse(stored.deadline_at!) - Date.parse(stored.started_at!)) / 1000).toBe(1);
  });
});
