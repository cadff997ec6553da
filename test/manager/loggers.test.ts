// The `logger` option with the loggers people use, as they are: pino, winston and console each get
// the message and its data. Pino through a destination it writes its JSON lines to, winston through
// its stream transport, console through a Console on a stream.

import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import winston from 'winston';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Logger } from '../../src/index.js';
import { enabledLevels, logTo } from '../../src/manager/log.js';
import { BOOK_A, overHttp } from '../helpers/graph.js';

let env: Awaited<ReturnType<typeof overHttp>>;

beforeEach(async () => {
  env = await overHttp();
});

afterEach(async () => {
  await env.close();
});

/** Opens a session on BOOK_A and shuts the manager down, which closes it: lines at debug and info. */
async function openCloseShutdown(logger: Logger): Promise<void> {
  const sessions = env.manager({ logger });
  await sessions.open(BOOK_A);
  await sessions.shutdown();
}

/** A stream that keeps what is written to it, line by line. */
function lineSink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

describe('the logger option with pino', () => {
  test('pino receives the message and the data, in its own (data, message) order', async () => {
    const written: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void written.push(line) });

    await openCloseShutdown(logger);

    const records = written.map((line) => JSON.parse(line) as Record<string, unknown>);
    const opened = records.find((r) => r.msg === 'workbook-sessions: session opened');
    expect(opened).toMatchObject({ level: 20, workbook: BOOK_A });
    expect(opened?.id).toEqual(expect.any(String));
    const shuttingDown = records.find((r) => r.msg === 'workbook-sessions: shutting down');
    expect(shuttingDown).toMatchObject({ level: 30, sessions: 1, timeoutMs: 10_000 });
    const shutDown = records.find((r) => r.msg === 'workbook-sessions: shut down');
    expect(shutDown).toMatchObject({ level: 30, closed: 1, leftOpen: 0, timedOut: false });
    expect(shutDown).not.toHaveProperty('sessions');
  });

  test("a pino child logger is recognized too, and keeps the child's bindings", async () => {
    const written: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void written.push(line) }).child({ app: 'x' });

    await openCloseShutdown(logger);

    const records = written.map((line) => JSON.parse(line) as Record<string, unknown>);
    // At level info: the debug lines are pino's to drop.
    expect(records.map((r) => r.msg)).toEqual(['workbook-sessions: shutting down', 'workbook-sessions: shut down']);
    expect(records[0]).toMatchObject({ app: 'x', level: 30, sessions: 1 });
  });
});

describe('the logger option with winston', () => {
  test('winston receives the message and the data, (message, data) as it takes them', async () => {
    const infos: winston.Logform.TransformableInfo[] = [];
    // In object mode, winston's stream transport hands over each line as the object it built.
    const stream = new Writable({
      objectMode: true,
      write(info: winston.Logform.TransformableInfo, _encoding, done) {
        infos.push(info);
        done();
      },
    });
    const logger = winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] });

    await openCloseShutdown(logger);
    // Winston hands lines to its transports through streams: wait until the last one arrives.
    await until(() => infos.some((info) => info.message === 'workbook-sessions: shut down'));

    const opened = infos.find((info) => info.message === 'workbook-sessions: session opened');
    expect(opened).toMatchObject({ level: 'debug', workbook: BOOK_A });
    const shutDown = infos.find((info) => info.message === 'workbook-sessions: shut down');
    expect(shutDown).toMatchObject({ level: 'info', closed: 1, leftOpen: 0, timedOut: false });
  });

  test('winston with a JSON format on a stream writes the data as fields', async () => {
    const { stream, lines } = lineSink();
    const logger = winston.createLogger({
      level: 'info',
      format: winston.format.json(),
      transports: [new winston.transports.Stream({ stream })],
    });

    await openCloseShutdown(logger);
    await until(() => lines.length === 2);

    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      { level: 'info', message: 'workbook-sessions: shutting down', sessions: 1, timeoutMs: 10_000 },
      expect.objectContaining({ level: 'info', message: 'workbook-sessions: shut down', closed: 1, leftOpen: 0 }),
    ]);
  });
});

describe('the logger option with console', () => {
  test('a Console prints the message and the data', async () => {
    const out = lineSink();
    const err = lineSink();
    const logger = new Console({ stdout: out.stream, stderr: err.stream, colorMode: false });

    await openCloseShutdown(logger);

    expect(out.lines.find((line) => line.includes('session opened'))).toMatch(
      /^workbook-sessions: session opened \{ id: '.+', workbook: '\/me\/drive\/items\/A' \}$/,
    );
    expect(out.lines).toContain('workbook-sessions: shutting down { sessions: 1, timeoutMs: 10000 }');
    expect(err.lines).toEqual([]);
  });
});

describe('the logger option, checked', () => {
  test('a level that is there but not a function is refused, with the value named', () => {
    const logger = { debug: () => undefined, info: 'yes' } as unknown as Logger;
    expect(() => env.manager({ logger })).toThrow(
      new TypeError('Expected `logger.info` to be a function, got "yes" (string)'),
    );
  });

  test('levels that are missing are fine: those lines are not written', async () => {
    const warnings: string[] = [];
    await openCloseShutdown({ warn: (message: string) => void warnings.push(message) });
    expect(warnings).toEqual([]);
  });
});

describe('logTo()', () => {
  test('a call without data passes the message alone (console would print a trailing undefined)', () => {
    const calls: unknown[][] = [];
    const log = logTo({ info: (...args: unknown[]) => void calls.push(args) }, undefined);
    log('info', 'hello');
    log('info', 'with data', { a: 1 });
    expect(calls).toEqual([['workbook-sessions: hello'], ['workbook-sessions: with data', { a: 1 }]]);
  });

  test('pino gets the message alone without data, and (data, message) with it', () => {
    const written: string[] = [];
    const log = logTo(pino({ level: 'debug' }, { write: (line: string) => void written.push(line) }), undefined);
    log('warn', 'plain');
    log('error', 'with data', { a: 1 });
    expect(written.map((line) => JSON.parse(line) as unknown)).toEqual([
      expect.objectContaining({ level: 40, msg: 'workbook-sessions: plain' }),
      expect.objectContaining({ level: 50, msg: 'workbook-sessions: with data', a: 1 }),
    ]);
  });

  test('a logger that throws, or lacks a level, never breaks the caller', () => {
    const log = logTo(
      {
        warn: () => {
          throw new Error('broken logger');
        },
      },
      undefined,
    );
    expect(() => log('warn', 'x', { a: 1 })).not.toThrow();
    expect(() => log('debug', 'x')).not.toThrow();
  });

  test('with a logger, DEBUG is ignored: the logger gets every line and stderr none', () => {
    const calls: string[] = [];
    const writes: unknown[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: unknown): boolean => writes.push(chunk) > 0;
    try {
      logTo({ debug: (message: string) => void calls.push(message) }, 'workbook-sessions')('debug', 'x');
    } finally {
      process.stderr.write = write;
    }
    expect(calls).toEqual(['workbook-sessions: x']);
    expect(writes).toEqual([]);
  });
});

describe('enabledLevels(): the DEBUG variable, read as the debug package reads it', () => {
  test.each([
    [undefined, []],
    ['', []],
    ['express:*', []],
    ['workbook-sessions', ['debug', 'info', 'warn', 'error']],
    ['*', ['debug', 'info', 'warn', 'error']],
    ['workbook-*', ['debug', 'info', 'warn', 'error']],
    ['workbook-sessions:*', ['debug', 'info', 'warn', 'error']],
    ['workbook-sessions:info', ['info', 'warn', 'error']],
    ['express:*,workbook-sessions:warn', ['warn', 'error']],
    ['workbook-sessions:error', ['error']],
    ['workbook-sessions:*,-workbook-sessions:debug', ['info', 'warn', 'error']],
    ['* -workbook-sessions', []],
    ['workbook-sessions-other', []],
    ['workbook.sessions', []],
  ])('DEBUG=%j enables %j', (debug, levels) => {
    expect([...enabledLevels(debug)]).toEqual(levels);
  });
});

/** Polls `condition` until it holds; fails after 2 s. */
async function until(condition: () => boolean): Promise<void> {
  const end = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met within 2000 ms');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
