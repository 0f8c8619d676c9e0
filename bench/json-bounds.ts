/**
 * How long the JSON body parser's work (src/common/errors/edge-errors.ts: the scan of the text,
 * JSON.parse when the scan passes, the bounds on the parsed value) holds the event loop on the
 * worst bodies near BODY_LIMIT_BYTES (1 MiB). Prints figures; not a test.
 *
 *     npx ts-node --transpile-only bench/json-bounds.ts [--rounds 50]
 */
import { loadavg } from 'node:os';
import { jsonBodyProblem, jsonTextProblem } from '../src/common/errors/edge-errors';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 50;
const MiB = 1024 * 1024;
const bodies: Record<string, string> = {
  'nested 500k deep': '['.repeat(MiB / 2 - 1) + ']'.repeat(MiB / 2 - 1),
  '1 array of 250k items': `[${Array(250_000).fill(1).join(',')}]`,
  '10k-item arrays x 25': JSON.stringify(Array.from({ length: 25 }, () => Array(10_000).fill(0))),
  '10 arrays of 999 (under every bound)': JSON.stringify(
    Array.from({ length: 10 }, () => Array(999).fill(0)),
  ),
  'object of 80k keys': JSON.stringify(
    Object.fromEntries(Array.from({ length: 80_000 }, (_, i) => [`k${i}`, 0])),
  ),
  'one 1 MiB string': JSON.stringify({ model_name: 'x'.repeat(MiB - 20) }),
  'a valid benchmark request': JSON.stringify({ model_name: 'bert', batch_sizes: [1, 8], tags: ['a', 'b'] }),
};
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number, w: number) => x.toFixed(3).padStart(w);
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${rounds} rounds each`,
);
console.log(
  'body                                     bytes   scan p50 ms  parse+check p50 ms  total p50 ms  total max ms  answer',
);
for (const [name, text] of Object.entries(bodies)) {
  const scan: number[] = [];
  const parse: number[] = [];
  const total: number[] = [];
  let answer = 'ok';
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    let problem = jsonTextProblem(text);
    const t1 = performance.now();
    if (!problem) problem = jsonBodyProblem(JSON.parse(text) as unknown);
    const t2 = performance.now();
    scan.push(t1 - t0);
    parse.push(t2 - t1);
    total.push(t2 - t0);
    answer = problem ? `${problem.status} ${String(problem.details.limit)}` : 'ok';
  }
  console.log(
    `${name.padEnd(38)} ${String(text.length).padStart(9)}  ${ms(p50(scan), 11)}  ${ms(p50(parse), 18)}  ${ms(p50(total), 12)}  ${ms(Math.max(...total), 12)}  ${answer}`,
  );
}
