/** Progress of one operation: a live bar on a terminal, plain lines (only when something changes) otherwise. */
import { Presets, SingleBar } from 'cli-progress';
import type { OperationStatus } from '../../libs/client/src';

export interface ProgressReporter {
  update(status: OperationStatus): void;
  stop(): void;
}

export function progressReporter(label: string, tty: boolean): ProgressReporter {
  if (tty) {
    const bar = new SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {state} | {step}`,
        hideCursor: true,
        stream: process.stderr,
        clearOnComplete: false,
      },
      Presets.shades_classic,
    );
    let started = false;
    return {
      update(status) {
        const payload = { state: status.status, step: status.current_step ?? '' };
        const value = Math.round(status.progress * 100);
        if (!started) {
          bar.start(100, value, payload);
          started = true;
        } else bar.update(value, payload);
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let last = '';
  return {
    update(status) {
      const line = `${label} ${status.status} ${Math.round(status.progress * 100)}%${status.current_step ? ` ${status.current_step}` : ''}`;
      if (line === last) return;
      last = line;
      process.stderr.write(`${line}\n`);
    },
    stop() {},
  };
}

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [
    headers,
    ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

export function fixed(n: number | null | undefined, digits = 2): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}
