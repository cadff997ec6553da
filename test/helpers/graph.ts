import { Client } from '@microsoft/microsoft-graph-client';
import { setupServer, type SetupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, vi } from 'vitest';
import { createBearerClient } from '../../src/transport/graph-client.js';
import { SessionManager, type SessionManagerOptions } from '../../src/manager/session-manager.js';
import {
  WorkbookService,
  startEmulator,
  type RunningEmulator,
  type WorkbookServiceOptions,
} from '../../src/testing/index.js';
import { createEmulatorHandlers } from '../../src/testing/msw.js';

export const BOOK_A = '/me/drive/items/A';
export const BOOK_B = '/me/drive/items/B';
export const BOOK_C = '/me/drive/items/C';
export const BOOK_D = '/me/drive/items/D';

export const books = (...paths: string[]): NonNullable<WorkbookServiceOptions['workbooks']> =>
  Object.fromEntries(
    paths.map((path) => [
      path,
      {
        worksheets: {
          Sheet1: {
            cells: [
              [1, 2],
              [3, 4],
            ],
          },
        },
      },
    ]),
  );

type ManagerOptions = Omit<SessionManagerOptions, 'client'>;

/** The emulator over HTTP on loopback, reached through the real Graph client. */
export async function overHttp(options: WorkbookServiceOptions = {}): Promise<{
  emulator: RunningEmulator;
  service: WorkbookService;
  client: Client;
  manager: (options?: ManagerOptions) => SessionManager;
  close: () => Promise<void>;
}> {
  const emulator = await startEmulator({ workbooks: books(BOOK_A, BOOK_B, BOOK_C, BOOK_D), ...options });
  const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
  const managers: SessionManager[] = [];
  return {
    emulator,
    service: emulator.service,
    client,
    manager: (more = {}) => {
      const manager = new SessionManager({ client, exitHooks: false, ...more });
      managers.push(manager);
      return manager;
    },
    close: async () => {
      await Promise.all(managers.map((m) => m.shutdown({ timeoutMs: 2000 })));
      await emulator.close();
    },
  };
}

/**
 * Creates a persistent session on the emulator the way a process that later crashed would have,
 * without this process's managers knowing of it; its id, for a journal line.
 */
export async function createdElsewhere(emulator: RunningEmulator, workbook: string): Promise<string> {
  const response = await emulator.service.handle(
    new Request(`${emulator.url}/v1.0${workbook}/workbook/createSession`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emulator.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ persistChanges: true }),
    }),
  );
  return ((await response.json()) as { id: string }).id;
}

/**
 * The same model behind msw handlers at graph.microsoft.com, reached through the Graph client's
 * default middleware chain (its own RetryHandler included, which our requests must turn off).
 */
export function overMsw(options: WorkbookServiceOptions = {}): {
  server: SetupServer;
  service: () => WorkbookService;
  client: Client;
  reset: (options?: WorkbookServiceOptions) => WorkbookService;
} {
  let service = new WorkbookService({ workbooks: books(BOOK_A, BOOK_B, BOOK_C, BOOK_D), ...options });
  const server = setupServer();
  const client = Client.init({ authProvider: (done) => done(null, service.token), defaultVersion: 'v1.0' });
  const reset = (more: WorkbookServiceOptions = {}): WorkbookService => {
    service = new WorkbookService({ workbooks: books(BOOK_A, BOOK_B, BOOK_C, BOOK_D), ...options, ...more });
    server.resetHandlers(...createEmulatorHandlers(service));
    return service;
  };
  reset();
  return { server, service: () => service, client, reset };
}

/** Settles a promise so a test can assert on its rejection later without an unhandled rejection. */
export function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The timers vitest fakes in the manager's tests: the ones the library uses, and Date for its clocks. */
export const FAKED_TIMERS = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;

/**
 * msw and vitest's fake clock for the tests of the enclosing file or describe block: registers the
 * lifecycle hooks (listen, a fresh service and fake timers per test, managers shut down after each),
 * and returns a manager factory and `flush`, which lets in-process requests run without moving the clock.
 */
export function fakeTimeGraph(): {
  graph: ReturnType<typeof overMsw>;
  manager: (options?: ManagerOptions) => SessionManager;
  flush: () => Promise<void>;
} {
  const graph = overMsw();
  const managers: SessionManager[] = [];
  beforeAll(() => graph.server.listen({ onUnhandledRequest: 'error' }));
  afterAll(() => graph.server.close());
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...FAKED_TIMERS] });
    graph.reset();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(managers.splice(0).map((m) => m.shutdown({ timeoutMs: 1000 })));
  });
  return {
    graph,
    manager: (options = {}) => {
      const m = new SessionManager({ client: graph.client, exitHooks: false, ...options });
      managers.push(m);
      return m;
    },
    flush: async () => {
      for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}
