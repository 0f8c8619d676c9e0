import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CUDA_PROVIDER_LIBRARIES, OrtBackend, createBackends, onnxruntimeBindingDir } from './ort-backend';
import { tinyModel } from './tiny-model';

describe('tinyModel', () => {
  it('is a valid ONNX model that onnxruntime runs to the known answer', async () => {
    const m = tinyModel();
    const s = await ort.InferenceSession.create(m.bytes);
    const out = await s.run({
      a: new ort.Tensor('float32', m.inputs.a, m.shape),
      b: new ort.Tensor('float32', m.inputs.b, m.shape),
    });
    expect(Array.from(out.y!.data as Float32Array)).toEqual(Array.from(m.expected));
    await s.release();
  });
});

describe('OrtBackend', () => {
  it('detects cpu with a real session, once, and describes the CPU', async () => {
    const cpu = new OrtBackend('cpu');
    const [a, b] = await Promise.all([cpu.detect(), cpu.detect()]);
    expect(a).toBe(b);
    expect(a.available).toBe(true);
    expect(a.reason).toBeUndefined();
    expect(a.onnxruntime_version).toBe(ort.env.versions.node);
    expect(a.execution_provider).toBe('CPUExecutionProvider');
    expect(a.device).toEqual(
      expect.objectContaining({ cores: expect.any(Number), model: expect.any(String) }),
    );
    expect(a.detect_ms).toBeGreaterThan(0);
    expect(await cpu.detect()).toBe(a);
  });

  it('reports cuda honestly: unavailable with the missing provider library and the install command', async () => {
    const dir = onnxruntimeBindingDir();
    const libsPresent = CUDA_PROVIDER_LIBRARIES.every((l) => existsSync(join(dir, l)));
    const d = await new OrtBackend('cuda', { queryNvidiaSmi: false }).detect();
    expect(d.execution_provider).toBe('CUDAExecutionProvider');
    if (libsPresent) {
      // A CUDA-enabled install: whatever happened, it must have been a real attempt.
      if (!d.available) expect(d.reason).toMatch(/CUDA/);
      return;
    }
    expect(d.available).toBe(false);
    expect(d.reason).toContain('libonnxruntime_providers_cuda.so');
    expect(d.reason).toContain('libonnxruntime_providers_shared.so');
    expect(d.reason).toContain(
      'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install',
    );
    expect(d.reason).toContain('cuDNN 9');
    // Decided from the files, without asking onnxruntime (whose native logger would print the
    // loader error on stderr, outside the JSON log; the start-up spec checks stderr).
    expect(d.reason).toMatch(/No CUDA session was tried/);
    expect(d.reason).not.toMatch(/onnxruntime said/);
  });

  it('detects webgpu through a real adapter and lists the Vulkan ICDs', async () => {
    const d = await new OrtBackend('webgpu').detect();
    expect(d.execution_provider).toBe('WebGpuExecutionProvider');
    expect(d.device).toEqual(expect.objectContaining({ vulkan_icds: expect.any(Array) }));
    // This machine has Mesa's lavapipe: the spec of the whole suite relies on it.
    expect(d.reason).toBeUndefined();
    expect(d.available).toBe(true);
  });

  it('gives up after the time limit with an actionable reason', async () => {
    const d = await new OrtBackend('webgpu', { detectTimeoutMs: 1 }).detect();
    expect(d.available).toBe(false);
    expect(d.reason).toMatch(/did not finish within 1 ms/);
  });

  it('builds session options per backend without silent fallback', () => {
    const m = createBackends(['cpu', 'cuda', 'webgpu'], { intraOpNumThreads: 2, deviceId: 1 });
    expect([...m.keys()]).toEqual(['cpu', 'cuda', 'webgpu']);
    expect(m.get('cpu')!.sessionOptions()).toEqual({
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 2,
    });
    expect(m.get('cuda')!.sessionOptions().executionProviders).toEqual([{ name: 'cuda', deviceId: 1 }]);
    expect(m.get('webgpu')!.sessionOptions().executionProviders).toEqual(['webgpu']);
  });
});
