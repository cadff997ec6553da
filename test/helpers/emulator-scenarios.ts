import { afterEach, describe, expect, it } from 'vitest';
import type { WorkbookServiceOptions } from '../../src/testing/index.js';
import { type EmulatorHarness, type HarnessFactory, type Reply, call, rawFetch } from './emulator-harness.js';

/** The service clock stands still unless a test calls advanceTime(). */
export const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);
export const WB = '/me/drive/items/01WORKBOOK';
export const WB2 = '/me/drive/items/02OTHER';
const V = '/v1.0';
const MIN = 60_000;

export function baseOptions(extra: WorkbookServiceOptions = {}): WorkbookServiceOptions {
  return {
    now: () => T0,
    workbooks: {
      [WB]: {
        worksheets: {
          Sheet1: {
            cells: [
              ['a', 'b'],
              [1, 2],
            ],
          },
          Data: { tables: { Sales: { columns: ['region', 'fruit', 'qty'], rows: [['north', 'apple', 10]] } } },
        },
      },
      [WB2]: {},
    },
    ...extra,
  };
}

/** Asserts the whole Graph error body, not just the status. */
export function expectGraphError(
  h: EmulatorHarness,
  reply: Reply,
  status: number,
  code: string,
  innerCode?: string,
): void {
  expect(reply.status).toBe(status);
  const requestId = reply.headers.get('request-id');
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(reply.body).toEqual({
    error: {
      code,
      message: expect.any(String),
      innerError: {
        ...(innerCode === undefined ? {} : { code: innerCode, message: expect.any(String) }),
        date: new Date(h.service.now()).toISOString().slice(0, 19),
        'request-id': requestId,
        'client-request-id': expect.any(String),
      },
    },
  });
}

/** Asserts a whole Graph error body whose codes nest to any depth: `codes[0]` top level, then innerError, ... */
export function expectErrorChain(h: EmulatorHarness, reply: Reply, status: number, codes: readonly string[]): void {
  expect(reply.status).toBe(status);
  const requestId = reply.headers.get('request-id');
  let nested: Record<string, unknown> | undefined;
  for (const code of codes.slice(2).reverse())
    nested = { code, message: expect.any(String), ...(nested === undefined ? {} : { innerError: nested }) };
  expect(reply.body).toEqual({
    error: {
      code: codes[0],
      message: expect.any(String),
      innerError: {
        ...(codes[1] === undefined ? {} : { code: codes[1], message: expect.any(String) }),
        ...(nested === undefined ? {} : { innerError: nested }),
        date: new Date(h.service.now()).toISOString().slice(0, 19),
        'request-id': requestId,
        'client-request-id': expect.any(String),
      },
    },
  });
}

function body<T>(reply: Reply): T {
  return reply.body as T;
}

/**
 * Every documented exchange, run once per transport, so the HTTP server and the msw handlers are
 * held to the same behaviour.
 */
export function defineEmulatorScenarios(transport: string, factory: HarnessFactory): void {
  describe(`emulator over ${transport}`, () => {
    // The harness of the running test; closed after it.
    let harness: EmulatorHarness | undefined;
    afterEach(async () => {
      await harness?.close();
      harness = undefined;
    });
    const start = async (extra: WorkbookServiceOptions = {}): Promise<EmulatorHarness> => {
      harness = await factory(baseOptions(extra));
      return harness;
    };
    const create = async (h: EmulatorHarness, persistChanges: boolean, workbook = WB): Promise<string> => {
      const reply = await call(h, 'POST', `${V}${workbook}/workbook/createSession`, { body: { persistChanges } });
      expect(reply.status).toBe(201);
      return body<{ id: string }>(reply).id;
    };

    it('createSession answers 201 with an opaque id and persistChanges', async () => {
      const h = await start();
      const reply = await call(h, 'POST', `${V}${WB}/workbook/createSession`, { body: { persistChanges: true } });
      expect(reply.status).toBe(201);
      const { id, persistChanges } = body<{ id: string; persistChanges: boolean }>(reply);
      expect(body(reply)).toEqual({
        '@odata.context': `${h.origin}/v1.0/$metadata#workbookSessionInfo`,
        id,
        persistChanges: true,
      });
      expect(persistChanges).toBe(true);
      expect(id).toMatch(/^cluster=EMU1&session=1\..*%2F.*==$/);
      expect(h.service.stats()).toMatchObject({ created: 1, open: 1, openByWorkbook: { [WB]: 1 } });
      expect(h.service.sessions()).toEqual([
        { id, workbook: WB, persistChanges: true, createdAt: T0, lastActivity: T0, state: 'open' },
      ]);
    });

    it(
      'createSession with Prefer: respond-async answers 202, then the operation goes ' +
        'notStarted, running, succeeded',
      async () => {
        const h = await start({ asyncCreate: { rate: 1, durationMs: MIN } });
        const accepted = await call(h, 'POST', `${V}${WB}/workbook/createSession`, {
          body: { persistChanges: true },
          headers: { Prefer: 'respond-async' },
        });
        expect(accepted.status).toBe(202);
        expect(accepted.body).toEqual({});
        const location = accepted.headers.get('location') ?? '';
        expect(location).toMatch(
          new RegExp(`^${h.origin.replace(/\./g, '\\.')}/v1\\.0${WB}/workbook/operations/[0-9a-f-]{36}$`),
        );
        const opId = location.split('/').pop();

        const first = await call(h, 'GET', location);
        expect(first.status).toBe(200);
        expect(first.body).toEqual({
          '@odata.context': `${h.origin}/v1.0/$metadata#workbookOperation`,
          id: opId,
          status: 'notStarted',
        });
        const second = await call(h, 'GET', location);
        expect(second.body).toEqual({
          '@odata.context': `${h.origin}/v1.0/$metadata#workbookOperation`,
          id: opId,
          status: 'running',
        });
        expect(h.service.stats().created).toBe(0);

        h.service.advanceTime(MIN);
        const done = await call(h, 'GET', location);
        const { resourceLocation } = body<{ resourceLocation: string }>(done);
        expect(done.body).toEqual({
          '@odata.context': `${h.origin}/v1.0/$metadata#workbookOperation`,
          id: opId,
          status: 'succeeded',
          resourceLocation,
        });
        expect(resourceLocation).toMatch(
          new RegExp(`^${h.origin.replace(/\./g, '\\.')}/v1\\.0${WB}/workbook/sessionInfoResource\\(key='\\w+'\\)$`),
        );
        expect(h.service.stats()).toMatchObject({ created: 1, open: 1 });

        const info = await call(h, 'GET', resourceLocation);
        expect(info.status).toBe(200);
        const id = h.service.sessions()[0]?.id;
        expect(info.body).toEqual({
          '@odata.context': `${h.origin}/v1.0/$metadata#workbookSessionInfo`,
          id,
          persistChanges: true,
        });
        expect((await call(h, 'POST', `${V}${WB}/workbook/refreshSession`, { session: id ?? '' })).status).toBe(204);
      },
    );

    it(
      'a long-running create nobody polls still makes its session when it completes: ' +
        'open, undelivered until a poll answers succeeded, then it expires',
      async () => {
        const h = await start({ asyncCreate: { rate: 1, durationMs: MIN } });
        const accepted = await call(h, 'POST', `${V}${WB}/workbook/createSession`, {
          body: { persistChanges: true },
          headers: { Prefer: 'respond-async' },
        });
        expect(h.service.stats()).toMatchObject({ created: 0, open: 0 });
        h.service.advanceTime(MIN);
        expect(h.service.stats()).toMatchObject({ created: 1, open: 1, openUndelivered: 1 });
        expect(h.service.sessions()[0]).toMatchObject({ createdAt: T0 + MIN, lastActivity: T0 + MIN, state: 'open' });
        const location = accepted.headers.get('location') ?? '';
        await call(h, 'GET', location);
        expect((await call(h, 'GET', location)).body).toMatchObject({ status: 'succeeded' });
        expect(h.service.stats()).toMatchObject({ created: 1, open: 1, openUndelivered: 0 });
        h.service.advanceTime(5 * MIN);
        expect(h.service.stats()).toMatchObject({ open: 0, expired: 1 });
      },
    );

    it('an operation failed by failNextOperation() answers 200 with status failed and the error', async () => {
      const h = await start({ asyncCreate: { rate: 1 } });
      h.service.failNextOperation({ workbook: WB, code: 'invalidSessionUnexpected', message: 'boom' });
      const accepted = await call(h, 'POST', `${V}${WB}/workbook/createSession`, {
        body: { persistChanges: false },
        headers: { Prefer: 'respond-async' },
      });
      const location = accepted.headers.get('location') ?? '';
      const opId = location.split('/').pop();
      expect((await call(h, 'GET', location)).body).toEqual({
        '@odata.context': `${h.origin}/v1.0/$metadata#workbookOperation`,
        id: opId,
        status: 'notStarted',
      });
      const failed = await call(h, 'GET', location);
      expect(failed.status).toBe(200);
      expect(failed.body).toEqual({
        '@odata.context': `${h.origin}/v1.0/$metadata#workbookOperation`,
        id: opId,
        status: 'failed',
        error: { code: 'invalidSessionUnexpected', message: 'boom' },
      });
      expect((await call(h, 'GET', location)).body).toEqual(failed.body);
      expect(h.service.stats()).toMatchObject({ created: 0, open: 0 });
    });

    it('without Prefer: respond-async, createSession answers 201 even when the async rate is 1', async () => {
      const h = await start({ asyncCreate: { rate: 1 } });
      await create(h, false);
      expect(h.service.stats().created).toBe(1);
    });

    it('refreshSession answers 204 and resets the inactivity clock', async () => {
      const h = await start();
      const id = await create(h, true);
      h.service.advanceTime(4 * MIN);
      const reply = await call(h, 'POST', `${V}${WB}/workbook/refreshSession`, { session: id });
      expect(reply.status).toBe(204);
      expect(reply.body).toBeNull();
      h.service.advanceTime(4 * MIN);
      expect(h.service.stats()).toMatchObject({ refreshed: 1, open: 1, expired: 0 });
      expect(h.service.sessions()[0]?.lastActivity).toBe(T0 + 4 * MIN);
    });

    it('closeSession answers 204 and the session is gone', async () => {
      const h = await start();
      const id = await create(h, true);
      const reply = await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id });
      expect(reply.status).toBe(204);
      expect(h.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
      expectGraphError(
        h,
        await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id }),
        404,
        'itemNotFound',
        'invalidSessionReCreatable',
      );
    });

    it('refreshSession and closeSession without workbook-session-id answer 400 invalidRequest', async () => {
      const h = await start();
      expectGraphError(
        h,
        await call(h, 'POST', `${V}${WB}/workbook/refreshSession`),
        400,
        'invalidRequest',
        'badRequestUncategorized',
      );
      expectGraphError(
        h,
        await call(h, 'POST', `${V}${WB}/workbook/closeSession`),
        400,
        'invalidRequest',
        'badRequestUncategorized',
      );
    });

    it('a persistent session expires after 5 minutes without activity: 404 invalidSessionReCreatable', async () => {
      const h = await start();
      const id = await create(h, true);
      h.service.advanceTime(5 * MIN - 1);
      expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`, { session: id })).status).toBe(200);
      h.service.advanceTime(5 * MIN);
      expectGraphError(
        h,
        await call(h, 'POST', `${V}${WB}/workbook/refreshSession`, { session: id }),
        404,
        'itemNotFound',
        'invalidSessionReCreatable',
      );
      expect(h.service.stats()).toMatchObject({ expired: 1, open: 0, closed: 0 });
      expect(h.service.sessions()[0]?.state).toBe('expired');
    });

    it('a non-persistent session is alive at 6 minutes and expired after 7', async () => {
      const h = await start();
      const id = await create(h, false);
      h.service.advanceTime(6 * MIN);
      expect(h.service.stats()).toMatchObject({ open: 1, expired: 0 });
      expect((await call(h, 'POST', `${V}${WB}/workbook/refreshSession`, { session: id })).status).toBe(204);
      h.service.advanceTime(7 * MIN);
      expect(h.service.stats()).toMatchObject({ open: 0, expired: 1 });
      expectGraphError(
        h,
        await call(h, 'GET', `${V}${WB}/workbook/worksheets`, { session: id }),
        404,
        'itemNotFound',
        'invalidSessionReCreatable',
      );
    });

    it('an unknown session, or one from another workbook, answers 404 invalidSessionReCreatable', async () => {
      const h = await start();
      expectGraphError(
        h,
        await call(h, 'POST', `${V}${WB}/workbook/refreshSession`, { session: 'cluster=X&session=nope' }),
        404,
        'itemNotFound',
        'invalidSessionReCreatable',
      );
      const other = await create(h, true, WB2);
      expectGraphError(
        h,
        await call(h, 'GET', `${V}${WB}/workbook/worksheets`, { session: other }),
        404,
        'itemNotFound',
        'invalidSessionReCreatable',
      );
    });

    it('expireSession() makes the service forget a session', async () => {
      const h = await start();
      const id = await create(h, true);
      expect(h.service.expireSession(id)).toBe(true);
      expect(h.service.expireSession(id)).toBe(false);
      expectGraphError(
        h,
        await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id }),
        404,
        'itemNotFound',
        'invalidSessionReCreatable',
      );
      expect(h.service.stats()).toMatchObject({ expired: 1, closed: 0, open: 0 });
    });

    it(
      'a non-persistent session writes to its own copy, which vanishes on close; a ' +
        'persistent one writes to the file',
      async () => {
        const h = await start();
        const temp = await create(h, false);
        const patched = await call(h, 'PATCH', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='A1')`, {
          session: temp,
          body: { values: [['temp']] },
        });
        expect(patched.status).toBe(200);
        expect(
          (await call(h, 'GET', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='A1')`, { session: temp })).body,
        ).toMatchObject({ values: [['temp']] });
        expect(
          (
            await call(h, 'POST', `${V}${WB}/workbook/tables('Sales')/rows/add`, {
              session: temp,
              body: { values: [['east', 'pear', 4]] },
            })
          ).status,
        ).toBe(200);
        expect(h.service.readRange(WB, 'Sheet1', 'A1')).toEqual([['a']]);
        expect(
          (await call(h, 'GET', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='A1')`)).body,
        ).toMatchObject({
          values: [['a']],
        });
        await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: temp });
        expect(h.service.readRange(WB, 'Sheet1', 'A1')).toEqual([['a']]);
        expect(h.service.tableRows(WB, 'Sales')).toEqual([['north', 'apple', 10]]);

        const kept = await create(h, true);
        await call(h, 'PATCH', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='B2')`, {
          session: kept,
          body: { values: [[42]] },
        });
        await call(h, 'POST', `${V}${WB}/workbook/tables('Sales')/rows/add`, {
          session: kept,
          body: { values: [['east', 'pear', 4]] },
        });
        expect(h.service.readRange(WB, 'Sheet1', 'A1:B2')).toEqual([
          ['a', 'b'],
          [1, 42],
        ]);
        await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: kept });
        expect(h.service.readRange(WB, 'Sheet1', 'A1:B2')).toEqual([
          ['a', 'b'],
          [1, 42],
        ]);
        expect(h.service.tableRows(WB, 'Sales')).toEqual([
          ['north', 'apple', 10],
          ['east', 'pear', 4],
        ]);
      },
    );

    it('a request without the bearer token answers 401 InvalidAuthenticationToken', async () => {
      const h = await start({ token: 'secret-token' });
      const none = await rawFetch(h, 'GET', `${V}${WB}/workbook/worksheets`);
      expectGraphError(h, none, 401, 'InvalidAuthenticationToken');
      const wrong = await rawFetch(h, 'GET', `${V}${WB}/workbook/worksheets`, { token: 'secret-tokem' });
      expectGraphError(h, wrong, 401, 'InvalidAuthenticationToken');
      expect(JSON.stringify(wrong.body)).not.toContain('secret');
      expect((await rawFetch(h, 'GET', `${V}${WB}/workbook/worksheets`, { token: 'secret-token' })).status).toBe(200);
      expect(h.service.stats()).toMatchObject({ unauthorized: 2, requests: 3 });
    });

    it(
      'a scripted 429 carries Retry-After, leaves the session open, and a request ' + 'during the cooldown is counted',
      async () => {
        const h = await start();
        const id = await create(h, true);
        h.service.injectFault({ workbook: WB, route: 'closeSession', count: 2, status: 429, retryAfterSeconds: 1 });
        const first = await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id });
        expectGraphError(h, first, 429, 'tooManyRequests', 'tooManyRequestsUncategorized');
        expect(first.headers.get('retry-after')).toBe('1');
        expect(h.service.openSessions(WB)).toBe(1);
        expect(h.service.stats().cooldownViolations).toBe(0);

        const tooSoon = await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id });
        expect(tooSoon.status).toBe(429);
        expect(h.service.stats().cooldownViolations).toBe(1);

        // Another workbook has no cooldown.
        expect((await call(h, 'GET', `${V}${WB2}/workbook/worksheets`)).status).toBe(200);
        h.service.advanceTime(1000);
        expect((await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id })).status).toBe(204);
        expect(h.service.stats()).toMatchObject({ cooldownViolations: 1, faultsInjected: 2, closed: 1, open: 0 });
        expect(h.service.stats().requestsByRoute).toMatchObject({ createSession: 1, closeSession: 3, worksheets: 1 });
      },
    );

    it('scripted 503 and 504 answer with their Excel codes; 503 carries Retry-After', async () => {
      const h = await start();
      h.service.injectFault({ route: 'createSession', status: 503 });
      h.service.injectFault({ route: 'createSession', status: 504 });
      const unavailable = await call(h, 'POST', `${V}${WB}/workbook/createSession`, { body: { persistChanges: true } });
      expectGraphError(h, unavailable, 503, 'serviceUnavailable', 'serviceUnavailableUncategorized');
      expect(unavailable.headers.get('retry-after')).toBe('1');
      h.service.advanceTime(1000);
      const timeout = await call(h, 'POST', `${V}${WB}/workbook/createSession`, { body: { persistChanges: true } });
      expectGraphError(h, timeout, 504, 'gatewayTimeout', 'gatewayTimeoutUncategorized');
      expect(timeout.headers.get('retry-after')).toBeNull();
      expect(h.service.stats()).toMatchObject({ created: 0, faultsInjected: 2 });
    });

    it('random faults are reproducible: the same seed gives the same statuses', async () => {
      const run = async (seed: number): Promise<number[]> => {
        const h = await start({ seed, faults: { rate: 0.5, kinds: ['429', '503', '504', '502'] } });
        const statuses: number[] = [];
        for (let i = 0; i < 16; i++) {
          statuses.push((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).status);
          // Keep clear of cooldowns so the sequence depends on the seed alone.
          h.service.advanceTime(1000);
        }
        expect(h.service.stats().faultsInjected).toBe(statuses.filter((s) => s !== 200).length);
        await h.close();
        harness = undefined;
        return statuses;
      };
      const a = await run(7);
      const b = await run(7);
      const c = await run(8);
      expect(a).toEqual(b);
      expect(a).toEqual(SEED_7_STATUSES);
      expect(c).not.toEqual(a);
    });

    it('a dropped connection fails the request and has no effect', async () => {
      const h = await start();
      h.service.injectFault({ workbook: WB, route: 'createSession', drop: true });
      await expect(
        call(h, 'POST', `${V}${WB}/workbook/createSession`, { body: { persistChanges: true } }),
      ).rejects.toMatchObject({ statusCode: -1, code: 'TypeError' });
      expect(h.service.stats()).toMatchObject({ created: 0, faultsInjected: 1, requests: 1, inFlight: 0 });
      await create(h, true);
      expect(h.service.stats()).toMatchObject({ created: 1, open: 1 });
    });

    it('malformed JSON answers 400 invalidArgument and the service keeps serving', async () => {
      const h = await start();
      const token = h.service.token;
      expectGraphError(
        h,
        await rawFetch(h, 'POST', `${V}${WB}/workbook/createSession`, { token, body: '{"persistChanges": tru' }),
        400,
        'invalidArgument',
        'invalidArgument',
      );
      expectGraphError(
        h,
        await rawFetch(h, 'POST', `${V}${WB}/workbook/createSession`, { token, body: '{"persistChanges": "yes"}' }),
        400,
        'invalidArgument',
        'invalidArgument',
      );
      expectGraphError(
        h,
        await rawFetch(h, 'PATCH', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='A1')`, { token, body: '[' }),
        400,
        'invalidArgument',
        'invalidArgument',
      );
      expect((await rawFetch(h, 'POST', `${V}${WB}/workbook/createSession`, { token })).body).toEqual({
        '@odata.context': `${h.origin}/v1.0/$metadata#workbookSessionInfo`,
        id: expect.any(String),
        persistChanges: false,
      });
      expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).status).toBe(200);
      expect(h.service.stats().created).toBe(1);
    });

    it('wrong methods answer 405, unknown routes 400, unknown items 404 itemNotFound', async () => {
      const h = await start();
      const wrong = await call(h, 'GET', `${V}${WB}/workbook/createSession`);
      expectGraphError(h, wrong, 405, 'methodNotAllowed', 'methodNotAllowedUncategorized');
      expect(wrong.headers.get('allow')).toBe('POST');
      expectGraphError(
        h,
        await call(h, 'GET', `${V}${WB}/workbook/charts`),
        400,
        'invalidRequest',
        'badRequestUncategorized',
      );
      expectGraphError(
        h,
        await call(h, 'POST', `${V}/me/drive/items/NOPE/workbook/createSession`, { body: { persistChanges: true } }),
        404,
        'itemNotFound',
      );
      expect(h.service.stats().requestsByRoute).toMatchObject({ createSession: 2, other: 1 });
    });

    it('counts the most requests in flight at once on one workbook, latency included', async () => {
      const h = await start({ latency: { fixedMs: 150 } });
      const list = (wb: string): Promise<Reply> => call(h, 'GET', `${V}${wb}/workbook/worksheets`);
      const replies = await Promise.all([list(WB), list(WB), list(WB), list(WB2), list(WB), list(WB2)]);
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(h.service.stats()).toMatchObject({
        maxInFlightPerWorkbook: 4,
        maxInFlightByWorkbook: { [WB]: 4, [WB2]: 2 },
        inFlight: 0,
      });
      await list(WB);
      expect(h.service.stats().maxInFlightPerWorkbook).toBe(4);
      h.service.resetStats();
      expect(h.service.stats()).toMatchObject({ maxInFlightPerWorkbook: 0, requests: 0 });
    });

    it('worksheets, range, usedRange and table rows answer like Graph', async () => {
      const h = await start();
      expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).body).toEqual({
        '@odata.context': `${h.origin}/v1.0/$metadata#Collection(workbookWorksheet)`,
        value: [
          { id: '{00000000-0001-0000-0000-000000000000}', name: 'Sheet1', position: 0, visibility: 'Visible' },
          { id: '{00000000-0001-0000-0100-000000000000}', name: 'Data', position: 1, visibility: 'Visible' },
        ],
      });
      const range = await call(h, 'GET', `${V}${WB}/workbook/worksheets/Sheet1/range(address=%27A1:C2%27)`);
      expect(range.body).toMatchObject({
        address: 'Sheet1!A1:C2',
        values: [
          ['a', 'b', ''],
          [1, 2, ''],
        ],
        rowCount: 2,
        columnCount: 3,
      });
      const patched = await call(h, 'PATCH', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='C3:D3')`, {
        body: { values: [[5, true]] },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ address: 'Sheet1!C3:D3', values: [[5, true]] });
      expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets('Sheet1')/usedRange`)).body).toMatchObject({
        address: 'Sheet1!A1:D3',
        rowCount: 3,
        columnCount: 4,
      });
      expectGraphError(
        h,
        await call(h, 'PATCH', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='A1:B1')`, {
          body: { values: [[1]] },
        }),
        400,
        'invalidArgument',
        'invalidArgument',
      );
      expectGraphError(
        h,
        await call(h, 'GET', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='ZZZZ1')`),
        400,
        'invalidArgument',
        'invalidArgument',
      );
      expectGraphError(
        h,
        await call(h, 'GET', `${V}${WB}/workbook/worksheets('Nope')/usedRange`),
        404,
        'itemNotFound',
        'notFoundUncategorized',
      );

      const added = await call(h, 'POST', `${V}${WB}/workbook/worksheets('Data')/tables('Sales')/rows/add`, {
        body: { values: [['east', 'pear', 4]] },
      });
      // tablerowcollection-add.md answers 200 OK (the primary form, POST tables/{name}/rows, answers 201).
      expect(added.status).toBe(200);
      expect(added.body).toEqual({
        '@odata.context': `${h.origin}/v1.0/$metadata#workbookTableRow`,
        index: 1,
        values: [['east', 'pear', 4]],
      });
      expectGraphError(
        h,
        await call(h, 'POST', `${V}${WB}/workbook/tables('Sales')/rows/add`, { body: { values: [['east', 'pear']] } }),
        400,
        'invalidArgument',
        'invalidArgument',
      );
      expect((await call(h, 'GET', `${V}${WB}/workbook/tables('Sales')/rows`)).body).toEqual({
        '@odata.context': `${h.origin}/v1.0/$metadata#Collection(workbookTableRow)`,
        value: [
          { index: 0, values: [['north', 'apple', 10]] },
          { index: 1, values: [['east', 'pear', 4]] },
        ],
      });
    });

    describe('faults with effects', () => {
      const ROWS = `${V}${WB}/workbook/worksheets('Data')/tables('Sales')/rows/add`;

      it(
        'a 504-applied fault on rows/add applies the write, answers the three-level 504, ' +
          'and appliedWrites() counts it',
        async () => {
          const h = await start();
          const id = await create(h, true);
          h.service.injectFault({ route: 'tableRowsAdd', kind: '504-applied' });
          const reply = await call(h, 'POST', ROWS, { session: id, body: { values: [['east', 'pear', 4]] } });
          expectErrorChain(h, reply, 504, [
            'gatewayTimeout',
            'gatewayTimeoutUncategorized',
            'MaxRequestDurationExceeded',
          ]);
          expect(h.service.tableRows(WB, 'Sales')).toEqual([
            ['north', 'apple', 10],
            ['east', 'pear', 4],
          ]);
          expect(h.service.stats()).toMatchObject({ writesApplied: 1, writesRepeated: 0, faultsInjected: 1 });
          // The same write sent again reaches the file a second time, and the log says so.
          // rows/add answers 200 (tablerowcollection-add.md); the primary form, POST rows, answers 201.
          expect((await call(h, 'POST', ROWS, { session: id, body: { values: [['east', 'pear', 4]] } })).status).toBe(
            200,
          );
          expect(h.service.appliedWrites()).toEqual([
            {
              workbook: WB,
              route: 'tableRowsAdd',
              key: expect.stringMatching(/^[0-9a-f]{16}$/),
              count: 2,
              clientRequestIds: [expect.any(String), expect.any(String)],
            },
          ]);
          expect(h.service.stats()).toMatchObject({ writesApplied: 2, writesRepeated: 1 });
          // A different body is a different write.
          expect((await call(h, 'POST', ROWS, { session: id, body: { values: [['west', 'fig', 1]] } })).status).toBe(
            200,
          );
          expect(h.service.appliedWrites().map((w) => w.count)).toEqual([2, 1]);
          h.service.resetStats();
          expect(h.service.appliedWrites()).toEqual([]);
        },
      );

      it('a drop-applied fault on rows/add applies the write and drops the connection', async () => {
        const h = await start();
        const id = await create(h, true);
        h.service.injectFault({ route: 'tableRowsAdd', kind: 'drop-applied' });
        await expect(
          call(h, 'POST', ROWS, { session: id, body: { values: [['east', 'pear', 4]] } }),
        ).rejects.toMatchObject({ statusCode: -1 });
        expect(h.service.tableRows(WB, 'Sales')).toEqual([
          ['north', 'apple', 10],
          ['east', 'pear', 4],
        ]);
        expect(h.service.stats()).toMatchObject({ writesApplied: 1, inFlight: 0 });
      });

      it('plain 504 and drop faults on rows/add are not applied and not logged', async () => {
        const h = await start();
        const id = await create(h, true);
        h.service.injectFault({ route: 'tableRowsAdd', kind: '504' });
        h.service.injectFault({ route: 'tableRowsAdd', kind: 'drop' });
        expectGraphError(
          h,
          await call(h, 'POST', ROWS, { session: id, body: { values: [['east', 'pear', 4]] } }),
          504,
          'gatewayTimeout',
          'gatewayTimeoutUncategorized',
        );
        await expect(
          call(h, 'POST', ROWS, { session: id, body: { values: [['east', 'pear', 4]] } }),
        ).rejects.toMatchObject({ statusCode: -1 });
        expect(h.service.tableRows(WB, 'Sales')).toEqual([['north', 'apple', 10]]);
        expect(h.service.stats()).toMatchObject({ writesApplied: 0, faultsInjected: 2 });
      });

      it('an applied-then-failed createSession leaves a real open session whose id no answer carried', async () => {
        const h = await start();
        h.service.injectFault({ route: 'createSession', kind: '504-applied' });
        h.service.injectFault({ route: 'createSession', kind: 'drop-applied' });
        expectErrorChain(
          h,
          await call(h, 'POST', `${V}${WB}/workbook/createSession`, { body: { persistChanges: true } }),
          504,
          ['gatewayTimeout', 'gatewayTimeoutUncategorized', 'MaxRequestDurationExceeded'],
        );
        await expect(
          call(h, 'POST', `${V}${WB}/workbook/createSession`, { body: { persistChanges: false } }),
        ).rejects.toMatchObject({ statusCode: -1 });
        expect(h.service.stats()).toMatchObject({
          created: 2,
          open: 2,
          undelivered: 2,
          openUndelivered: 2,
          openByWorkbook: { [WB]: 2 },
        });
        expect(h.service.sessions().map((s) => [s.persistChanges, s.state])).toEqual([
          [true, 'open'],
          [false, 'open'],
        ]);
        // Graph ends them when they expire; a delivered session is not counted.
        await create(h, true);
        h.service.advanceTime(7 * MIN);
        expect(h.service.stats()).toMatchObject({
          created: 3,
          open: 0,
          expired: 3,
          undelivered: 2,
          openUndelivered: 0,
        });
      });

      it('an applied-then-failed closeSession closes the session although the answer is a 504', async () => {
        const h = await start();
        const id = await create(h, true);
        h.service.injectFault({ route: 'closeSession', kind: '504-applied' });
        expect((await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id })).status).toBe(504);
        expect(h.service.stats()).toMatchObject({ closed: 1, open: 0 });
        expectGraphError(
          h,
          await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id }),
          404,
          'itemNotFound',
          'invalidSessionReCreatable',
        );
      });
    });

    describe('real error shapes', () => {
      it(
        'kind 500 answers internalServerError -> internalServerErrorUncategorized -> ' + 'GenericFileOpenError',
        async () => {
          const h = await start();
          h.service.injectFault({ route: 'worksheets', kind: '500' });
          expectErrorChain(h, await call(h, 'GET', `${V}${WB}/workbook/worksheets`), 500, [
            'internalServerError',
            'internalServerErrorUncategorized',
            'GenericFileOpenError',
          ]);
        },
      );

      it('a scripted chain nests to any depth with deeperCodes', async () => {
        const h = await start();
        h.service.injectFault({
          route: 'worksheets',
          status: 504,
          code: 'MaxRequestDurationExceeded',
          innerCode: 'gatewayTimeoutUncategorized',
          deeperCodes: ['MaxRequestDurationExceeded', 'Deeper'],
        });
        expectErrorChain(h, await call(h, 'GET', `${V}${WB}/workbook/worksheets`), 504, [
          'MaxRequestDurationExceeded',
          'gatewayTimeoutUncategorized',
          'MaxRequestDurationExceeded',
          'Deeper',
        ]);
      });

      it(
        'kind 429-bare answers TooManyRequests with no inner code and no Retry-After, ' + 'and starts no cooldown',
        async () => {
          const h = await start();
          h.service.injectFault({ route: 'worksheets', kind: '429-bare' });
          const reply = await call(h, 'GET', `${V}${WB}/workbook/worksheets`);
          expectGraphError(h, reply, 429, 'TooManyRequests');
          expect(reply.headers.get('retry-after')).toBeNull();
          expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).status).toBe(200);
          expect(h.service.stats().cooldownViolations).toBe(0);
        },
      );

      it('kind 503 carries Retry-After and kind 503-bare does not', async () => {
        const h = await start();
        h.service.injectFault({ route: 'worksheets', kind: '503-bare' });
        h.service.injectFault({ route: 'worksheets', kind: '503', retryAfterSeconds: 3 });
        const bare = await call(h, 'GET', `${V}${WB}/workbook/worksheets`);
        expectGraphError(h, bare, 503, 'serviceUnavailable', 'serviceUnavailableUncategorized');
        expect(bare.headers.get('retry-after')).toBeNull();
        const timed = await call(h, 'GET', `${V}${WB}/workbook/worksheets`);
        expectGraphError(h, timed, 503, 'serviceUnavailable', 'serviceUnavailableUncategorized');
        expect(timed.headers.get('retry-after')).toBe('3');
        expect(h.service.stats().cooldownViolations).toBe(0);
      });

      it(
        'Retry-After is sent as given: hours and future dates start a cooldown; 0, past ' + 'dates and nonsense do not',
        async () => {
          const h = await start();
          const future = new Date(T0 + 90_000).toUTCString();
          const past = new Date(T0 - 90_000).toUTCString();
          const list = (): Promise<Reply> => call(h, 'GET', `${V}${WB}/workbook/worksheets`);
          for (const value of ['0', past, 'Mon 1', 'in 10']) {
            h.service.injectFault({ route: 'worksheets', status: 429, retryAfter: value });
            expect((await list()).headers.get('retry-after')).toBe(value);
            expect((await list()).status).toBe(200);
          }
          expect(h.service.stats().cooldownViolations).toBe(0);
          h.service.injectFault({ route: 'worksheets', status: 503, retryAfter: future });
          expect((await list()).headers.get('retry-after')).toBe(future);
          h.service.advanceTime(89_999);
          await list();
          expect(h.service.stats().cooldownViolations).toBe(1);
          h.service.advanceTime(1);
          h.service.injectFault({ route: 'worksheets', status: 429, retryAfterSeconds: 7200 });
          expect((await list()).headers.get('retry-after')).toBe('7200');
          h.service.advanceTime(7_199_000);
          await list();
          expect(h.service.stats().cooldownViolations).toBe(2);
          h.service.advanceTime(1000);
          await list();
          expect(h.service.stats().cooldownViolations).toBe(2);
        },
      );

      it('a scripted 429 with retryAfterSeconds null sends no Retry-After', async () => {
        const h = await start();
        h.service.injectFault({ route: 'worksheets', status: 429, retryAfterSeconds: null });
        const reply = await call(h, 'GET', `${V}${WB}/workbook/worksheets`);
        expectGraphError(h, reply, 429, 'tooManyRequests', 'tooManyRequestsUncategorized');
        expect(reply.headers.get('retry-after')).toBeNull();
      });

      it('a failed operation carries its code chain under lowercase innererror', async () => {
        const h = await start({ asyncCreate: { rate: 1 } });
        h.service.failNextOperation({
          workbook: WB,
          code: 'serviceUnavailable',
          innerCodes: ['transientFailure', 'Deeper'],
          message: 'busy',
        });
        const accepted = await call(h, 'POST', `${V}${WB}/workbook/createSession`, {
          body: { persistChanges: true },
          headers: { Prefer: 'respond-async' },
        });
        const location = accepted.headers.get('location') ?? '';
        await call(h, 'GET', location);
        const failed = await call(h, 'GET', location);
        expect(failed.status).toBe(200);
        expect(failed.body).toEqual({
          '@odata.context': expect.stringMatching(/\/\$metadata#workbookOperation$/),
          id: location.split('/').pop(),
          status: 'failed',
          error: {
            code: 'serviceUnavailable',
            message: 'busy',
            innererror: { code: 'transientFailure', message: 'busy', innererror: { code: 'Deeper', message: 'busy' } },
          },
        });
        expect(h.service.stats()).toMatchObject({ created: 0, open: 0 });
      });

      it('asyncCreate.failRate fails operations from the seeded source with a drawn code, reproducibly', async () => {
        const run = async (seed: number): Promise<unknown[]> => {
          const h = await start({
            seed,
            asyncCreate: { rate: 1, failRate: 0.5, failCodes: ['transientFailure', 'accessDenied'] },
          });
          const errors: unknown[] = [];
          for (let i = 0; i < 12; i++) {
            const accepted = await call(h, 'POST', `${V}${WB}/workbook/createSession`, {
              body: { persistChanges: true },
              headers: { Prefer: 'respond-async' },
            });
            const location = accepted.headers.get('location') ?? '';
            await call(h, 'GET', location);
            errors.push((await call(h, 'GET', location)).body);
          }
          await h.close();
          harness = undefined;
          return errors.map((b) => (b as { error?: unknown }).error ?? 'succeeded');
        };
        const a = await run(3);
        expect(a).toEqual(await run(3));
        expect(a).toContain('succeeded');
        expect(a).toContainEqual({
          code: 'serviceUnavailable',
          message: expect.any(String),
          innererror: { code: 'transientFailure', message: expect.any(String) },
        });
        expect(a).toContainEqual({
          code: 'forbidden',
          message: expect.any(String),
          innererror: { code: 'accessDenied', message: expect.any(String) },
        });
      });

      it(
        'the random mix draws the new kinds, and invalidSessionAccessConflict only on ' + 'sessionful requests',
        async () => {
          const h = await start();
          const id = await create(h, true);
          h.service.setFaults({ rate: 1, kinds: ['invalidSessionAccessConflict'] });
          expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).status).toBe(200);
          expectGraphError(
            h,
            await call(h, 'GET', `${V}${WB}/workbook/worksheets`, { session: id }),
            409,
            'conflict',
            'invalidSessionAccessConflict',
          );
          h.service.setFaults({ rate: 1, kinds: ['429-bare'] });
          expectGraphError(h, await call(h, 'GET', `${V}${WB}/workbook/worksheets`), 429, 'TooManyRequests');
          h.service.setFaults({ rate: 1, kinds: ['503'], retryAfter: ['Mon 1'] });
          expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).headers.get('retry-after')).toBe('Mon 1');
          expect(h.service.stats()).toMatchObject({ faultsInjected: 3, cooldownViolations: 0 });
        },
      );
    });

    describe('edit-lock conflicts', () => {
      it('kind accessConflict answers 409 conflict -> accessConflict and changes nothing', async () => {
        const h = await start();
        h.service.injectFault({ route: 'range', kind: 'accessConflict' });
        expectGraphError(
          h,
          await call(h, 'PATCH', `${V}${WB}/workbook/worksheets('Sheet1')/range(address='A1')`, {
            body: { values: [['x']] },
          }),
          409,
          'conflict',
          'accessConflict',
        );
        expect(h.service.readRange(WB, 'Sheet1', 'A1')).toEqual([['a']]);
      });

      it('kind invalidSessionAccessConflict waits for a sessionful request and leaves the session open', async () => {
        const h = await start();
        h.service.injectFault({ kind: 'invalidSessionAccessConflict' });
        const id = await create(h, true);
        expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).status).toBe(200);
        expectGraphError(
          h,
          await call(h, 'GET', `${V}${WB}/workbook/worksheets`, { session: id }),
          409,
          'conflict',
          'invalidSessionAccessConflict',
        );
        expect(h.service.openSessions(WB)).toBe(1);
        expect((await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id })).status).toBe(204);
      });
    });

    describe('strictCooldowns', () => {
      it(
        'answers 429 with the time left to a request inside an announced cooldown, and ' + 'does not serve it',
        async () => {
          const h = await start({ strictCooldowns: true });
          const id = await create(h, true);
          h.service.injectFault({ workbook: WB, route: 'worksheets', status: 503, retryAfterSeconds: 3 });
          expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).status).toBe(503);
          h.service.advanceTime(1500);
          const rejected = await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id });
          expectGraphError(h, rejected, 429, 'tooManyRequests', 'tooManyRequestsUncategorized');
          expect(rejected.headers.get('retry-after')).toBe('2');
          expect(h.service.openSessions(WB)).toBe(1);
          expect(h.service.stats()).toMatchObject({ cooldownViolations: 1, cooldownRejections: 1 });
          // Other workbooks are not in the cooldown; and it is not lengthened by the rejection.
          expect((await call(h, 'GET', `${V}${WB2}/workbook/worksheets`)).status).toBe(200);
          h.service.advanceTime(1500);
          expect((await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: id })).status).toBe(204);
          expect(h.service.stats()).toMatchObject({ cooldownViolations: 1, cooldownRejections: 1, closed: 1 });
        },
      );

      it('is off by default: a request inside the cooldown is counted and served', async () => {
        const h = await start();
        h.service.injectFault({ workbook: WB, route: 'worksheets', status: 429, retryAfterSeconds: 3 });
        await call(h, 'GET', `${V}${WB}/workbook/worksheets`);
        expect((await call(h, 'GET', `${V}${WB}/workbook/worksheets`)).status).toBe(200);
        expect(h.service.stats()).toMatchObject({ cooldownViolations: 1, cooldownRejections: 0 });
      });
    });

    describe('maxSessionsPerWorkbook', () => {
      it(
        'answers createSession beyond the cap with 429 MaxSessionsPerWorkbookExceeded, ' +
          'per workbook, until a session ends',
        async () => {
          const h = await start({ maxSessionsPerWorkbook: 2 });
          const first = await create(h, true);
          await create(h, false);
          const refused = await call(h, 'POST', `${V}${WB}/workbook/createSession`, { body: { persistChanges: true } });
          expectErrorChain(h, refused, 429, [
            'tooManyRequests',
            'tooManyRequestsUncategorized',
            'MaxSessionsPerWorkbookExceeded',
          ]);
          expect(refused.headers.get('retry-after')).toBeNull();
          expect(h.service.stats()).toMatchObject({ created: 2, sessionCapRejections: 1, cooldownViolations: 0 });
          await create(h, true, WB2);
          await call(h, 'POST', `${V}${WB}/workbook/closeSession`, { session: first });
          await create(h, true);
          // Expired sessions free their place too.
          h.service.advanceTime(7 * MIN);
          await create(h, true);
          await create(h, true);
          expect(h.service.stats()).toMatchObject({ created: 6, sessionCapRejections: 1 });
        },
      );

      it('fails a long-running create with the same codes when the cap is reached before it completes', async () => {
        // The operation takes a minute: the cap is reached (by a quick create) before it completes.
        const h = await start({ maxSessionsPerWorkbook: 1, asyncCreate: { rate: 1, durationMs: MIN } });
        const accepted = await call(h, 'POST', `${V}${WB}/workbook/createSession`, {
          body: { persistChanges: true },
          headers: { Prefer: 'respond-async' },
        });
        await create(h, true);
        h.service.advanceTime(MIN);
        const location = accepted.headers.get('location') ?? '';
        await call(h, 'GET', location);
        expect((await call(h, 'GET', location)).body).toMatchObject({
          status: 'failed',
          error: {
            code: 'tooManyRequests',
            innererror: {
              code: 'tooManyRequestsUncategorized',
              innererror: { code: 'MaxSessionsPerWorkbookExceeded' },
            },
          },
        });
        expect(h.service.stats()).toMatchObject({ created: 1, sessionCapRejections: 1 });
      });
    });
  });
}

/** What seed 7 gives for 16 requests at rate 0.5 over 429/503/504/502; the same over both transports. */
export const SEED_7_STATUSES: readonly number[] = [
  429, 200, 200, 429, 200, 429, 200, 503, 504, 502, 502, 429, 503, 200, 502, 200,
];
