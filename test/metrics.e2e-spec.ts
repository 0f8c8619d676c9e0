/** GET /metrics against a real server, and the JSON log lines that carry the operation id. */
import { Logger } from '@nestjs/common';
import { JobQueue } from '../src/common/jobs/job-queue';
import { operationLog } from '../src/common/logging/operation-context';
import {
  createAppLogger,
  createPino,
  FieldsConsoleLogger,
  PinoLoggerService,
} from '../src/common/logging/pino-logger.service';
import { TestServer, json, postJson, startServer, waitFor } from './app';

jest.setTimeout(180_000);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (0.0.4) samples; comments and blank lines are skipped. */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

describe('GET /metrics', () => {
  let server: TestServer;
  const post = (path: string, body: unknown) => postJson(server.url, path, body);

  beforeAll(async () => {
    server = await startServer('embedded');
  });
  afterAll(async () => {
    await server.close();
  });

  it('serves HTTP, job, queue, worker and process metrics in Prometheus text format', async () => {
    const res = await post('/api/test/run', { model_name: 'bert' });
    expect(res.status).toBe(202);
    const { run_id } = await json<{ run_id: string }>(res);
    expect(await waitFor(`${server.url}/api/test/status/${run_id}`)).toMatchObject({ status: 'completed' });
    expect((await post('/api/test/run', { model_name: 42 })).status).toBe(400);
    expect((await fetch(`${server.url}/api/test/status/00000000-0000-0000-0000-000000000000`)).status).toBe(
      404,
    );
    expect((await fetch(`${server.url}/no/such/route/${run_id}`)).status).toBe(404);

    const scrape = await fetch(`${server.url}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    const samples = parseMetrics(text);

    // HTTP: route patterns, never raw URLs; the exception filter's 4xx and unmatched 404s counted.
    const http = 'http_request_duration_seconds_count';
    expect(
      find(samples, http, { method: 'POST', route: '/api/test/run', status_code: '202' })[0]?.value,
    ).toBe(1);
    expect(
      find(samples, http, { method: 'POST', route: '/api/test/run', status_code: '400' })[0]?.value,
    ).toBe(1);
    expect(
      find(samples, http, { method: 'GET', route: '/api/test/status/:run_id', status_code: '404' }),
    ).toHaveLength(1);
    expect(find(samples, http, { method: 'GET', route: '<unmatched>', status_code: '404' })).toHaveLength(1);
    expect(text).not.toContain(run_id);
    expect(
      find(samples, 'http_request_duration_seconds_bucket', { route: '/api/test/run', le: '+Inf' }),
    ).not.toHaveLength(0);

    // Jobs: outcome counter and duration histogram by suite and backend.
    const job = { kind: 'test', backend: 'cpu', status: 'completed' };
    expect(find(samples, 'ipfs_accelerate_jobs_total', job)[0]?.value).toBe(1);
    expect(find(samples, 'ipfs_accelerate_job_duration_seconds_count', job)[0]?.value).toBe(1);
    expect(find(samples, 'ipfs_accelerate_job_duration_seconds_sum', job)[0]?.value).toBeGreaterThan(0);

    // Queues and workers.
    const depth = await server.app.get(JobQueue).depth();
    expect(Object.keys(depth).length).toBeGreaterThanOrEqual(3);
    for (const queue of Object.keys(depth)) {
      expect(find(samples, 'ipfs_accelerate_queue_depth', { queue })[0]?.value).toBe(0);
    }
    expect(find(samples, 'ipfs_accelerate_live_workers')[0]?.value).toBe(1);

    // Default process metrics.
    expect(find(samples, 'process_cpu_user_seconds_total')).toHaveLength(1);
    expect(find(samples, 'nodejs_heap_size_used_bytes')).toHaveLength(1);
  });

  it('keeps one registry per app: a second server in the same process starts and counts on its own', async () => {
    const other = await startServer('embedded');
    try {
      const samples = parseMetrics(await (await fetch(`${other.url}/metrics`)).text());
      expect(find(samples, 'ipfs_accelerate_jobs_total')).toHaveLength(0);
      expect(find(samples, 'http_request_duration_seconds_count', { route: '/api/test/run' })).toHaveLength(
        0,
      );
    } finally {
      await other.close();
    }
  });
});

describe('structured JSON logs', () => {
  const capture = (level: Parameters<typeof createPino>[0]) => {
    const lines: string[] = [];
    const logger = new PinoLoggerService(createPino(level, { write: (s: string) => void lines.push(s) }));
    const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    return { logger, parsed };
  };

  it('writes one JSON line per log, with the operation id on lines about an operation', () => {
    const { logger, parsed } = capture('log');
    logger.log('inside the job', operationLog('op-123', 'test', 'test.run'), 'JobExecutor');
    logger.warn('outside any job', 'Somewhere');
    const [inside, outside] = parsed();
    expect(inside).toMatchObject({
      level: 'info',
      context: 'JobExecutor',
      msg: 'inside the job',
      operation_id: 'op-123',
      kind: 'test',
      job: 'test.run',
    });
    expect(new Date(inside!.time as string).toISOString()).toBe(inside!.time);
    expect(outside).toMatchObject({ level: 'warn', context: 'Somewhere', msg: 'outside any job' });
    expect(outside).not.toHaveProperty('operation_id');
  });

  it('takes Nest Logger calls with an operation, a context and errors', () => {
    const { logger, parsed } = capture('log');
    const saved = Logger['staticInstanceRef'];
    Logger.overrideLogger(logger);
    try {
      new Logger('JobExecutor').error(
        'benchmark.run op-9 failed',
        new Error('boom'),
        operationLog('op-9', 'benchmark', 'benchmark.run'),
      );
      new Logger('Errors').error('plain error');
    } finally {
      Logger.overrideLogger(saved as never);
    }
    const [failed, plain] = parsed();
    expect(failed).toMatchObject({
      level: 'error',
      context: 'JobExecutor',
      msg: 'benchmark.run op-9 failed',
      operation_id: 'op-9',
      err: { message: 'boom', type: 'Error' },
    });
    expect(plain).toEqual(expect.objectContaining({ level: 'error', context: 'Errors', msg: 'plain error' }));
    expect(plain).not.toHaveProperty('args');
  });

  it('honours the configured level', () => {
    const { logger, parsed } = capture('warn');
    logger.log('dropped');
    logger.debug('dropped');
    logger.warn('kept');
    logger.error('kept too');
    expect(parsed().map((l) => l.msg)).toEqual(['kept', 'kept too']);
    const silent = capture('silent');
    silent.logger.error('nothing');
    expect(silent.parsed()).toHaveLength(0);
  });

  it('uses pino by default and Nest console levels with LOG_FORMAT=pretty', () => {
    expect(createAppLogger({ logLevel: 'log', logFormat: 'json' })).toBeInstanceOf(PinoLoggerService);
    // Nest's console logger at those levels, without the structured-field objects as extra lines.
    const pretty = createAppLogger({ logLevel: 'warn', logFormat: 'pretty' });
    expect(pretty).toBeInstanceOf(FieldsConsoleLogger);
    const levels = (['verbose', 'debug', 'log', 'warn', 'error', 'fatal'] as const).filter((l) =>
      (pretty as FieldsConsoleLogger).isLevelEnabled(l),
    );
    expect(levels).toEqual(['warn', 'error', 'fatal']);
    expect(createAppLogger({ logLevel: 'silent', logFormat: 'pretty' })).toBe(false);
  });
});
