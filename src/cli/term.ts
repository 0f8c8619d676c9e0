/**
 * The terminal: colour (only on a terminal, never with NO_COLOR or TERM=dumb; FORCE_COLOR forces it),
 * the width tables must fit, and the cursor the progress bar hides.
 *
 * No colour library: five SGR codes are all the CLI uses, and the rule for when to use them is the
 * part that matters (https://no-color.org: NO_COLOR set to anything non-empty turns colour off).
 */
import type { WriteStream } from 'node:tty';

type Env = Record<string, string | undefined>;

/** Whether to colour what is written to `stream`. */
export function colourEnabled(stream: Pick<WriteStream, 'isTTY'>, env: Env = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  if (env.TERM === 'dumb') return false;
  return Boolean(stream.isTTY);
}

const CODES = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  dim: [2, 22],
  bold: [1, 22],
} as const;

export type Style = keyof typeof CODES;
export type Painter = (style: Style, text: string) => string;

export function painter(enabled: boolean): Painter {
  if (!enabled) return (_style, text) => text;
  return (style, text) => `\x1b[${CODES[style][0]}m${text}\x1b[${CODES[style][1]}m`;
}

/** Colour for stdout and for stderr, each decided on its own stream (at each call: --no-color sets NO_COLOR). */
export const paint: { out: Painter; err: Painter } = {
  out: (style, text) => painter(colourEnabled(process.stdout))(style, text),
  err: (style, text) => painter(colourEnabled(process.stderr))(style, text),
};

/**
 * The width tables on stdout must fit: the terminal's columns, else `COLUMNS` when set (so piped
 * output can be bounded too), else none (Infinity: a pipe or file gets whole cells).
 */
export function outputWidth(
  stream: Pick<WriteStream, 'isTTY' | 'columns'> = process.stdout,
  env: Env = process.env,
): number {
  if (stream.isTTY && stream.columns > 0) return stream.columns;
  const n = Number(env.COLUMNS);
  return Number.isInteger(n) && n > 0 ? n : Infinity;
}

/** The sequence that shows the cursor again (cli-progress hides it while a bar runs). */
export const SHOW_CURSOR = '\x1b[?25h';

/** Visible length: without SGR sequences. */
export function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}
