/** Bad input gets a clear 4xx with the error body and changes nothing; the server stays healthy. */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { json, startServer, TestServer } from './app';
import { HF_TINY } from './fixtures';

jest.setTimeout(120_000);

const GARBAGE_IDS = [
  'nope',
  '00000000-0000-0000-0000-000000000000',
  '..%2F..%2Fetc%2Fpasswd',
  "1'%20OR%20'1'='1",
  'x'.repeat(300),
  '%00',
];

/** Sends bytes over a raw TCP connection (what fetch cannot send) and parses the one HTTP answer. */
function rawRequest(
  url: string,
  data: string,
): Promise<{ status: number; headers: string; body: Record<string, unknown> | string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(data));
    let received = Buffer.alloc(0);
    const answer = () => {
      const text = received.toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      const rest = split < 0 ? '' : text.slice(split + 4);
      if (!length || Buffer.byteLength(rest) < Number(length[1])) return undefined;
      const raw = rest.slice(0, Number(length[1]));
      let body: Record<string, unknown> | string = raw;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // not JSON: the assertion on the body shows what came
      }
      return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body };
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const done = answer();
      if (done) {
        socket.destroy();
        resolve(done);
      }
    });
    socket.on('error', (err) => reject(err));
    socket.on('close', () => {
      const done = answer();
      if (done) resolve(done);
      else
        reject(
          new Error(`connection closed without a complete answer: ${JSON.stringify(received.toString())}`),
        );
    });
  });
}

/** A JSON value nested `depth` levels deep (iteratively built: the test must not overflow either). */
function nested(depth: number): string {
  return '['.repeat(depth - 1) + '{}' + ']'.repeat(depth - 1);
}

function expectErrorBody(body: Record<string, unknown>, status: number): void {
  expect(body).toMatchObject({
    statusCode: status,
    error: expect.any(String),
    code: expect.any(String),
    message: expect.any(String),
  });
}

describe('API safety', () => {
  let server: TestServer;
  const send = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body,
    });
  const runCount = async () =>
    (await json<{ items: unknown[] }>(await send('GET', '/api/test/runs?limit=500'))).items.length;

  beforeAll(async () => {
    server = await startServer('embedded');
    // Escapes: a symlink inside a root that points outside, and a file outside every root.
    const outside = join(server.dataDir, '..', `outside-${process.pid}`);
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'model.onnx'), 'not a model');
    symlinkSync(outside, join(server.dataDir, 'escape'));
  });
  afterAll(async () => {
    await server.close();
  });

  const badRequests: Array<[string, string | undefined, number, RegExp]> = [
    ['malformed JSON', '{"model_name": "bert",', 400, /malformed|JSON/i],
    ['a JSON array', '[1,2]', 400, /./],
    [
      'wrong types',
      JSON.stringify({ model_name: 42, hardware: 'cpu', timeout: 'soon' }),
      400,
      /model_name|hardware|timeout/,
    ],
    ['unknown fields', JSON.stringify({ model_name: 'bert', surprise: true }), 400, /surprise/],
    ['an unknown backend', JSON.stringify({ model_name: 'bert', hardware: ['tpu'] }), 400, /hardware/],
    ['an unknown test type', JSON.stringify({ model_name: 'bert', test_type: 'quick' }), 400, /test_type/],
    ['a non-positive timeout', JSON.stringify({ model_name: 'bert', timeout: 0 }), 400, /timeout/],
    ['an empty model name', JSON.stringify({ model_name: '' }), 400, /model_name/],
    ['no body at all', undefined, 400, /./],
    ['a 2 MiB body', JSON.stringify({ model_name: 'x'.repeat(2 * 1024 * 1024) }), 413, /larger|too large/i],
    ['a ../ escape', JSON.stringify({ model_name: '../../../etc/passwd' }), 422, /outside|allowed/i],
    ['an absolute path elsewhere', JSON.stringify({ model_name: '/etc/passwd' }), 422, /outside|allowed/i],
    ['a symlink escape', JSON.stringify({ model_name: 'escape' }), 422, /outside|allowed/i],
    [
      'a missing model',
      JSON.stringify({ model_name: 'no-such-model' }),
      422,
      /not found|no such|does not exist/i,
    ],
  ];

  it.each(badRequests)(
    'POST /api/test/run with %s: a 4xx, and nothing changes',
    async (_what, body, status, message) => {
      const before = await runCount();
      const res = await send(
        'POST',
        '/api/test/run',
        body,
        body === undefined ? { 'content-type': 'application/json' } : {},
      );
      expect(res.status).toBe(status);
      const err = await json(res);
      expectErrorBody(err, status);
      expect(String(err.message)).toMatch(message);
      expect(await runCount()).toBe(before);
    },
  );

  const POST_ROUTES = ['/api/test/run', '/api/generator/model', '/api/generator/batch', '/api/benchmark/run'];
  const storedCount = async () => {
    let n = 0;
    for (const list of ['/api/test/runs?limit=500', '/api/generator/tasks?limit=500']) {
      n += (await json<{ items: unknown[] }>(await send('GET', list))).items.length;
    }
    return n;
  };
  const oversized: Array<[string, () => string, number, RegExp]> = [
    [
      'nesting 5,000 deep in an unknown field',
      () => `{"model_name":"bert","x":${nested(5000)}}`,
      400,
      /nested/,
    ],
    ['nesting 33 deep', () => `{"model_name":"bert","x":${nested(32)}}`, 400, /nested more than 32/],
    [
      'a 10,000-item array',
      () => JSON.stringify({ model_name: 'bert', hardware: Array(10_000).fill('cpu') }),
      413,
      /array of more than 1000 items/,
    ],
    [
      '20,000 keys',
      () =>
        JSON.stringify({
          model_name: 'bert',
          x: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])),
        }),
      413,
      /10000 keys/,
    ],
  ];
  it.each(
    POST_ROUTES.flatMap((route) =>
      oversized.map(([what, body, status, message]) => [route, what, body, status, message] as const),
    ),
  )(
    'POST %s with %s: a 4xx with the error body before validation, and nothing changes',
    async (route, _what, body, status, message) => {
      const before = await storedCount();
      const res = await send('POST', route, body());
      const err = await json(res);
      expect({ status: res.status, err }).toMatchObject({
        status,
        err: { code: 'BODY_TOO_COMPLEX', message },
      });
      expectErrorBody(err, status);
      expect(await storedCount()).toBe(before);
    },
  );

  it('accepts a body exactly at the depth limit (it gets as far as validation)', async () => {
    const res = await send('POST', '/api/test/run', `{"model_name":"bert","x":${nested(31)}}`);
    expect(res.status).toBe(400);
    const err = await json(res);
    expect(err.code).toBe('VALIDATION');
    expect(String(err.message)).toMatch(/property x should not exist/);
  });

  const head = 'Host: 127.0.0.1\r\n';
  const rawCases: Array<[string, () => string, number]> = [
    ['a 20 KB header', () => `GET /health HTTP/1.1\r\n${head}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['a 20 KB URL', () => `GET /${'a'.repeat(20_000)} HTTP/1.1\r\n${head}\r\n`, 431],
    [
      '2,000 headers',
      () =>
        `GET /health HTTP/1.1\r\n${head}${Array.from({ length: 2000 }, (_, i) => `X-Header-${i}: ${'v'.repeat(10)}\r\n`).join('')}\r\n`,
      431,
    ],
    ['a request line that is not HTTP', () => 'GARBAGE\r\n\r\n', 400],
    ['an invalid method', () => `FOO / HTTP/1.1\r\n${head}\r\n`, 400],
    ['a bad Content-Length', () => `POST /api/test/run HTTP/1.1\r\n${head}Content-Length: abc\r\n\r\n`, 400],
    ['a URL that does not decode', () => `GET /api/test/status/%E0%A4%A HTTP/1.1\r\n${head}\r\n`, 400],
    [
      'a path parameter over maxParamLength',
      () => `GET /api/test/status/${'a'.repeat(600)} HTTP/1.1\r\n${head}\r\n`,
      414,
    ],
    ['an unknown route', () => `GET /api/nothing-here HTTP/1.1\r\n${head}\r\n`, 404],
    ['an unrouted method', () => `DELETE /api/test/run HTTP/1.1\r\n${head}\r\n`, 404],
    [
      'an unsupported content type',
      () => `POST /api/test/run HTTP/1.1\r\n${head}Content-Type: text/xml\r\nContent-Length: 3\r\n\r\n<a>`,
      415,
    ],
    [
      'malformed JSON',
      () =>
        `POST /api/test/run HTTP/1.1\r\n${head}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{x`,
      400,
    ],
    [
      'an empty JSON body',
      () =>
        `POST /api/test/run HTTP/1.1\r\n${head}Content-Type: application/json\r\nContent-Length: 0\r\n\r\n`,
      400,
    ],
  ];
  it.each(rawCases)(
    'answers %s over a raw socket with the status and the error body',
    async (_what, data, status) => {
      const res = await rawRequest(server.url, data());
      expect(res.status).toBe(status);
      expect(res.headers).toMatch(/\r\ncontent-type: application\/json/i);
      expectErrorBody(res.body as Record<string, unknown>, status);
      // and the server still answers
      expect((await send('GET', '/health')).status).toBe(200);
    },
  );

  it('answers garbage ids at every route with a 4xx error body', async () => {
    for (const id of GARBAGE_IDS) {
      for (const [method, path] of [
        ['GET', `/api/test/status/${id}`],
        ['GET', `/api/test/results/${id}`],
        ['POST', `/api/test/cancel/${id}`],
      ] as const) {
        const res = await send(method, path);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expectErrorBody(await json(res), res.status);
      }
    }
  });

  it('validates list filters and result formats', async () => {
    for (const q of [
      'status=exploded',
      'limit=0',
      'limit=abc',
      'since=yesterday',
      'cursor=!!',
      'cursor=abc',
      'extra=1',
    ]) {
      const res = await send('GET', `/api/test/runs?${q}`);
      expect(res.status).toBe(400);
      expectErrorBody(await json(res), 400);
    }
    const res = await send('GET', '/api/test/results/00000000-0000-0000-0000-000000000000?format=pdf');
    expect(res.status).toBe(400);
  });

  it('answers unknown routes and methods with the error body', async () => {
    const res = await send('GET', '/api/nothing-here');
    expect(res.status).toBe(404);
    expectErrorBody(await json(res), 404);
    const wrongType = await send('POST', '/api/test/run', 'model_name=bert', {
      'content-type': 'text/plain',
    });
    expect(wrongType.status).toBeGreaterThanOrEqual(400);
    expect(wrongType.status).toBeLessThan(500);
  });

  it('serves Swagger with every route and its schemas', async () => {
    const ui = await send('GET', '/docs');
    expect(ui.status).toBe(200);
    const doc = await json<{
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
    }>(await send('GET', '/docs-json'));
    for (const p of [
      '/api/test/run',
      '/api/test/status/{run_id}',
      '/api/test/results/{run_id}',
      '/api/test/runs',
      '/api/test/cancel/{run_id}',
      '/api/test/types',
      '/api/hardware',
      '/health',
    ]) {
      expect(doc.paths).toHaveProperty([p]);
    }
    expect(Object.keys(doc.components.schemas.RunTestRequestDto!.properties!)).toEqual(
      expect.arrayContaining([
        'model_name',
        'hardware',
        'test_type',
        'timeout',
        'save_results',
        'batch_sizes',
        'sequence_lengths',
      ]),
    );
    // Every reference resolves (Swagger UI shows "Resolver error" for one that does not).
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((name) => !doc.components.schemas[name])).toEqual([]);
    // Only what a client must send is required: fields with defaults may be left out.
    expect(doc.components.schemas.RunTestRequestDto!.required).toEqual(['model_name']);
    expect(doc.components.schemas.RunBenchmarkRequestDto!.required).toBeUndefined();
    expect(doc.components.schemas.RunTestRequestDto!.properties!.timeout).toMatchObject({
      type: 'integer',
      minimum: 1,
      maximum: 86_400,
      default: 300,
    });
    expect(Object.keys(doc.components.schemas.TestResultsDto!.properties!)).toEqual(
      expect.arrayContaining(['run_id', 'status', 'summary', 'test_details', 'performance_metrics']),
    );
  });

  it('requires the API key on REST when one is set, but not on /health and /docs', async () => {
    const secured = await startServer('embedded', { API_KEY: 'secret-key-123' });
    try {
      const no = await fetch(`${secured.url}/api/test/types`);
      expect(no.status).toBe(401);
      expectErrorBody(await json(no), 401);
      const wrong = await fetch(`${secured.url}/api/test/types`, {
        headers: { 'x-api-key': 'secret-key-124' },
      });
      expect(wrong.status).toBe(401);
      const ok = await fetch(`${secured.url}/api/test/types`, { headers: { 'x-api-key': 'secret-key-123' } });
      expect(ok.status).toBe(200);
      expect((await fetch(`${secured.url}/health`)).status).toBe(200);
      expect((await fetch(`${secured.url}/docs-json`)).status).toBe(200);
    } finally {
      await secured.close();
    }
  });

  it('sends security headers and stays healthy after all of it', async () => {
    const res = await send('GET', '/health');
    expect(res.status).toBe(200);
    // JSON responses: the API set (nothing may load or frame them, no caching of live state).
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('strict-transport-security')).toContain('max-age=');
    const error = await send('GET', '/api/test/status/nope');
    expect(error.headers.get('x-content-type-options')).toBe('nosniff');
    // Swagger UI's HTML: helmet's document set, with the inline scripts it needs.
    const docs = await send('GET', '/docs');
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-security-policy')).toContain("script-src 'self' 'unsafe-inline'");
    expect(docs.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(docs.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(HF_TINY).toBeTruthy();
  });
});
