/** What can be learned about a device without opening it: CPU from node:os, Vulkan ICDs, nvidia-smi. */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem, release } from 'node:os';
import { join } from 'node:path';

export function cpuDevice(): Record<string, unknown> {
  const list = cpus();
  return {
    model: list[0]?.model?.trim() ?? 'unknown',
    cores: list.length,
    speed_mhz: list[0]?.speed ?? undefined,
    arch: arch(),
    platform: platform(),
    os_release: release(),
    total_memory_mb: Math.round(totalmem() / (1024 * 1024)),
  };
}

export const VULKAN_ICD_DIRS = [
  '/usr/share/vulkan/icd.d',
  '/etc/vulkan/icd.d',
  '/usr/local/share/vulkan/icd.d',
];
export const VULKAN_LOADER_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1',
  '/usr/lib/libvulkan.so.1',
  '/usr/local/lib/libvulkan.so.1',
];

export interface VulkanIcd {
  file: string;
  library_path?: string;
  api_version?: string;
  /** lavapipe (Mesa's CPU rasteriser) is a software adapter. */
  software: boolean;
}

/** Vulkan installable client drivers (ICDs) registered on this machine. */
export function vulkanIcds(dirs: readonly string[] = VULKAN_ICD_DIRS): VulkanIcd[] {
  const out: VulkanIcd[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const file = join(dir, name);
      const icd: VulkanIcd = { file, software: /lvp|lavapipe|swiftshader/i.test(name) };
      try {
        const json = JSON.parse(readFileSync(file, 'utf8')) as {
          ICD?: { library_path?: string; api_version?: string };
        };
        icd.library_path = json.ICD?.library_path;
        icd.api_version = json.ICD?.api_version;
      } catch {
        // an unreadable ICD file is still worth listing
      }
      out.push(icd);
    }
  }
  return out;
}

export function vulkanLoader(candidates: readonly string[] = VULKAN_LOADER_CANDIDATES): string | undefined {
  return candidates.find((p) => existsSync(p));
}

export function webgpuDevice(): Record<string, unknown> {
  const icds = vulkanIcds();
  return {
    api: 'WebGPU (Dawn) over Vulkan',
    vulkan_loader: vulkanLoader() ?? null,
    vulkan_icds: icds.map((i) => ({
      file: i.file,
      library_path: i.library_path,
      api_version: i.api_version,
      software: i.software,
    })),
    software_adapter_available: icds.some((i) => i.software),
  };
}

/** Runs a program with a time limit; resolves stdout or undefined when it is missing or fails. */
export function tryExec(file: string, args: string[], timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    try {
      execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => {
        resolve(err ? undefined : stdout);
      });
    } catch {
      resolve(undefined);
    }
  });
}

/** GPUs as nvidia-smi reports them (optional: undefined when nvidia-smi is absent). */
export async function nvidiaGpus(): Promise<Record<string, unknown>[] | undefined> {
  const out = await tryExec('nvidia-smi', [
    '--query-gpu=name,memory.total,driver_version,compute_cap',
    '--format=csv,noheader,nounits',
  ]);
  if (!out) return undefined;
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [name, mem, driver, cc] = line.split(',').map((s) => s.trim());
      return { name, memory_mb: Number(mem), driver_version: driver, compute_capability: cc };
    });
}
