/**
 * Start-up is quiet and truthful: the server as a process (`src/main.ts`, JSON logs, every backend
 * detected), its whole stdout and stderr read line by line. Every line is a JSON log line except the
 * two that Dawn (WebGPU's native library) prints on software Vulkan (lavapipe), which no API can
 * silence; onnxruntime's own native messages (the missing CUDA provider, WebGPU node placement)
 * are gone. Each request logs one line with its id (also in X-Request-Id), each operation one line
 * per status it takes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from './fixtures';
import { ServerProcess, tsNodeServer, until } from './processes';

jest.setTimeout(240_000);

/** Dawn's own stderr lines on lavapipe (its limits exceed Dawn's): see the README, Logs. */
const DAWN_LAVAPIPE = /^Warning: maxDynamic\w+PerPipelineLayout artificially reduced from \d+ to \d+/;

interface LogLine {
  level: string;
  msg: string;
  context?: string;
  request_id?: string;
  operation_id?: string;
  status?: string | number;
  url?: string;
}

describe('server logs', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-logs-'));
  let server: ServerProcess;

  beforeAll(async () => {
    server = tsNodeServer('server', {
      LOG_LEVEL: 'log',
      LOG_FORMAT: 'json',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      MODEL_ROOTS: HF_TINY,
      HARDWARE: 'cpu,cuda,webgpu',
    }).start();
    await server.ready();
  });

  afterAll(async () => {
    await server?.stop('SIGTERM', 20_000);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes only JSON lines, one per request and per operation transition, with their ids', async () => {
    const hardware = await fetch(`${server.url}/api/hardware`);
    const requestId = hardware.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const backends = ((await hardware.json()) as { backends: Array<{ name: string; available: boolean }> })
      .backends;
    expect(backends.find((b) => b.name === 'cuda')?.available).toBe(false);

    const accepted = await fetch(`${server.url}/api/test/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_name: join(HF_TINY, 'bert'), hardware: ['cpu', 'webgpu'] }),
    });
    expect(accepted.status).toBe(202);
    const { run_id } = (await accepted.json()) as { run_id: string };
    await until('test run done', async () => {
      const s = (await (await fetch(`${server.url}/api/test/status/${run_id}`)).json()) as { status: string };
      return s.status === 'completed' || s.status === 'failed' ? s.status : undefined;
    });
    await until('transition logged', () => server.output.includes(`"status":"completed"`));

    const lines = server.output.split('\n').filter((l) => l.trim() !== '');
    const other = lines.filter((l) => !l.startsWith('{') && !DAWN_LAVAPIPE.test(l));
    expect(other).toEqual([]);
    expect(server.output).not.toMatch(/\[[EW]:onnxruntime/);
    const logs = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);

    expect(logs.some((l) => l.context === 'Bootstrap' && /listening on/.test(l.msg))).toBe(true);
    const requests = logs.filter((l) => l.context === 'HTTP');
    expect(requests.filter((l) => l.request_id === requestId)).toEqual([
      expect.objectContaining({ level: 'info', url: '/api/hardware', status: 200 }),
    ]);
    const transitions = logs.filter((l) => l.context === 'Operations' && l.operation_id === run_id);
    expect(transitions.map((l) => l.status)).toEqual(['queued', 'running', 'completed']);
  });
});
