/** What every action gets: an SDK client (on --url or an in-process server with --local), output and exit codes. */
import {
  ApiClient,
  APIConnectionError,
  ApiError,
  MonitorOptions,
  MonitorResult,
  OperationKind,
} from '../../libs/client/src';
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { OperationStatus } from '../../libs/client/src';
import { ProgressReporter, progressReporter } from './progress';
import { paint, SHOW_CURSOR } from './term';

/**
 * Exit codes: 0 ok; 1 a test failed or a comparison says `regressed`; 2 usage (bad option, or a
 * request the server refused as such); 3 server unreachable (or unavailable: 502-504); 4 not found
 * or invalid model (404, or a model or run the server cannot find or load); 5 nothing measured or
 * tested because no requested backend is available; 6 a comparison is `inconclusive` (too noisy to
 * tell, or configurations that do not match); 130 interrupted (Ctrl-C: the operation is cancelled).
 */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  UNREACHABLE: 3,
  NOT_FOUND: 4,
  NO_BACKEND: 5,
  INCONCLUSIVE: 6,
  INTERRUPTED: 130,
} as const;

/** Error codes (server body `code`, or an operation's `error.code`) that mean: no such or no valid model. */
const MODEL_CODES = new Set(['NOT_FOUND', 'UNKNOWN_MODEL', 'MODEL_NOT_FOUND', 'INVALID_MODEL']);

/** The exit code for an error code the server gave (in an error body or a failed operation). */
export function exitForCode(code: string | undefined): number | undefined {
  if (code && MODEL_CODES.has(code)) return EXIT.NOT_FOUND;
  if (code === 'BACKEND_UNAVAILABLE') return EXIT.NO_BACKEND;
  return undefined;
}

/** The exit code of an operation that ended without results (failed, cancelled, timeout). */
export function exitForStatus(status: Pick<OperationStatus, 'status' | 'error'>): number {
  return exitForCode(status.error?.code) ?? EXIT.FAILED;
}

/**
 * A model argument as the server should get it. A local path (one that exists here, or that is
 * written as one: absolute, or starting with ./ or ../) is made absolute against this process's
 * working directory, so what `generate` prints can be passed to `test` from where it was run. Anything
 * else (`bert-base-uncased`, `google/flan-t5-small`, `models/bert` inside DATA_DIR) goes as typed
 * and the server resolves it (registry ids, then paths relative to DATA_DIR).
 */
export function modelArgument(model: string, cwd = process.cwd()): string {
  if (isAbsolute(model)) return model;
  const looksLikePath = /^\.\.?([/\\]|$)/.test(model);
  const abs = resolve(cwd, model);
  return looksLikePath || existsSync(abs) ? abs : model;
}

/** An error with the exit code the CLI should end with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface GlobalOptions {
  url?: string;
  apiKey?: string;
  local?: boolean;
}

export interface CliContext {
  client: ApiClient;
  /** Live progress bars (stdout and stderr are terminals) or plain lines. */
  tty: boolean;
  out(line?: string): void;
  info(line: string): void;
  /**
   * Follows an operation over the WebSocket (polling when it fails) with progress on stderr. While it
   * runs, Ctrl-C cancels it on the server (a second Ctrl-C exits at once).
   */
  monitor<R>(kind: OperationKind, id: string, label: string): Promise<MonitorResult<R>>;
  /** True once Ctrl-C was pressed: the command ends with EXIT.INTERRUPTED. */
  readonly interrupted: boolean;
  close(): Promise<void>;
}

interface LocalServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The folders an in-process server (--local) may also read models from: each argument that names a
 * local path (see modelArgument) — the folder itself, or a file's folder. The user who runs the CLI
 * can read them anyway; a server of its own reads only DATA_DIR and its MODEL_ROOTS.
 */
export function localModelRoots(args: readonly unknown[], cwd = process.cwd()): string[] {
  const roots = new Set<string>();
  for (const arg of args.flat()) {
    if (typeof arg !== 'string') continue;
    const p = modelArgument(arg, cwd);
    if (!isAbsolute(p) || !existsSync(p)) continue;
    roots.add(statSync(p).isDirectory() ? p : dirname(p));
  }
  return [...roots];
}

/** createApp on 127.0.0.1, port 0, inside this process (DATA_DIR from the environment or ./data). */
async function startLocal(extraRoots: readonly string[]): Promise<LocalServer> {
  // Loaded lazily: the server (Nest, onnxruntime) is only needed by --local and serve.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { createApp } = require('../bootstrap') as typeof import('../bootstrap');
  const { loadConfig } =
    require('../common/config/app-config') as typeof import('../common/config/app-config');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const roots = [...(process.env.MODEL_ROOTS ?? '').split(/[:,]/).filter(Boolean), ...extraRoots];
  const config = loadConfig(
    { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL || 'error', MODEL_ROOTS: roots.join(',') },
    { host: '127.0.0.1', port: 0 },
  );
  const app = await createApp(config);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { url, close: () => app.close() };
}

export async function createContext(opts: GlobalOptions, args: readonly unknown[] = []): Promise<CliContext> {
  const tty = Boolean(process.stdout.isTTY && process.stderr.isTTY);
  const local = opts.local ? await startLocal(localModelRoots(args)) : undefined;
  const baseUrl = local?.url ?? opts.url ?? process.env.ACCELERATE_URL ?? 'http://localhost:8000';
  if (!/^https?:\/\//.test(baseUrl))
    throw new CliError(`--url must start with http:// or https://, got "${baseUrl}"`, EXIT.USAGE);
  const client = new ApiClient({ baseUrl, apiKey: opts.apiKey ?? process.env.API_KEY ?? undefined });
  const info = (line: string) => process.stderr.write(`${line}\n`);

  // Ctrl-C: cancel the operation being followed on the server, restore the terminal, and let the
  // monitor see the run end `cancelled`; a second Ctrl-C (or none being followed) exits at once.
  let interrupted = false;
  let cancelling: Promise<void> | undefined;
  let current: { kind: OperationKind; id: string; reporter: ProgressReporter } | undefined;
  const restoreTerminal = () => {
    current?.reporter.stop();
    if (process.stderr.isTTY) process.stderr.write(SHOW_CURSOR);
  };
  const onSigint = () => {
    restoreTerminal();
    if (interrupted || !current) {
      info(paint.err('yellow', 'interrupted'));
      process.exit(EXIT.INTERRUPTED);
    }
    interrupted = true;
    const { kind, id } = current;
    info(
      paint.err('yellow', `interrupted: cancelling ${kind} ${id} on the server (Ctrl-C again to quit now)`),
    );
    const cancel =
      kind === 'test'
        ? client.cancelTest(id, { timeoutMs: 5000 })
        : kind === 'benchmark'
          ? client.cancelBenchmark(id, { timeoutMs: 5000 })
          : client.cancelGeneration(id, { timeoutMs: 5000 });
    cancelling = cancel.then(
      (r) => {
        info(r.cancelled ? `${kind} ${id} cancelled` : `${kind} ${id} had already ended`);
        // The monitor sees the final status and the command ends; should it not, exit anyway.
        setTimeout(() => process.exit(EXIT.INTERRUPTED), 15_000).unref();
      },
      (err: Error) => {
        info(paint.err('red', `error: could not cancel ${kind} ${id}: ${err.message}`));
        process.exit(EXIT.INTERRUPTED);
      },
    );
  };
  process.on('SIGINT', onSigint);

  return {
    client,
    tty,
    get interrupted() {
      return interrupted;
    },
    out: (line = '') => process.stdout.write(`${line}\n`),
    info,
    async monitor<R>(kind: OperationKind, id: string, label: string): Promise<MonitorResult<R>> {
      const reporter = progressReporter(label, tty);
      current = { kind, id, reporter };
      const options: MonitorOptions = { onProgress: reporter.update, intervalMs: 250 };
      try {
        if (kind === 'test') return (await client.monitorTestWs(id, options)) as MonitorResult<R>;
        if (kind === 'benchmark') return (await client.monitorBenchmarkWs(id, options)) as MonitorResult<R>;
        return (await client.monitorGeneration(id, { ...options, websocket: true })) as MonitorResult<R>;
      } finally {
        reporter.stop();
        current = undefined;
      }
    },
    async close() {
      // The cancel's answer is reported before the command ends.
      await cancelling;
      process.off('SIGINT', onSigint);
      await local?.close();
    },
  };
}

/** The exit code for an error thrown by an action, after printing it. */
export function reportError(err: unknown): number {
  const error = paint.err('red', 'error:');
  if (err instanceof CliError) {
    process.stderr.write(`${error} ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof APIConnectionError) {
    process.stderr.write(`${error} server unreachable: ${err.message}\n`);
    return EXIT.UNREACHABLE;
  }
  if (err instanceof ApiError) {
    process.stderr.write(`${error} ${err.message}${err.code ? ` (${err.code})` : ''}\n`);
    if (err.details !== undefined) process.stderr.write(`details: ${JSON.stringify(err.details, null, 2)}\n`);
    const byCode = exitForCode(err.code);
    if (byCode !== undefined) return byCode;
    const status = err.status ?? 0;
    if (status === 404) return EXIT.NOT_FOUND;
    if (status >= 502 && status <= 504) return EXIT.UNREACHABLE;
    // The server refused what was asked (a bad field, a path outside its roots, over a budget).
    return status >= 400 && status < 500 ? EXIT.USAGE : EXIT.FAILED;
  }
  process.stderr.write(`${error} ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.FAILED;
}
