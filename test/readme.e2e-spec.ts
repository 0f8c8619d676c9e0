/**
 * The README's commands run as written. Every command in its fenced `sh` blocks, and every `$ ...`
 * line of its plain output blocks, is run here with bash in the repository root, in README order
 * (`npm run build` comes first, so `npx ipfs-accelerate` runs the built CLI), and must exit 0 —
 * unless it is listed in EXCLUDED with the reason it cannot run in a spec. A command that is neither
 * run nor excluded cannot appear: the spec fails on it, and on an exclusion the README no longer has.
 *
 * Like the README's examples, the CLI's `--local` commands write to `./data` (gitignored).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './fixtures';

jest.setTimeout(600_000);

const EXCLUDED: Record<string, string> = {
  'npm ci && npm start':
    'starts the server and never returns; test/logging.e2e-spec.ts starts it (src/main.ts) and reads its output',
  'npm ci && npm test': 'the whole test suite, this spec included; .ci/run runs it',
  'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install':
    'downloads the CUDA build of onnxruntime from outside the npm registry',
  'export MODEL_ROOTS=$PWD/../shared/fixtures':
    "the seed's integration example: test/integration.e2e-spec.ts runs these commands on free ports",
  'npx ipfs-accelerate serve --port 8001 --components generator &':
    'servers on fixed ports, left running; test/integration.e2e-spec.ts runs them on free ports',
  'npx ipfs-accelerate serve --port 8002 --components test &':
    'servers on fixed ports, left running; test/integration.e2e-spec.ts runs them on free ports',
  'npx ipfs-accelerate serve --port 8003 --components benchmark &':
    'servers on fixed ports, left running; test/integration.e2e-spec.ts runs them on free ports',
  'npx ts-node --transpile-only examples/workflow.ts ../shared/fixtures/hf-tiny/bert --seq-len 8 --generator-url http://localhost:8001 --test-url http://localhost:8002 --bench-url http://localhost:8003':
    'needs the three servers above; test/integration.e2e-spec.ts runs it against them on free ports',
  'docker compose -f docker/compose.yml up --build # API on http://localhost:8000':
    'no Docker engine here; .ci/run validates the compose file',
  'API_KEY=change-me-please POSTGRES_PASSWORD=... docker compose -f docker/compose.yml up -d --build':
    'no Docker engine here; .ci/run validates the compose file',
  'docker compose -f docker/compose.yml up -d --scale worker-2=3 # more workers of one kind':
    'no Docker engine here; .ci/run validates the compose file',
};

/** The commands of the README's fenced blocks, continuation lines joined, in order. */
export function readmeCommands(markdown: string): string[] {
  const commands: string[] = [];
  let fence: string | undefined;
  let pending = '';
  for (const raw of markdown.split('\n')) {
    // Blocks may be indented (inside a list item).
    const line = raw.trim();
    if (line.startsWith('```')) {
      fence = fence === undefined ? line.slice(3).trim() : undefined;
      continue;
    }
    if (fence === 'sh') {
      if (!line.trim() || line.trim().startsWith('#')) continue;
      if (line.endsWith('\\')) {
        pending += `${line.slice(0, -1).trim()} `;
        continue;
      }
      commands.push(`${pending}${line.trim()}`.replace(/\s+/g, ' '));
      pending = '';
    } else if (fence === '' && line.startsWith('$ ')) {
      commands.push(line.slice(2).trim());
    }
  }
  return commands;
}

describe('README', () => {
  const commands = readmeCommands(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));

  it('lists an exclusion only for a command it has', () => {
    expect(Object.keys(EXCLUDED).filter((c) => !commands.includes(c))).toEqual([]);
  });

  it('runs every other command as written, in order', () => {
    const run = commands.filter((c) => !(c in EXCLUDED));
    expect(run[0]).toBe('npm run build');
    expect(run.length).toBeGreaterThanOrEqual(10);
    for (const command of run) {
      const r = spawnSync('bash', ['-c', command], {
        cwd: REPO_ROOT,
        env: { ...process.env, COLUMNS: '110', ACCELERATE_URL: '' },
        encoding: 'utf8',
        timeout: 300_000,
      });
      // The command with its output, so a failure says which and why.
      expect({ command, status: r.status, output: `${r.stdout}\n${r.stderr}`.slice(-3000) }).toEqual({
        command,
        status: 0,
        output: expect.any(String),
      });
    }
  });
});
