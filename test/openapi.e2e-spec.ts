/**
 * The OpenAPI document is the same however the server starts: in-process here (Jest transpiles file
 * by file) and as a ts-node process (how the README and the scale-out specs start it). Before the
 * plugin metadata was loaded with require(), ts-node's document had 59 properties instead of 198.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv, { type AnySchema } from 'ajv';
import addFormats from 'ajv-formats';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, postJson, startServer, TestServer, waitFor } from './app';
import { HF_TINY } from './fixtures';
import { ServerProcess, tsNodeServer } from './processes';

jest.setTimeout(180_000);

type Media = { schema?: { $ref?: string }; example?: unknown; examples?: Record<string, { value: unknown }> };
type Operation = {
  summary?: string;
  responses?: Record<string, { content?: Record<string, Media> }>;
  requestBody?: { content: Record<string, Media> };
};
type Doc = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
};

describe('OpenAPI document', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-openapi-'));
  let child: ServerProcess;
  let inProcess: TestServer;

  beforeAll(async () => {
    child = tsNodeServer('ts-node server', {
      LOG_LEVEL: 'error',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      MODEL_ROOTS: HF_TINY,
      HARDWARE: 'cpu,cuda,webgpu',
    }).start();
    inProcess = await startServer('embedded');
    await child.ready();
  });

  afterAll(async () => {
    await child?.stop('SIGTERM', 20_000);
    await inProcess?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is identical from a ts-node process and from the in-process server, with every DTO property', async () => {
    const fromChild = await json<Doc>(await fetch(`${child.url}/docs-json`));
    const fromJest = await json<Doc>(await fetch(`${inProcess.url}/docs-json`));
    const properties = (d: Doc) =>
      Object.values(d.components.schemas).reduce((n, s) => n + Object.keys(s.properties ?? {}).length, 0);
    // The derived schemas are there (not just the few properties with explicit decorators).
    expect(properties(fromChild)).toBeGreaterThan(150);
    expect(Object.keys(fromChild.components.schemas.RunBenchmarkRequestDto!.properties!)).toEqual(
      expect.arrayContaining(['model_name', 'models', 'rounds', 'threshold', 'run_noise_cv', 'precision']),
    );
    expect(fromChild.components).toEqual(fromJest.components);
    expect(fromChild.paths).toEqual(fromJest.paths);
  });

  it('has an example body on every POST that takes one, and the server accepts each as sent', async () => {
    const doc = await json<Doc>(await fetch(`${inProcess.url}/docs-json`));
    const withBody = Object.entries(doc.paths)
      .filter(([, ops]) => ops.post?.requestBody)
      .map(
        ([path, ops]) => [path, ops.post!.requestBody!.content['application/json']?.examples ?? {}] as const,
      );
    expect(withBody.map(([path]) => path).sort()).toEqual([
      '/api/benchmark/run',
      '/api/generator/batch',
      '/api/generator/model',
      '/api/test/run',
    ]);
    const cancel = async (kind: string, id: string) => {
      const res = await fetch(`${inProcess.url}/api/${kind}/cancel/${id}`, { method: 'POST' });
      expect(res.status).toBe(200);
    };
    for (const [path, examples] of withBody) {
      expect(Object.keys(examples).length).toBeGreaterThan(0);
      for (const [name, example] of Object.entries(examples)) {
        // What Swagger UI's "Try it out" sends: the example as it is.
        const res = await fetch(`${inProcess.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(example.value),
        });
        const body = (await res.json()) as {
          run_id?: string;
          task_id?: string;
          tasks?: Array<{ task_id: string }>;
        };
        expect({ path, name, status: res.status, body }).toMatchObject({ path, name, status: 202 });
        // Accepted work is cancelled: what matters here is that the example is a valid request.
        const kind = path.split('/')[2];
        for (const id of [body.run_id, body.task_id, ...(body.tasks ?? []).map((t) => t.task_id)]) {
          if (id) await cancel(kind, id);
        }
      }
    }
  });

  it('documents the error answers of every /api operation with the common error body, as the server sends it', async () => {
    const doc = await json<Doc>(await fetch(`${inProcess.url}/docs-json`));
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith('/api/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        const errors = Object.entries(op.responses ?? {}).filter(([status]) => Number(status) >= 400);
        const withBody = errors.filter(
          ([, r]) => r.content?.['application/json']?.schema?.$ref === '#/components/schemas/ErrorBodyDto',
        );
        if (withBody.length === 0 || withBody.length !== errors.length) missing.push(`${method} ${path}`);
      }
    }
    expect(missing).toEqual([]);
    const schema = doc.components.schemas.ErrorBodyDto as { required?: string[]; properties?: object };
    expect(schema.required?.sort()).toEqual(['code', 'error', 'message', 'statusCode']);
    // A real 404 has exactly the documented fields.
    const res = await fetch(`${inProcess.url}/api/test/status/00000000-0000-7000-8000-000000000000`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as Record<string, unknown>;
    for (const field of schema.required!) expect(body).toHaveProperty(field);
    for (const field of Object.keys(body)) expect(Object.keys(schema.properties!)).toContain(field);
    expect(doc.paths['/api/test/status/{run_id}']!.get!.responses).toHaveProperty('404');
  });

  describe('validated', () => {
    let doc: Doc & Record<string, unknown>;
    /** Ajv over the document's schemas: `validate(schema, value)` with #/components refs resolved. */
    let validate: (schema: object, value: unknown) => string[];

    beforeAll(async () => {
      doc = await json<Doc & Record<string, unknown>>(await fetch(`${inProcess.url}/docs-json`));
      // Examples may not carry fields their schema does not name: every object schema with
      // properties is closed here (the document itself leaves them open).
      const closed = JSON.parse(JSON.stringify(doc.components), (_key, value: unknown) => {
        const v = value as Record<string, unknown> | null;
        if (v && typeof v === 'object' && !Array.isArray(v) && v.properties && !('additionalProperties' in v))
          return { ...v, additionalProperties: false };
        return value;
      }) as object;
      const ajv = new Ajv({ strict: false, allErrors: true });
      addFormats(ajv);
      ajv.addSchema({ components: closed } as AnySchema, 'openapi');
      validate = (schema, value) => {
        const rebased = JSON.parse(
          JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'),
        );
        const check = ajv.compile(rebased as AnySchema);
        return check(value) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
      };
    });

    it('is a valid OpenAPI document (@seriousme/openapi-schema-validator), every $ref resolving', async () => {
      const result = await new Validator().validate(doc as Parameters<Validator['validate']>[0]);
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
      // Every reference anywhere (x-websocket included) names a schema that exists.
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
        (m) => m[1]!,
      );
      expect(refs.length).toBeGreaterThan(50);
      expect(refs.filter((name) => !doc.components.schemas[name])).toEqual([]);
    });

    it('gives every operation a summary, an example of each response and its error answers', () => {
      const problems: string[] = [];
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const at = `${method.toUpperCase()} ${path}`;
          if (!op.summary?.trim()) problems.push(`${at}: no summary`);
          const responses = Object.entries(op.responses ?? {});
          if (!responses.some(([status]) => /^2\d\d$/.test(status))) problems.push(`${at}: no 2xx response`);
          if (path.startsWith('/api/') && !responses.some(([status]) => Number(status) >= 400))
            problems.push(`${at}: no error response`);
          for (const [status, response] of responses) {
            const media = Object.values(response.content ?? {});
            if (media.length === 0) problems.push(`${at} ${status}: no content`);
            if (!media.some((m) => m.example !== undefined || Object.keys(m.examples ?? {}).length > 0))
              problems.push(`${at} ${status}: no example`);
          }
        }
      }
      expect(problems).toEqual([]);
    });

    it('checks every example, request and response, against its schema', () => {
      const failures: string[] = [];
      let checked = 0;
      const check = (where: string, schema: object | undefined, value: unknown) => {
        if (!schema) return failures.push(`${where}: example without a schema`);
        checked++;
        for (const error of validate(schema, value)) failures.push(`${where}:${error}`);
      };
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const at = `${method.toUpperCase()} ${path}`;
          for (const [type, m] of Object.entries(op.requestBody?.content ?? {}))
            for (const [name, ex] of Object.entries(m.examples ?? {}))
              check(`${at} body ${type} ${name}`, m.schema, ex.value);
          for (const [status, response] of Object.entries(op.responses ?? {})) {
            for (const [type, m] of Object.entries(response.content ?? {})) {
              if (m.example !== undefined) check(`${at} ${status} ${type}`, m.schema, m.example);
              for (const [name, ex] of Object.entries(m.examples ?? {}))
                check(`${at} ${status} ${type} ${name}`, m.schema, ex.value);
            }
          }
        }
      }
      // Examples given on single properties.
      for (const [name, schema] of Object.entries(doc.components.schemas)) {
        for (const [prop, p] of Object.entries(
          (schema.properties ?? {}) as Record<string, { example?: unknown }>,
        ))
          if (p.example !== undefined) check(`${name}.${prop}`, p, p.example);
      }
      expect(failures).toEqual([]);
      expect(checked).toBeGreaterThan(40);
    });

    it('describes health, workers and benchmark results with real schemas, and the WebSocket protocol', () => {
      const properties = (name: string) => Object.keys(doc.components.schemas[name]?.properties ?? {});
      expect(properties('HealthDto')).toEqual(
        expect.arrayContaining(['status', 'store', 'queue', 'queue_driver']),
      );
      expect(properties('WorkerListDto')).toEqual(['workers']);
      expect(properties('WorkerDto')).toEqual(expect.arrayContaining(['id', 'backends', 'last_heartbeat']));
      expect(properties('ConfigurationResultDto')).toEqual(
        expect.arrayContaining(['label', 'backend', 'stats', 'throughput_items_per_sec', 'rounds', 'status']),
      );
      expect(properties('SampleStatsDto')).toEqual(expect.arrayContaining(['p50', 'p99', 'median_ci95']));
      expect(doc.components.schemas.BenchmarkResultsDto!.properties!.configurations).toMatchObject({
        type: 'array',
        items: { $ref: '#/components/schemas/ConfigurationResultDto' },
      });
      const ws = (
        doc['x-websocket'] as Record<string, { serverMessages: Record<string, { schema: object }> }>
      )['/api/{component}/ws/{id}'];
      expect(Object.keys(ws!.serverMessages).sort()).toEqual(['cancelled', 'error', 'pong', 'status']);
      expect((doc.info as { description: string }).description).toMatch(/WebSocket.*ws\/\{id\}/);
      expect((doc.tags as Array<{ name: string }>).map((t) => t.name)).toContain('websocket');
    });

    it('matches what the server answers: real bodies validate against their documented schemas', async () => {
      const schemaOf = (path: string, status: string) =>
        doc.paths[path]!.get!.responses![status]!.content!['application/json']!.schema!;
      const failures: string[] = [];
      for (const path of [
        '/health',
        '/health/live',
        '/api/hardware',
        '/api/test/types',
        '/api/models',
        '/api/generator/templates',
        '/api/test/runs',
      ]) {
        const res = await fetch(`${inProcess.url}${path}`);
        expect({ path, status: res.status }).toEqual({ path, status: 200 });
        for (const error of validate(schemaOf(path, '200'), await res.json()))
          failures.push(`${path}:${error}`);
      }
      const missing = await fetch(`${inProcess.url}/api/test/status/00000000-0000-7000-8000-000000000000`);
      for (const error of validate(schemaOf('/api/test/status/{run_id}', '404'), await missing.json()))
        failures.push(`404:${error}`);
      const invalid = await fetch(`${inProcess.url}/api/test/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model_name: 'x', hardware: [] }),
      });
      expect(invalid.status).toBe(400);
      const errorSchema =
        doc.paths['/api/test/run']!.post!.responses!['400']!.content!['application/json']!.schema!;
      for (const error of validate(errorSchema, await invalid.json())) failures.push(`400:${error}`);
      expect(failures).toEqual([]);
    });

    it('matches what finished operations answer: test and benchmark results, runs, comparisons', async () => {
      const failures: string[] = [];
      const checkGet = async (path: string, documented: string) => {
        const res = await fetch(`${inProcess.url}${path}`);
        expect({ path, status: res.status }).toEqual({ path, status: 200 });
        const schema = doc.paths[documented]!.get!.responses!['200']!.content!['application/json']!.schema!;
        for (const error of validate(schema, await res.json())) failures.push(`${path}:${error}`);
      };
      const start = async (path: string, body: object) => {
        const res = await postJson(inProcess.url, path, body);
        const accepted = await json<{ run_id: string }>(res);
        expect({ path, status: res.status }).toEqual({ path, status: 202 });
        return accepted.run_id;
      };
      const bench = {
        model_name: 'bert',
        batch_sizes: [1],
        sequence_lengths: [8],
        min_iterations: 4,
        rounds: 2,
      };
      const testId = await start('/api/test/run', { model_name: 'bert', hardware: ['cpu'] });
      const baseline = await start('/api/benchmark/run', { ...bench, min_duration_s: 0.2 });
      await waitFor(`${inProcess.url}/api/benchmark/status/${baseline}`);
      const candidate = await start('/api/benchmark/run', {
        ...bench,
        min_duration_s: 0.2,
        baseline_run_id: baseline,
      });
      for (const [kind, id] of [
        ['test', testId],
        ['benchmark', baseline],
        ['benchmark', candidate],
      ] as const) {
        expect(await waitFor(`${inProcess.url}/api/${kind}/status/${id}`)).toMatchObject({
          status: 'completed',
        });
        await checkGet(`/api/${kind}/status/${id}`, `/api/${kind}/status/{run_id}`);
        await checkGet(`/api/${kind}/results/${id}`, `/api/${kind}/results/{run_id}`);
      }
      await checkGet('/api/test/runs', '/api/test/runs');
      await checkGet('/api/benchmark/runs', '/api/benchmark/runs');
      await checkGet('/api/benchmark/operations', '/api/benchmark/operations');
      await checkGet(
        `/api/benchmark/compare?baseline=${baseline}&candidate=${candidate}`,
        '/api/benchmark/compare',
      );
      expect(failures).toEqual([]);
    });
  });
});
