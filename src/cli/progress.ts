/** Progress of one operation: a live bar on a terminal, plain lines (only when something changes) otherwise. */
import { Presets, SingleBar } from 'cli-progress';
import type { OperationStatus } from '../../libs/client/src';
import { outputWidth, paint, Painter, Style } from './term';

export interface ProgressReporter {
  update(status: OperationStatus): void;
  /** Ends the bar (and shows the cursor again); safe to call more than once. */
  stop(): void;
}

/** The server's estimate of the time left (`eta_s`), as `1m05s`; empty when it has none. */
export function formatEta(etaS: number | null | undefined): string {
  if (etaS === null || etaS === undefined || !Number.isFinite(etaS) || etaS < 0) return '';
  const s = Math.round(etaS);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function progressReporter(label: string, tty: boolean): ProgressReporter {
  if (tty) {
    const bar = new SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | ETA {eta_server} | {state} | {step}`,
        hideCursor: true,
        stream: process.stderr,
        clearOnComplete: false,
      },
      Presets.shades_classic,
    );
    let state: 'idle' | 'running' | 'stopped' = 'idle';
    return {
      update(status) {
        if (state === 'stopped') return;
        const payload = {
          state: status.status,
          step: status.current_step ?? '',
          eta_server: formatEta(status.eta_s) || '-',
        };
        const value = Math.round(status.progress * 100);
        if (state === 'idle') {
          bar.start(100, value, payload);
          state = 'running';
        } else bar.update(value, payload);
      },
      stop() {
        if (state === 'running') bar.stop();
        state = 'stopped';
      },
    };
  }
  let last = '';
  return {
    update(status) {
      const eta = status.status === 'running' ? formatEta(status.eta_s) : '';
      const line = `${label} ${status.status} ${Math.round(status.progress * 100)}%${eta ? ` eta ${eta}` : ''}${status.current_step ? ` ${status.current_step}` : ''}`;
      // Only when something other than the estimate changed: the estimate moves on every update.
      const key = line.replace(/ eta \S+/, '');
      if (key === last) return;
      last = key;
      process.stderr.write(`${line}\n`);
    },
    stop() {},
  };
}

export interface TableOptions {
  /** Columns the table may take (default: the terminal's, see outputWidth); wider cells are cut with …. */
  width?: number;
  /** A style for a cell, given its column and its text (applied after the cell is fitted). */
  style?: (column: number, text: string) => Style | undefined;
  paint?: Painter;
}

/**
 * Renders rows as an aligned text table that fits `width`: while it is too wide, the widest column
 * loses a character (never below its header's length or 6), and cut cells end with an ellipsis.
 */
export function table(
  headers: string[],
  rows: Array<Array<string | number | null | undefined>>,
  opts: TableOptions = {},
): string {
  const width = opts.width ?? outputWidth();
  const colour = opts.paint ?? paint.out;
  const cells = [
    headers,
    ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const floor = headers.map((h, i) => Math.min(widths[i]!, Math.max(h.length, 6)));
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  while (total() > width) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      if (widths[i]! > floor[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    }
    if (widest < 0) break;
    widths[widest]!--;
  }
  const fit = (c: string, w: number) => (c.length > w ? `${c.slice(0, Math.max(0, w - 1))}…` : c.padEnd(w));
  const line = (r: string[], styled: boolean) =>
    r
      .map((c, i) => {
        const last = i === r.length - 1;
        const text = last && c.length <= widths[i]! ? c : fit(c, widths[i]!);
        const style = styled ? opts.style?.(i, c) : undefined;
        return style ? colour(style, text) : text;
      })
      .join('  ')
      .trimEnd();
  return [
    line(cells[0]!, false),
    line(
      widths.map((w) => '-'.repeat(w)),
      false,
    ),
    ...cells.slice(1).map((r) => line(r, true)),
  ].join('\n');
}

export function fixed(n: number | null | undefined, digits = 2): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}
