/** What every action gets: an SDK client (on --url or an in-process server with --local), output and exit codes. */
import {
  ApiClient,
  APIConnectionError,
  ApiError,
  MonitorOptions,
  MonitorResult,
  OperationKind,
} from '../../libs/client/src';
import { progressReporter } from './progress';

/**
 * Exit codes: 0 ok; 1 a test failed or a comparison says `regressed`; 2 usage; 3 server unreachable;
 * 6 a comparison is `inconclusive` (too noisy to tell, or configurations that do not match).
 */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, UNREACHABLE: 3, INCONCLUSIVE: 6 } as const;

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
  /** Follows an operation over the WebSocket (polling when it fails) with progress on stderr. */
  monitor<R>(kind: OperationKind, id: string, label: string): Promise<MonitorResult<R>>;
  close(): Promise<void>;
}

interface LocalServer {
  url: string;
  close(): Promise<void>;
}

/** createApp on 127.0.0.1, port 0, inside this process (DATA_DIR from the environment or ./data). */
async function startLocal(): Promise<LocalServer> {
  // Loaded lazily: the server (Nest, onnxruntime) is only needed by --local and serve.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { createApp } = require('../bootstrap') as typeof import('../bootstrap');
  const { loadConfig } =
    require('../common/config/app-config') as typeof import('../common/config/app-config');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const config = loadConfig(
    { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL || 'error' },
    { host: '127.0.0.1', port: 0 },
  );
  const app = await createApp(config);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { url, close: () => app.close() };
}

export async function createContext(opts: GlobalOptions): Promise<CliContext> {
  const tty = Boolean(process.stdout.isTTY && process.stderr.isTTY);
  const local = opts.local ? await startLocal() : undefined;
  const baseUrl = local?.url ?? opts.url ?? process.env.ACCELERATE_URL ?? 'http://localhost:8000';
  if (!/^https?:\/\//.test(baseUrl))
    throw new CliError(`--url must start with http:// or https://, got "${baseUrl}"`, EXIT.USAGE);
  const client = new ApiClient({ baseUrl, apiKey: opts.apiKey ?? process.env.API_KEY ?? undefined });
  return {
    client,
    tty,
    out: (line = '') => process.stdout.write(`${line}\n`),
    info: (line) => process.stderr.write(`${line}\n`),
    async monitor<R>(kind: OperationKind, id: string, label: string): Promise<MonitorResult<R>> {
      const reporter = progressReporter(label, tty);
      const options: MonitorOptions = { onProgress: reporter.update, intervalMs: 250 };
      try {
        if (kind === 'test') return (await client.monitorTestWs(id, options)) as MonitorResult<R>;
        if (kind === 'benchmark') return (await client.monitorBenchmarkWs(id, options)) as MonitorResult<R>;
        return (await client.monitorGeneration(id, { ...options, websocket: true })) as MonitorResult<R>;
      } finally {
        reporter.stop();
      }
    },
    async close() {
      await local?.close();
    },
  };
}

/** The exit code for an error thrown by an action, after printing it. */
export function reportError(err: unknown): number {
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof APIConnectionError) {
    process.stderr.write(`error: server unreachable: ${err.message}\n`);
    return EXIT.UNREACHABLE;
  }
  if (err instanceof ApiError) {
    process.stderr.write(`error: ${err.message}${err.code ? ` (${err.code})` : ''}\n`);
    if (err.details !== undefined) process.stderr.write(`details: ${JSON.stringify(err.details, null, 2)}\n`);
    // The server refused what was asked (bad field, unknown model): a usage error.
    return err.status === 400 || err.status === 422 ? EXIT.USAGE : EXIT.FAILED;
  }
  process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.FAILED;
}
