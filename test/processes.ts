/**
 * Real processes for the specs and benchmarks that run the server as separate processes: a server
 * child with its output kept, a private redis-server, and a poll-until helper.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { REPO_ROOT } from './fixtures';
import { freePort } from './net';

/** An error that `until` passes on at once instead of retrying (a server that died will not come back). */
export function fatal(err: Error): Error {
  return Object.assign(err, { fatal: true });
}

/**
 * Polls `fn` every `every` ms until it returns something other than undefined or false, and
 * returns that. Errors are retried until the deadline (and then reported) unless marked `fatal`.
 */
export async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 60_000,
  every = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** A server child process: `node <args>` in the repository root, its output kept (the last 100 kB or more). */
export class ServerProcess {
  child!: ChildProcess;
  output = '';
  /** http://127.0.0.1:<port> once the server has logged `listening on …:<port>`. */
  url?: string;

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  start(): this {
    this.child = spawn(process.execPath, this.args, {
      cwd: REPO_ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (d: Buffer) => {
      this.output += String(d);
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
      const m = this.url ? null : /listening on \S*?:(\d+)/.exec(this.output);
      if (m) this.url = `http://127.0.0.1:${m[1]}`;
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    return this;
  }

  get pid(): number {
    return this.child.pid!;
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Its exit as an error with its output, or undefined while it runs. */
  died(): Error | undefined {
    if (this.alive()) return undefined;
    const how = this.child.signalCode ?? `code ${this.child.exitCode}`;
    return new Error(`${this.name} exited (${how}):\n${this.output.slice(-2000)}`);
  }

  /** Its URL once it listens; fails at once if it exits first. */
  ready(ms = 180_000): Promise<string> {
    return until(
      `${this.name} listening`,
      () => {
        assertAlive([this]);
        return this.url;
      },
      ms,
    );
  }

  exited(): Promise<void> {
    return this.alive() ? new Promise((r) => this.child.once('exit', () => r())) : Promise.resolve();
  }

  /** Sends `signal` and waits for the exit; with `killAfterMs`, sends SIGKILL if it has not exited by then. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', killAfterMs?: number): Promise<void> {
    if (!this.alive()) return;
    const exited = this.exited();
    this.child.kill(signal);
    const timer =
      killAfterMs === undefined ? undefined : setTimeout(() => this.child.kill('SIGKILL'), killAfterMs);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * The server from its TypeScript sources (`node -r ts-node/register/transpile-only src/main.ts`), as
 * `npm run start:dev` would run it: this process's environment, warnings only, then `env`. Not started.
 */
export function tsNodeServer(name: string, env: NodeJS.ProcessEnv): ServerProcess {
  return new ServerProcess(name, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    ...process.env,
    TS_NODE_PROJECT: 'tsconfig.spec.json',
    LOG_LEVEL: 'warn',
    ...env,
  });
}

/** Throws a fatal error (past `until`'s retries) as soon as one of the processes has exited. */
export function assertAlive(procs: readonly ServerProcess[]): void {
  for (const p of procs) {
    const died = p.died();
    if (died) throw fatal(died);
  }
}

/** A private redis-server on a free port, keeping nothing on disk. */
export class PrivateRedis {
  private child?: ChildProcess;
  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<PrivateRedis> {
    const redis = new PrivateRedis(port ?? (await freePort()));
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it again on the same port (after `kill`), and waits until it answers PING. */
  async restart(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await until(
      'redis up',
      () =>
        spawnSync('redis-cli', ['-p', String(this.port), 'ping'])
          .stdout?.toString()
          .includes('PONG'),
      30_000,
    );
  }

  /** Whether its process is alive (not killed). */
  get running(): boolean {
    const child = this.child;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  /** SIGSTOP: it keeps its connections open and answers nothing (a frozen or partitioned Redis). */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGCONT after `freeze`: it answers again, everything it held still there. */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL, and waits for the exit: everything it held is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}
