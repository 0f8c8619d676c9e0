/**
 * The guard word between a pool and its thread, with real onnxruntime sessions in a real worker
 * thread: a thread inside a native call cannot be claimed for termination, and a claimed thread
 * refuses to enter one. (Terminating a thread inside a native call aborts the whole process, which
 * is why this is checked on the word, not by trying it.)
 */
import { Worker } from 'node:worker_threads';
import { onnx } from 'onnx-proto';
import { claimForTermination, IN_JS, IN_NATIVE, newGuardWord, TERMINATING } from './native-guard';

jest.setTimeout(60_000);

/** c = MatMul(a, b) for n × n inputs: one run is long enough (n = 768, one thread) to be seen inside. */
function matmulModel(n: number): Uint8Array {
  const info = (name: string): onnx.IValueInfoProto => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimValue: n }, { dimValue: n }] },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'matmul',
      node: [
        { opType: 'MatMul', input: ['a', 'b'], output: ['m1'], name: 'm1' },
        { opType: 'MatMul', input: ['m1', 'b'], output: ['m2'], name: 'm2' },
        { opType: 'MatMul', input: ['m2', 'b'], output: ['c'], name: 'm3' },
      ],
      input: [info('a'), info('b')],
      output: [info('c')],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
require(workerData.guardModule).guardNativeSessions(workerData.word);
const ort = require('onnxruntime-node');
(async () => {
  const n = workerData.n;
  const session = await ort.InferenceSession.create(workerData.model, { intraOpNumThreads: 1 });
  const ones = () => new ort.Tensor('float32', new Float32Array(n * n).fill(1 / n), [n, n]);
  parentPort.on('message', () => {
    session.run({ a: ones(), b: ones() }).then(
      (out) => parentPort.postMessage({ ran: out.c.dims }),
      (err) => parentPort.postMessage({ refused: err.name + ': ' + err.message }),
    );
  });
  parentPort.postMessage({ ready: true });
})().catch((err) => parentPort.postMessage({ failed: String(err) }));
`;

const N = 768;

function startThread(word: Int32Array): { worker: Worker; next: () => Promise<Record<string, unknown>> } {
  const worker = new Worker(THREAD, {
    eval: true,
    execArgv: ['-r', require.resolve('ts-node/register/transpile-only')],
    workerData: { word, n: N, model: matmulModel(N), guardModule: require.resolve('./native-guard') },
  });
  const inbox: Record<string, unknown>[] = [];
  const waiters: Array<(m: Record<string, unknown>) => void> = [];
  worker.on('message', (m: Record<string, unknown>) => {
    const w = waiters.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  const next = () =>
    inbox.length
      ? Promise.resolve(inbox.shift()!)
      : new Promise<Record<string, unknown>>((r) => waiters.push(r));
  return { worker, next };
}

describe('native guard (a real onnxruntime session in a real worker thread)', () => {
  it('cannot claim a thread while it is inside a native run, and can once the run returned', async () => {
    const word = newGuardWord();
    const { worker, next } = startThread(word);
    try {
      expect(await next()).toEqual({ ready: true });
      expect(Atomics.load(word, 0)).toBe(IN_JS);
      worker.postMessage('run');
      // Wait (without blocking this thread's loop) until the thread is inside the native call.
      while (Atomics.load(word, 0) !== IN_NATIVE) await new Promise((r) => setImmediate(r));
      expect(claimForTermination(word)).toBe(false);
      expect(Atomics.load(word, 0)).toBe(IN_NATIVE);
      expect(await next()).toEqual({ ran: [N, N] });
      expect(Atomics.load(word, 0)).toBe(IN_JS);
      expect(claimForTermination(word)).toBe(true);
      expect(Atomics.load(word, 0)).toBe(TERMINATING);
    } finally {
      await worker.terminate();
    }
  });

  it('a claimed thread refuses to enter a native call', async () => {
    const word = newGuardWord();
    const { worker, next } = startThread(word);
    try {
      expect(await next()).toEqual({ ready: true });
      expect(claimForTermination(word)).toBe(true);
      worker.postMessage('run');
      expect(await next()).toEqual({ refused: expect.stringMatching(/being stopped/) });
      expect(Atomics.load(word, 0)).toBe(TERMINATING);
    } finally {
      await worker.terminate();
    }
  });
});
