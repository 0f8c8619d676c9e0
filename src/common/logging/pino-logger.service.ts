/**
 * Nest's LoggerService over pino: one JSON line per log with `level`, `time`, `context`, `msg`,
 * and, for a line about an operation (an OperationLogContext among the parameters), its
 * `operation_id`, `kind` and `job`; other fields come as a LogFields parameter (a request's id).
 */
import { ConsoleLogger, type LoggerService, type LogLevel } from '@nestjs/common';
import { DestinationStream, Level, LevelWithSilent, Logger, pino } from 'pino';
import type { AppConfig } from '../config/app-config';
import { LogFields, OperationLogContext } from './operation-context';

/** Nest's level names → pino's. */
const PINO_LEVEL: Record<LogLevel, Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/** AppConfig.logLevel → the lowest pino level written. */
const CONFIG_LEVEL: Record<AppConfig['logLevel'], LevelWithSilent> = {
  silent: 'silent',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
};

/** The same choice for Nest's ConsoleLogger (LOG_FORMAT=pretty). */
const CONSOLE_LEVELS: Record<AppConfig['logLevel'], LogLevel[] | false> = {
  silent: false,
  error: ['error', 'fatal'],
  warn: ['error', 'fatal', 'warn'],
  log: ['error', 'fatal', 'warn', 'log'],
  debug: ['error', 'fatal', 'warn', 'log', 'debug'],
};

/**
 * Nest's console logger (LOG_FORMAT=pretty) without the structured fields: their ids are in the
 * message text already, and the console logger would print the object as a message of its own.
 */
export class FieldsConsoleLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    const kept = messages.filter((m) => !(m instanceof LogFields || m instanceof OperationLogContext));
    super.printMessages(kept, context, logLevel, writeStreamType, errorStack, params);
  }
}

/** A pino logger with label levels and ISO times. */
export function createPino(level: AppConfig['logLevel'], destination?: DestinationStream): Logger {
  return pino(
    {
      level: CONFIG_LEVEL[level],
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Nest's stack check (ConsoleLogger): a string that looks like `Error: ...\n    at f (file:1:2)`. */
function isStack(value: unknown): value is string {
  return typeof value === 'string' && /^(.)+\n\s+at .+:\d+:\d+/.test(value);
}

export class PinoLoggerService implements LoggerService {
  constructor(readonly pino: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /** Nest passes the enabled levels; pino takes the lowest of them. */
  setLogLevels(levels: LogLevel[]): void {
    const order: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];
    const lowest = order.find((l) => levels.includes(l));
    this.pino.level = lowest ? PINO_LEVEL[lowest] : 'silent';
  }

  /**
   * Nest's calling convention (as ConsoleLogger reads it): a trailing string is the context (a
   * `new Logger('X')` appends it); for `error`, the parameter before it is a stack or an Error.
   */
  private write(level: LogLevel, message: unknown, params: unknown[]): void {
    const pinoLevel = PINO_LEVEL[level];
    if (!this.pino.isLevelEnabled(pinoLevel)) return;
    const rest = [...params];
    let fields: Record<string, unknown> = {};
    const about = rest.findIndex((p) => p instanceof OperationLogContext || p instanceof LogFields);
    if (about >= 0) fields = { ...(rest.splice(about, 1)[0] as OperationLogContext | LogFields).fields() };
    if (rest.length && typeof rest[rest.length - 1] === 'string' && !isStack(rest[rest.length - 1])) {
      fields.context = rest.pop();
    }
    if (level === 'error' || level === 'fatal') {
      const i = rest.findIndex((p) => isStack(p) || p instanceof Error);
      if (i >= 0) {
        const [found] = rest.splice(i, 1);
        if (found instanceof Error) fields.err = found;
        else fields.stack = found;
      }
      // `error(msg)` through a Logger with a context arrives as (msg, undefined, context).
      if (rest.length === 1 && rest[0] === undefined) rest.pop();
    }
    if (rest.length) fields.args = rest;
    let msg: string | undefined;
    if (typeof message === 'string') msg = message;
    else if (message instanceof Error) {
      fields.err = message;
      msg = message.message;
    } else if (message !== undefined) fields.data = message;
    this.pino[pinoLevel](fields, msg);
  }
}

/**
 * The logger `NestFactory.create` gets: JSON lines through pino (LOG_FORMAT=json, the default), or
 * Nest's console logger with the same levels (LOG_FORMAT=pretty).
 */
export function createAppLogger(
  config: Pick<AppConfig, 'logLevel' | 'logFormat'>,
  destination?: DestinationStream,
): LoggerService | LogLevel[] | false {
  if (config.logFormat === 'pretty') {
    const levels = CONSOLE_LEVELS[config.logLevel];
    return levels === false ? false : new FieldsConsoleLogger({ logLevels: levels });
  }
  return new PinoLoggerService(createPino(config.logLevel, destination));
}

/**
 * The start-up line (`... listening on <url> ...`), written whatever LOG_LEVEL says (scripts and the
 * specs wait for it): a JSON line at level info with `url` when logs are JSON, else plain text.
 */
export function announceListening(
  config: Pick<AppConfig, 'logFormat'>,
  url: string,
  msg: string,
  destination?: DestinationStream,
): void {
  if (config.logFormat === 'pretty') {
    process.stdout.write(`${msg}\n`);
    return;
  }
  createPino('log', destination).info({ context: 'Bootstrap', url }, msg);
}
