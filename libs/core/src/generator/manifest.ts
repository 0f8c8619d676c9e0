/**
 * The manifest of a generated implementation: what was generated, from what, how, and a content id
 * (CIDv1, sha2-256, raw codec, base32 `bafkrei…`) for every file, so a copy can be verified anywhere.
 * Files are hashed by streaming, so a multi-GiB model.onnx.data never has to fit in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { create as createDigest } from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';
import { CoreError, ErrorCode, throwIfAborted } from '../errors';
import type { BackendName, TensorSpec } from '../types';
import type { TemplateValue } from './templates';
import type { BackendOps, GraphFlavour } from '../onnx';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;
/** `generator.name` in every manifest this generator writes: how a folder of ours is told apart. */
export const GENERATOR_NAME = 'ipfs-accelerate';

export interface ManifestFile {
  /** Relative to the manifest's folder, with `/` separators. */
  path: string;
  bytes: number;
  cid: string;
  /** What the file is. */
  role: 'implementation' | 'compiled' | 'spec' | 'onnx' | 'onnx-data' | 'tokenizer' | 'tokenizer-config';
}

export interface GenerationManifest {
  manifest_version: number;
  model_id: string;
  slug: string;
  family: string;
  config: Record<string, unknown>;
  template: string;
  template_context: Record<string, TemplateValue>;
  backends: BackendName[];
  generator: { name: string; version: string };
  onnxruntime_version?: string;
  weights_source: 'random' | 'safetensors';
  /** fp32, fp16, int8 (DynamicQuantizeMatMul weights) or int4 (MatMulNBits weights). */
  precision: string;
  /** int4: values per quantization block. */
  block_size?: number;
  seed: number | null;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** The head the graph carries (optimum task name). */
  task?: string;
  /** The checkpoint's label names by class index (classification heads). */
  id2label?: Record<string, string>;
  /** sentence-transformers pooling applied by the graph (its sentence_embedding output). */
  pooling?: { mode: string; normalize: boolean };
  /** Whether the graph takes and returns a KV cache (past_key_values.* in, present.* out). */
  kv_cache: boolean;
  /** portable (standard ONNX ops) or optimized (onnxruntime's fused com.microsoft ops). */
  graph: GraphFlavour;
  /**
   * Per backend the implementation was generated for: the com.microsoft ops it runs itself and those
   * it leaves to the cpu provider (onnxruntime 1.30's kernel registries; contrib-ops.ts).
   */
  backend_ops?: Partial<Record<BackendName, BackendOps>>;
  /**
   * The backends that load their own graph instead of model.onnx, and its file (beside it, reading the
   * same model.onnx.data): an int8 model's cuda and webgpu graphs use MatMulNBits with bits 8 where
   * model.onnx has DynamicQuantizeMatMul, which their providers lack. Absent when every backend loads
   * model.onnx.
   */
  backend_graphs?: Partial<Record<BackendName, string>>;
  has_tokenizer: boolean;
  created_at: string;
  files: ManifestFile[];
}

/** CIDv1 (raw codec) of a sha2-256 digest. */
export function cidFromSha256(digest: Uint8Array): string {
  if (digest.length !== 32) throw new CoreError(ErrorCode.INTERNAL, 'a sha2-256 digest has 32 bytes');
  return CID.create(1, raw.code, createDigest(sha256.code, digest)).toString();
}

/** CIDv1 of bytes in memory. */
export function cidOfBytes(bytes: Uint8Array | string): string {
  return cidFromSha256(createHash('sha256').update(bytes).digest());
}

/** CIDv1 of a file, hashed as a stream (constant memory whatever its size). */
export async function cidOfFile(path: string, signal?: AbortSignal): Promise<{ cid: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = createReadStream(path, { highWaterMark: 4 * 1024 * 1024 });
  try {
    for await (const chunk of stream) {
      throwIfAborted(signal);
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } finally {
    stream.destroy();
  }
  return { cid: cidFromSha256(hash.digest()), bytes };
}

/** The manifest entries for `files` (relative to `dir`). */
export async function describeFiles(
  dir: string,
  files: { path: string; role: ManifestFile['role'] }[],
  signal?: AbortSignal,
): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  for (const f of files) {
    throwIfAborted(signal);
    const { cid, bytes } = await cidOfFile(join(dir, f.path), signal);
    out.push({ path: f.path, bytes, cid, role: f.role });
  }
  return out;
}

/** The manifest as written: stable key order, two-space indent, trailing newline. */
export function serializeManifest(manifest: GenerationManifest): string {
  return JSON.stringify(manifest, null, 2) + '\n';
}

export interface VerifyResult {
  ok: boolean;
  /** Files whose CID or size differs, or that are missing. */
  mismatches: { path: string; expected: string; actual: string | null }[];
}

/** Re-hashes every file a manifest lists and compares. */
export async function verifyManifest(manifestPath: string, signal?: AbortSignal): Promise<VerifyResult> {
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as GenerationManifest;
  const dir = dirname(manifestPath);
  const mismatches: VerifyResult['mismatches'] = [];
  for (const f of manifest.files) {
    const path = join(dir, f.path);
    if (!existsSync(path)) {
      mismatches.push({ path: f.path, expected: f.cid, actual: null });
      continue;
    }
    const { cid, bytes } = await cidOfFile(path, signal);
    if (cid !== f.cid || bytes !== f.bytes) mismatches.push({ path: f.path, expected: f.cid, actual: cid });
  }
  return { ok: mismatches.length === 0, mismatches };
}

let cachedVersion: string | undefined;

/** The generator's version: the `version` of the nearest package.json above this module. */
export function generatorVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = __dirname;
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && statSync(candidate).isFile()) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { version?: unknown };
      if (typeof pkg.version === 'string') {
        cachedVersion = pkg.version;
        return pkg.version;
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return (cachedVersion = '0.0.0');
    dir = parent;
  }
}
