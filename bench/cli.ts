/** What the bench scripts share for their command line and their report. */
import { loadavg } from 'node:os';

/** The value after `--name` on the command line (a bare `--name` reads as 'true'), else `fallback`. */
export function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? 'true' : v;
}

/** Whether `--name` is on the command line. */
export const flag = (name: string): boolean => process.argv.includes(`--${name}`);

/** The load average over 1, 5 and 15 minutes, printed beside every figure of a shared machine. */
export const loadAverage = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
