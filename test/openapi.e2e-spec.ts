/**
 * The OpenAPI document is the same however the server starts: in-process here (Jest transpiles file
 * by file) and as a ts-node process (how the README and the scale-out specs start it). Before the
 * plugin metadata was loaded with require(), ts-node's document had 59 properties instead of 198.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, startServer, TestServer } from './app';
import { HF_TINY } from './fixtures';
import { ServerProcess, tsNodeServer } from './processes';

jest.setTimeout(180_000);

type Operation = {
  responses?: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
  requestBody?: { content: Record<string, { examples?: Record<string, { value: unknown }> }> };
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
});
