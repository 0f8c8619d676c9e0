/**
 * CONTRIB_OP_PROVIDERS against where onnxruntime really places each contrib node: graphs that between
 * them emit every op of the table are built (hf-tiny BERT, GPT-2 and Llama: both flavours, quantized
 * precisions), run once on cpu and on webgpu with the profiler on, and each node's provider read from
 * the profile.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HF_TINY } from '../../../../test/fixtures';
import { readConfig, readFixtureIO, removeDir, tempDir, withDefaultPositions } from './families/spec-helpers';
import { loadGeneratedModule } from '../generator/loader';
import { buildImplementation } from '../generator/spec-build';
import { backendOps, CONTRIB_OP_PROVIDERS } from './contrib-ops';
import { buildOnnxModel } from './index';

jest.setTimeout(120_000);

const PROVIDER: Record<string, string> = { cpu: 'CPUExecutionProvider', webgpu: 'WebGpuExecutionProvider' };

/** op type → provider set, from a profile file's node events. */
function placementIn(profile: string): Map<string, Set<string>> {
  const events = JSON.parse(readFileSync(profile, 'utf8')) as Array<{
    cat?: string;
    args?: { op_name?: string; provider?: string };
  }>;
  const out = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.args?.op_name || !e.args.provider) continue;
    out.set(e.args.op_name, (out.get(e.args.op_name) ?? new Set()).add(e.args.provider));
  }
  return out;
}

/** op type → the providers its nodes ran on, from one profiled run. */
async function placement(
  onnxPath: string,
  fixture: string,
  ep: string,
  dir: string,
): Promise<Map<string, Set<string>>> {
  const prefix = join(dir, `profile-${ep}`);
  const session = await ort.InferenceSession.create(onnxPath, {
    executionProviders: [ep],
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  const feeds: Record<string, ort.Tensor> = {};
  const io = readFixtureIO(join(HF_TINY, fixture)).inputs;
  for (const name of session.inputNames) feeds[name] = io[name]!;
  await session.run(withDefaultPositions(session, feeds));
  session.endProfiling();
  await session.release();
  const file = readdirSync(dir).find((f) => f.startsWith(`profile-${ep}`) && f.endsWith('.json'))!;
  return placementIn(join(dir, file));
}

describe('contrib ops per backend', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('contrib-ops-');
  });
  afterAll(() => removeDir(dir));

  const seen = new Set<string>();
  afterAll(() => {
    // Every row of the table was checked by one of the graphs.
    expect([...seen].sort()).toEqual(Object.keys(CONTRIB_OP_PROVIDERS).sort());
  });

  it.each([
    ['bert', 'optimized', 'fp32'],
    ['bert', 'optimized', 'int8'],
    ['bert', 'portable', 'int4'],
    ['gpt2', 'optimized', 'fp32'],
    ['llama', 'optimized', 'fp32'],
  ] as const)('%s %s %s: the table says where each contrib node runs', async (fixture, graph, precision) => {
    const out = join(dir, `${fixture}-${graph}-${precision}`);
    const built = await buildOnnxModel({
      config: readConfig(join(HF_TINY, fixture)),
      outDir: out,
      weights: 'random',
      graph,
      precision,
      kvCache: false,
    });
    expect(built.contribOps.length).toBeGreaterThan(0);
    const table = backendOps(built.contribOps, ['cpu', 'webgpu']);
    for (const ep of ['cpu', 'webgpu'] as const) {
      const placed = await placement(built.onnxPath, fixture, ep, out);
      for (const op of built.contribOps) {
        seen.add(op);
        expect(Object.keys(CONTRIB_OP_PROVIDERS)).toContain(op);
        const expected = table[ep]!.native.includes(op) ? PROVIDER[ep]! : PROVIDER.cpu!;
        expect([op, [...(placed.get(op) ?? [])]]).toEqual([op, [expected]]);
      }
    }
  });

  it.each(['bert', 'gpt2', 'llama'])(
    '%s optimized fp16: webgpu runs every contrib node in fp16 itself',
    async (fixture) => {
      const out = join(dir, `${fixture}-optimized-fp16`);
      const built = await buildOnnxModel({
        config: readConfig(join(HF_TINY, fixture)),
        outDir: out,
        weights: 'random',
        graph: 'optimized',
        precision: 'fp16',
        kvCache: false,
      });
      const placed = await placement(built.onnxPath, fixture, 'webgpu', out);
      for (const op of built.contribOps) {
        expect([op, [...(placed.get(op) ?? [])]]).toEqual([op, [PROVIDER.webgpu]]);
      }
    },
  );

  it('an int8 implementation built for webgpu loads model.webgpu.onnx there: no node falls back to cpu', async () => {
    const out = join(dir, 'bert-int8-impl');
    const { built, generated } = await buildImplementation(out, 'bert', {
      precision: 'int8',
      graph: 'optimized',
      backends: ['cpu', 'webgpu'],
    });
    expect(generated.manifest.backend_graphs).toEqual({ webgpu: 'model.webgpu.onnx' });
    expect(generated.manifest.backend_ops!.webgpu!.cpu_fallback).toEqual([]);
    expect(generated.manifest.backend_ops!.cpu!.native).toContain('DynamicQuantizeMatMul');
    const { implementation } = loadGeneratedModule(generated.jsPath);
    const contribOps: Record<string, string[]> = {
      cpu: built.contribOps,
      webgpu: built.backendGraphs.webgpu!.contribOps,
    };
    for (const backend of ['cpu', 'webgpu'] as const) {
      const prefix = join(out, `impl-profile-${backend}`);
      const handle = await implementation.load({
        backend,
        sessionOptions: { executionProviders: [backend], enableProfiling: true, profileFilePrefix: prefix },
      });
      await handle.run(readFixtureIO(join(HF_TINY, 'bert')).inputs);
      // The profile is written when the session ends.
      await handle.release();
      const file = readdirSync(out).find((f) => f.startsWith(`impl-profile-${backend}`))!;
      const placed = placementIn(join(out, file));
      for (const op of contribOps[backend]!) {
        expect([op, [...(placed.get(op) ?? [])]]).toEqual([op, [PROVIDER[backend]]]);
      }
      expect(placed.has(backend === 'cpu' ? 'DynamicQuantizeMatMul' : 'MatMulNBits')).toBe(true);
    }
  });
});
