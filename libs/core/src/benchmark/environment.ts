/** The machine and software a benchmark ran on, captured once per run. No process spawned, no env read. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { arch, cpus, hostname, platform, release, totalmem, type as osType } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BackendDetection } from '../types';
import type { EnvironmentInfo } from './types';

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * HEAD's commit from `<repoDir>/.git` without spawning git: follows a `.git` file (worktrees,
 * submodules: `gitdir: ...`) and its `commondir`, a symbolic `ref:` through loose refs and then
 * `packed-refs`. Returns null when anything is missing or unreadable.
 */
export function readGitCommit(repoDir: string | undefined): string | null {
  if (!repoDir) return null;
  let gitDir = join(repoDir, '.git');
  try {
    if (!existsSync(gitDir)) return null;
    if (statSync(gitDir).isFile()) {
      const m = /^gitdir:\s*(.+)\s*$/m.exec(readText(gitDir) ?? '');
      if (!m) return null;
      gitDir = isAbsolute(m[1]) ? m[1] : resolve(repoDir, m[1]);
    }
  } catch {
    return null;
  }
  const head = readText(join(gitDir, 'HEAD'))?.trim();
  if (!head) return null;
  if (/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(head)) return head.toLowerCase();
  const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
  if (!ref) return null;
  const common = readText(join(gitDir, 'commondir'))?.trim();
  const dirs = [gitDir];
  if (common) dirs.push(isAbsolute(common) ? common : resolve(gitDir, common));
  for (const dir of dirs) {
    const loose = readText(join(dir, ref))?.trim();
    if (loose && /^[0-9a-f]{40}/i.test(loose)) return loose.slice(0, 64).toLowerCase();
    const packed = readText(join(dir, 'packed-refs'));
    if (packed) {
      for (const line of packed.split('\n')) {
        const [sha, name] = line.trim().split(/\s+/);
        if (name === ref && /^[0-9a-f]{40}/i.test(sha)) return sha.toLowerCase();
      }
    }
  }
  return null;
}

export function onnxruntimeVersionString(): string {
  const v = ort.env.versions as { node?: string; common?: string } | undefined;
  return v?.node ?? v?.common ?? 'unknown';
}

/** CPU, memory, OS, Node, onnxruntime, host, git commit, and one entry per detected backend. */
export function captureEnvironment(
  options: { repoDir?: string; detections?: BackendDetection[] } = {},
): EnvironmentInfo {
  const list = cpus();
  const backends: EnvironmentInfo['backends'] = {};
  for (const d of options.detections ?? []) {
    backends[d.name] = {
      available: d.available,
      execution_provider: d.execution_provider,
      device: d.device ?? null,
      ...(d.reason ? { reason: d.reason } : {}),
    };
  }
  return {
    cpu_model: list[0]?.model?.trim() || 'unknown',
    cpu_cores: list.length,
    total_memory_mb: Math.round(totalmem() / (1024 * 1024)),
    os: osType(),
    platform: platform(),
    os_release: release(),
    arch: arch(),
    node_version: process.version,
    onnxruntime_version: onnxruntimeVersionString(),
    hostname: hostname(),
    git_commit: readGitCommit(options.repoDir),
    backends,
  };
}
