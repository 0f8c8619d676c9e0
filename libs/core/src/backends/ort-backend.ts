/**
 * HardwareBackend over onnxruntime-node execution providers (cpu, cuda, webgpu).
 *
 * detect() opens a real tiny session on the provider and runs it once, under a time limit.
 * The result is cached and concurrent callers share one promise. Nothing here reads
 * process.env: whatever the environment should tell (XDG_RUNTIME_DIR, LD_LIBRARY_PATH) is
 * passed in through the options by the composition root.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import './ort-env';
import { errorMessage } from '../errors';
import type { BackendDetection, BackendName, HardwareBackend } from '../types';
import { cpuDevice, nvidiaGpus, tryExec, vulkanIcds, vulkanLoader, webgpuDevice } from './device-info';
import { tinyModel } from './tiny-model';

export const DEFAULT_DETECT_TIMEOUT_MS = 30_000;

/** onnxruntime's name for the provider behind each backend. */
export const EXECUTION_PROVIDERS: Record<BackendName, string> = {
  cpu: 'CPUExecutionProvider',
  cuda: 'CUDAExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
};

/** The provider libraries the CUDA execution provider loads at session creation. */
export const CUDA_PROVIDER_LIBRARIES = [
  'libonnxruntime_providers_shared.so',
  'libonnxruntime_providers_cuda.so',
];

export const CUDA_INSTALL_HINT =
  'install them on a machine with network access with ' +
  '`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install` ' +
  '(it downloads the CUDA 12 build of onnxruntime into the folder above), and put the CUDA 12 ' +
  'runtime (libcudart, libcublas, libcublasLt, libcufft, libcurand) and cuDNN 9 on LD_LIBRARY_PATH';

export const WEBGPU_INSTALL_HINT =
  'onnxruntime-node runs WebGPU through Dawn on a Vulkan adapter. Install a Vulkan loader and ' +
  'driver: on Debian `apt-get install libvulkan1 mesa-vulkan-drivers` with Mesa >= 25 from ' +
  'bookworm-backports (`-t bookworm-backports`) for the lavapipe software adapter, or the GPU ' +
  "vendor's Vulkan ICD (for NVIDIA the driver's nvidia_icd.json); and set XDG_RUNTIME_DIR to a " +
  'writable directory (mode 0700) in the server environment';

export interface OrtBackendOptions {
  /** Time limit for the detection session (create + one run), ms. Default 30 s. */
  detectTimeoutMs?: number;
  /** CPU intra-op threads (0 or undefined: onnxruntime's default). */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** CUDA device ordinal. */
  deviceId?: number;
  /** Where onnxruntime-node keeps its native libraries; found from the package by default. */
  bindingDir?: string;
  /**
   * Environment facts the composition root knows (this module never reads process.env);
   * only used to word the reason when detection fails.
   */
  environment?: { XDG_RUNTIME_DIR?: string; LD_LIBRARY_PATH?: string };
  /** Query nvidia-smi for device details on cuda (default true). */
  queryNvidiaSmi?: boolean;
}

/** onnxruntime-node's native folder: node_modules/onnxruntime-node/bin/napi-v6/<platform>/<arch>. */
export function onnxruntimeBindingDir(): string {
  const req = createRequire(__filename);
  const pkg = req.resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', platform(), arch());
}

export function onnxruntimeVersion(): string {
  return ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
}

class DetectTimeout extends Error {}

/**
 * `work` under a time limit. onnxruntime-node opens sessions synchronously, so a timer cannot cut
 * that part short: the elapsed time is also checked when the work ends, and work that finished
 * late fails like work that never finished (which one a timer race alone reports would depend on
 * the event-loop phase the work started in).
 */
async function withTimeout<T>(work: () => Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = () => new DetectTimeout(`${what} did not finish within ${ms} ms`);
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
    timer.unref?.();
  });
  const started = performance.now();
  try {
    const result = await Promise.race([work(), limit]);
    if (performance.now() - started > ms) throw late();
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Backends whose onnxruntime provider must not be used by two threads at once: with
 * onnxruntime-node 1.30, two worker threads running WebGPU sessions at the same time crash the
 * process (segmentation fault; one thread at a time, or CPU sessions in parallel, are fine). Work
 * on these runs one job at a time per process.
 */
export const THREAD_UNSAFE_BACKENDS: readonly BackendName[] = ['webgpu'];

export class OrtBackend implements HardwareBackend {
  private detection: Promise<BackendDetection> | undefined;

  constructor(
    readonly name: BackendName,
    /** Plain data: a worker thread rebuilds the same backend from its name and these. */
    readonly options: OrtBackendOptions = {},
  ) {}

  get executionProvider(): string {
    return EXECUTION_PROVIDERS[this.name];
  }

  /** Cached: the first call opens the tiny session, every later or concurrent call shares it. */
  detect(): Promise<BackendDetection> {
    this.detection ??= this.runDetection();
    return this.detection;
  }

  /** Forgets the cached detection (after installing drivers, say); the next detect() probes again. */
  resetDetection(): void {
    this.detection = undefined;
  }

  sessionOptions(): ort.InferenceSession.SessionOptions {
    const o = this.options;
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: o.graphOptimizationLevel ?? 'all',
    };
    if (o.intraOpNumThreads && o.intraOpNumThreads > 0) base.intraOpNumThreads = o.intraOpNumThreads;
    if (o.interOpNumThreads && o.interOpNumThreads > 0) base.interOpNumThreads = o.interOpNumThreads;
    switch (this.name) {
      case 'cpu':
        return { ...base, executionProviders: ['cpu'] };
      case 'cuda':
        // Only CUDA: no silent CPU fallback for the whole model.
        return { ...base, executionProviders: [{ name: 'cuda', deviceId: o.deviceId ?? 0 }] };
      case 'webgpu':
        return { ...base, executionProviders: ['webgpu'] };
    }
  }

  private async runDetection(): Promise<BackendDetection> {
    const started = performance.now();
    const base = {
      name: this.name,
      onnxruntime_version: onnxruntimeVersion(),
      execution_provider: this.executionProvider,
    };
    const finish = (available: boolean, extra: { reason?: string; device?: Record<string, unknown> }) => ({
      ...base,
      available,
      ...extra,
      detect_ms: Math.round((performance.now() - started) * 10) / 10,
    });

    const supported = ort.listSupportedBackends?.() ?? [];
    const entry = supported.find((b) => b.name === this.name);
    if (!entry) {
      return finish(false, {
        reason: `onnxruntime-node ${base.onnxruntime_version} was built without the ${this.name} execution provider`,
        device: await this.deviceInfo(),
      });
    }

    // Without its provider libraries a CUDA session cannot open, and asking onnxruntime anyway makes
    // its native logger print the loader error (in red, on stderr, outside the JSON log): say why
    // from the files instead.
    if (this.name === 'cuda') {
      const missing = this.missingCudaLibraries();
      if (missing.length)
        return finish(false, {
          reason: this.cudaMissingReason(missing, entry.bundled),
          device: await this.deviceInfo(),
        });
    }

    const timeoutMs = this.options.detectTimeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS;
    try {
      await withTimeout(() => this.probe(), timeoutMs, `opening a tiny session on ${this.executionProvider}`);
      return finish(true, { device: await this.deviceInfo() });
    } catch (err) {
      const reason = await this.explain(err, entry.bundled);
      return finish(false, { reason, device: await this.deviceInfo() });
    }
  }

  /** Opens the tiny model on the provider, runs it once and checks the answer. */
  private async probe(): Promise<void> {
    const model = tinyModel();
    const session = await ort.InferenceSession.create(model.bytes, {
      ...this.sessionOptions(),
      graphOptimizationLevel: 'disabled',
      logSeverityLevel: 4,
    });
    try {
      const feeds = {
        a: new ort.Tensor('float32', model.inputs.a, model.shape),
        b: new ort.Tensor('float32', model.inputs.b, model.shape),
      };
      const out = await session.run(feeds);
      const y = out.y;
      const data = y?.data as Float32Array | undefined;
      if (!data || data.length !== model.expected.length || data.some((v, i) => v !== model.expected[i])) {
        throw new Error(
          `the tiny MatMul+Add session returned wrong values: got [${data ? Array.from(data).join(', ') : 'nothing'}], ` +
            `expected [${Array.from(model.expected).join(', ')}]`,
        );
      }
    } finally {
      await session.release();
    }
  }

  private async explain(err: unknown, bundled: boolean): Promise<string> {
    const msg = errorMessage(err);
    if (err instanceof DetectTimeout) {
      return `${msg}; the ${this.name} provider is hanging or far too slow to use (raise the detection time limit if this machine is known to be slow)`;
    }
    switch (this.name) {
      case 'cuda':
        return this.explainCuda(msg, bundled);
      case 'webgpu':
        return this.explainWebgpu(msg);
      case 'cpu':
        return `onnxruntime could not open a CPU session: ${msg}`;
    }
  }

  private missingCudaLibraries(): string[] {
    const dir = this.options.bindingDir ?? onnxruntimeBindingDir();
    return CUDA_PROVIDER_LIBRARIES.filter((lib) => !existsSync(join(dir, lib)));
  }

  /** Why CUDA is unavailable when its provider libraries are not installed (no session is tried). */
  private cudaMissingReason(missing: string[], bundled: boolean): string {
    const dir = this.options.bindingDir ?? onnxruntimeBindingDir();
    return (
      `the CUDA provider libraries (${missing.join(', ')}) are missing from ${dir}` +
      (bundled ? '' : ' (this onnxruntime-node install does not bundle CUDA)') +
      `; ${CUDA_INSTALL_HINT}. No CUDA session was tried: onnxruntime cannot load a provider ` +
      'whose library files are absent.'
    );
  }

  private async explainCuda(msg: string, bundled: boolean): Promise<string> {
    const dir = this.options.bindingDir ?? onnxruntimeBindingDir();
    const missing = this.missingCudaLibraries();
    const parts: string[] = [];
    if (missing.length) {
      parts.push(this.cudaMissingReason(missing, bundled));
    } else {
      // The libraries are there: find which of their dependencies the loader cannot resolve.
      const ldd = await tryExec('ldd', [join(dir, 'libonnxruntime_providers_cuda.so')]);
      const notFound = (ldd ?? '')
        .split('\n')
        .filter((l) => l.includes('not found'))
        .map((l) => l.trim().split(/\s+/)[0]);
      parts.push(
        notFound.length
          ? `the CUDA provider libraries are present in ${dir} but their dependencies cannot be loaded: ${notFound.join(', ')} not found; install the CUDA 12 runtime and cuDNN 9 and add their lib folders to LD_LIBRARY_PATH` +
              (this.options.environment
                ? ` (now: ${this.options.environment.LD_LIBRARY_PATH || 'unset'})`
                : '')
          : `the CUDA provider libraries are present in ${dir} but no CUDA session could be opened (no NVIDIA GPU or driver visible?)`,
      );
    }
    parts.push(`onnxruntime said: ${msg}`);
    return parts.join(' ');
  }

  private explainWebgpu(msg: string): string {
    const icds = vulkanIcds();
    const loader = vulkanLoader();
    const facts: string[] = [];
    facts.push(loader ? `Vulkan loader ${loader} found` : 'no Vulkan loader (libvulkan.so.1) found');
    facts.push(
      icds.length
        ? `Vulkan ICDs: ${icds.map((i) => `${i.file}${i.api_version ? ` (api ${i.api_version})` : ''}`).join(', ')}`
        : 'no Vulkan ICD files under /usr/share/vulkan/icd.d or /etc/vulkan/icd.d',
    );
    const env = this.options.environment;
    if (env)
      facts.push(
        env.XDG_RUNTIME_DIR ? `XDG_RUNTIME_DIR=${env.XDG_RUNTIME_DIR}` : 'XDG_RUNTIME_DIR is not set',
      );
    return (
      `no usable WebGPU adapter: onnxruntime could not open a WebGPU session (${msg}). ` +
      `${facts.join('; ')}. ${WEBGPU_INSTALL_HINT}.`
    );
  }

  private async deviceInfo(): Promise<Record<string, unknown>> {
    switch (this.name) {
      case 'cpu':
        return cpuDevice();
      case 'webgpu':
        return webgpuDevice();
      case 'cuda': {
        const device: Record<string, unknown> = { device_id: this.options.deviceId ?? 0 };
        if (this.options.queryNvidiaSmi !== false) {
          const gpus = await nvidiaGpus();
          device.gpus = gpus ?? null;
          if (!gpus) device.note = 'nvidia-smi not found or failed: no NVIDIA driver visible';
        }
        return device;
      }
    }
  }
}

/** One OrtBackend per name, sharing the options. */
export function createBackends(
  names: readonly BackendName[],
  options: OrtBackendOptions = {},
): Map<BackendName, HardwareBackend> {
  const map = new Map<BackendName, HardwareBackend>();
  for (const name of names) map.set(name, new OrtBackend(name, options));
  return map;
}
