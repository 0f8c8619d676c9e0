/** The CLI's pure helpers: colour rules, table fitting, ETA text, model arguments, exit codes. */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, exitForCode, exitForStatus, localModelRoots, modelArgument } from './context';
import { formatEta, table } from './progress';
import { colourEnabled, outputWidth, painter } from './term';

describe('colourEnabled', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  it('colours a terminal unless NO_COLOR (non-empty) or TERM=dumb; FORCE_COLOR forces it', () => {
    expect(colourEnabled(tty, {})).toBe(true);
    expect(colourEnabled(pipe, {})).toBe(false);
    expect(colourEnabled(tty, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled(tty, { NO_COLOR: '' })).toBe(true);
    expect(colourEnabled(tty, { TERM: 'dumb' })).toBe(false);
    expect(colourEnabled(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourEnabled(pipe, { FORCE_COLOR: '0' })).toBe(false);
    expect(colourEnabled(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
  });
  it('paints with SGR codes only when enabled', () => {
    expect(painter(true)('red', 'x')).toBe('\x1b[31mx\x1b[39m');
    expect(painter(false)('red', 'x')).toBe('x');
  });
  it('takes the width of a terminal, else COLUMNS, else none', () => {
    expect(outputWidth({ isTTY: true, columns: 90 }, { COLUMNS: '40' })).toBe(90);
    expect(outputWidth({ isTTY: false, columns: 0 }, { COLUMNS: '40' })).toBe(40);
    expect(outputWidth({ isTTY: false, columns: 0 }, {})).toBe(Infinity);
  });
});

describe('table', () => {
  const rows = [
    ['a', 'x'.repeat(50), 'short'],
    ['bb', 'y'.repeat(10), 'z'.repeat(40)],
  ];
  it('keeps whole cells when it fits', () => {
    const t = table(['h1', 'h2', 'h3'], rows, { width: Infinity, paint: painter(false) });
    expect(t).toContain('x'.repeat(50));
    expect(t.split('\n')).toHaveLength(4);
  });
  it('cuts the widest columns with an ellipsis to fit the width', () => {
    const t = table(['h1', 'h2', 'h3'], rows, { width: 40, paint: painter(false) });
    for (const line of t.split('\n')) expect(line.length).toBeLessThanOrEqual(40);
    expect(t).toContain('…');
    expect(t.split('\n')[0]).toMatch(/^h1\s+h2\s+h3$/);
  });
});

describe('formatEta', () => {
  it('renders the server estimate', () => {
    expect(formatEta(null)).toBe('');
    expect(formatEta(4.4)).toBe('4s');
    expect(formatEta(65)).toBe('1m05s');
    expect(formatEta(3 * 3600 + 120)).toBe('3h02m');
  });
});

describe('modelArgument', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-args-'));
    mkdirSync(join(dir, 'local-model'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes local paths absolute against the working directory and leaves ids alone', () => {
    expect(modelArgument('./m', dir)).toBe(join(dir, 'm'));
    expect(modelArgument('../m', dir)).toBe(join(dir, '..', 'm'));
    expect(modelArgument('local-model', dir)).toBe(join(dir, 'local-model'));
    expect(modelArgument('/abs/model', dir)).toBe('/abs/model');
    expect(modelArgument('bert-base-uncased', dir)).toBe('bert-base-uncased');
    expect(modelArgument('google/flan-t5-small', dir)).toBe('google/flan-t5-small');
  });
  it('gives --local the existing local folders as model roots', () => {
    expect(localModelRoots(['local-model', ['bert', './missing']], dir)).toEqual([join(dir, 'local-model')]);
  });
});

describe('exit codes', () => {
  it('maps the server codes and failed operations', () => {
    expect(exitForCode('MODEL_NOT_FOUND')).toBe(EXIT.NOT_FOUND);
    expect(exitForCode('INVALID_MODEL')).toBe(EXIT.NOT_FOUND);
    expect(exitForCode('BACKEND_UNAVAILABLE')).toBe(EXIT.NO_BACKEND);
    expect(exitForCode('VALIDATION')).toBeUndefined();
    expect(exitForStatus({ status: 'failed', error: { code: 'INVALID_MODEL', message: '' } })).toBe(4);
    expect(exitForStatus({ status: 'timeout', error: { code: 'TIMEOUT', message: '' } })).toBe(1);
  });
});
