import { inspect } from 'node:util';
import type { Logger } from './options.js';

export type LogLevel = keyof Logger;

export type Log = (level: LogLevel, message: string, data?: Record<string, unknown>) => void;

/** The levels, least severe first. */
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** The name in every line, and the `DEBUG` namespace that turns logging to stderr on. */
const NAME = 'workbook-sessions';

/**
 * Pino marks its loggers (children included, any copy of pino) with this registry symbol; its
 * methods take the data first, `(data, message)`, where console and winston take `(message, data)`.
 */
const PINO_MARK = Symbol.for('pino.serializers');

type Write = (level: LogLevel, message: string, data: Record<string, unknown> | undefined) => void;

/**
 * The manager's one way to write a log line: to `logger` in the argument order it takes, or without
 * one to stderr when the `DEBUG` environment variable asks for it; prefixed, and never throwing (a
 * logger that throws must not break the manager).
 */
export function logTo(logger: Logger | undefined, debug: string | undefined = process.env.DEBUG): Log {
  const write = logger === undefined ? stderrWriter(debug) : loggerWriter(logger);
  if (write === undefined) return () => undefined;
  return (level, message, data) => {
    try {
      write(level, message, data);
    } catch {
      /* a logger that throws must not break the manager */
    }
  };
}

function loggerWriter(logger: Logger): Write {
  if (PINO_MARK in logger) {
    // Pino treats arguments after the message as printf values and drops them without placeholders.
    const pino = logger as DataFirstLogger;
    return (level, message, data) => {
      if (data === undefined) pino[level]?.(`${NAME}: ${message}`);
      else pino[level]?.(data, `${NAME}: ${message}`);
    };
  }
  return (level, message, data) => {
    // No trailing `undefined` argument: console would print it.
    if (data === undefined) logger[level]?.(`${NAME}: ${message}`);
    else logger[level]?.(`${NAME}: ${message}`, data);
  };
}

/** Pino's argument order. */
type DataFirstLogger = {
  readonly [level in LogLevel]?: (first: Record<string, unknown> | string, message?: string) => void;
};

/**
 * Lines to stderr at the levels `debug` (the `DEBUG` variable's value) enables, or `undefined` when
 * it enables none. It is read the way the `debug` package reads it: names separated by commas or
 * spaces, `*` matching anything, a leading `-` excluding. `workbook-sessions` (or `*`) enables every
 * level; `workbook-sessions:info` enables `info` and the levels above it.
 */
function stderrWriter(debug: string | undefined): Write | undefined {
  const enabled = enabledLevels(debug);
  if (enabled.size === 0) return undefined;
  return (level, message, data) => {
    if (!enabled.has(level)) return;
    const detail = data === undefined ? '' : ` ${dataText(data)}`;
    process.stderr.write(`${new Date().toISOString()} ${NAME}:${level} ${message}${detail}\n`);
  };
}

/** The levels the `DEBUG` value `debug` turns on. */
export function enabledLevels(debug: string | undefined): ReadonlySet<LogLevel> {
  const include: RegExp[] = [];
  const exclude: RegExp[] = [];
  for (const name of (debug ?? '').split(/[\s,]+/)) {
    if (name === '' || name === '-') continue;
    if (name.startsWith('-')) exclude.push(namePattern(name.slice(1)));
    else include.push(namePattern(name));
  }
  const matches = (patterns: readonly RegExp[], name: string): boolean =>
    patterns.some((pattern) => pattern.test(name));
  const enabled = new Set<LogLevel>();
  LEVELS.forEach((level, index) => {
    const named = (at: LogLevel): boolean => matches(include, `${NAME}:${at}`);
    const included = matches(include, NAME) || LEVELS.slice(0, index + 1).some(named);
    const excluded = matches(exclude, NAME) || matches(exclude, `${NAME}:${level}`);
    if (included && !excluded) enabled.add(level);
  });
  return enabled;
}

/** A `debug` name as a whole-name pattern, `*` matching any run of characters. */
function namePattern(name: string): RegExp {
  const escaped = name.replace(/[|\\{}()[\]^$+?.]/g, '\\$&').replace(/\*/g, '.*?');
  return new RegExp(`^${escaped}$`);
}

/** The data as JSON, which log tools read (undefined values left out); what JSON cannot hold, inspected. */
function dataText(data: Record<string, unknown>): string {
  try {
    return JSON.stringify(data);
  } catch {
    return inspect(data, { breakLength: Infinity, depth: 4 });
  }
}
