/**
 * The process's own peak resident set size. On Linux this is VmHWM from /proc/self/status: the
 * high-water mark of this process's address space alone. getrusage's ru_maxrss is not: Linux carries
 * the pre-exec high-water mark across execve, so a child spawned by a large parent (a Jest worker, a
 * benchmark holding a 4 GB session) reports its parent's size as its own peak. Elsewhere ru_maxrss is
 * the best there is.
 */
import { readFileSync } from 'node:fs';

export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}
