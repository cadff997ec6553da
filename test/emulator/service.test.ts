import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkbookService } from '../../src/testing/index.js';
import { DroppedConnectionError } from '../../src/testing/index.js';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);
const TOKEN = 'test-token';

function service(extra: ConstructorParameters<typeof WorkbookService>[0] = {}): WorkbookService {
  return new WorkbookService({ token: TOKEN, now: () => T0, ...extra });
}

async function send(
  svc: WorkbookService,
  method: string,
  path: string,
  init: { body?: unknown; session?: string } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers = new Headers({ Authorization: `Bearer ${TOKEN}` });
  if (init.session !== undefined) headers.set('workbook-session-id', init.session);
  const res = await svc.handle(
    new Request(`https://graph.microsoft.com${path}`, {
      method,
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    }),
  );
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown), headers: res.headers };
}

describe('WorkbookService options', () => {
  it('refuses bad values, naming them', () => {
    expect(() => new WorkbookService({ persistentSessionTimeoutMs: -5 })).toThrow(
      new RangeError('Expected `persistentSessionTimeoutMs` to be a finite number >= 1, got `-5` (number)'),
    );
    expect(() => new WorkbookService({ faults: { rate: 2 } })).toThrow(
      new RangeError('Expected `faults.rate` to be a number from 0 to 1, got `2` (number)'),
    );
    expect(() => new WorkbookService({ asyncCreate: { rate: -0.1 } })).toThrow(RangeError);
    expect(() => new WorkbookService({ seed: 1.5 })).toThrow(
      new RangeError('Expected `seed` to be an integer, got `1.5` (number)'),
    );
    expect(() => new WorkbookService({ token: '' })).toThrow(TypeError);
    expect(() => new WorkbookService({ latency: { fixedMs: Number.NaN } })).toThrow(
      new RangeError('Expected `latency.fixedMs` to be a finite number >= 0, got `NaN` (number)'),
    );
    expect(() => new WorkbookService({ workbooks: { 'https://evil/x': {} } })).toThrow(TypeError);
    // @ts-expect-error: unknown keys are refused
    expect(() => new WorkbookService({ tokn: 'x' })).toThrow(new TypeError('Unknown option `tokn`'));
  });

  it('refuses a fault spec that does nothing, or with bad values', () => {
    const svc = service();
    expect(() => svc.injectFault({ route: 'closeSession' })).toThrow(
      new TypeError('A fault needs `kind`, `status`, `drop: true` or `delayMs`'),
    );
    expect(() => svc.injectFault({ status: 429, count: 0 })).toThrow(
      new RangeError('Expected `spec.count` to be an integer >= 1, got `0` (number)'),
    );
    // @ts-expect-error: not a route
    expect(() => svc.injectFault({ status: 429, route: 'close' })).toThrow(TypeError);
    expect(() => svc.advanceTime(-1)).toThrow(RangeError);
  });

  it('refuses bad values of the fault, cooldown and cap options, naming them', () => {
    expect(() => new WorkbookService({ strictCooldowns: 'yes' as never })).toThrow(
      new TypeError('Expected `strictCooldowns` to be a boolean, got "yes" (string)'),
    );
    expect(() => new WorkbookService({ maxSessionsPerWorkbook: 0 })).toThrow(
      new RangeError('Expected `maxSessionsPerWorkbook` to be an integer >= 1, got `0` (number)'),
    );
    expect(() => new WorkbookService({ faults: { rate: 0.1, retryAfter: [] } })).toThrow(
      new TypeError('Expected `faults.retryAfter` to be a non-empty array of header values (visible ASCII), got []'),
    );
    expect(() => new WorkbookService({ faults: { rate: 0.1, kinds: ['418' as never] } })).toThrow(TypeError);
    expect(() => new WorkbookService({ asyncCreate: { failCodes: ['a b'] } })).toThrow(
      new TypeError('Expected `asyncCreate.failCodes` to be a non-empty array of error codes, got ["a b"]'),
    );
    expect(() => new WorkbookService({ asyncCreate: { failRate: 1.5 } })).toThrow(
      new RangeError('Expected `asyncCreate.failRate` to be a number from 0 to 1, got `1.5` (number)'),
    );
    const svc = service();
    expect(() => svc.injectFault({ applied: true, delayMs: 5 })).toThrow(
      new TypeError('An `applied` fault needs a `status` or `drop: true` to replace the answer with'),
    );
    expect(() => svc.injectFault({ kind: 'nope' as never })).toThrow(
      /^Expected `spec.kind` to be one of 429, 429-bare, .*, got "nope" \(string\)$/,
    );
    expect(() => svc.injectFault({ status: 429, retryAfter: '1', retryAfterSeconds: 1 })).toThrow(
      new TypeError('Give `spec.retryAfter` or `spec.retryAfterSeconds`, not both'),
    );
    expect(() => svc.injectFault({ status: 429, retryAfter: 'a\nb' })).toThrow(TypeError);
    expect(() => svc.failNextOperation({ innerCodes: [] })).toThrow(
      new TypeError('Expected `innerCodes` to be a non-empty array of error codes, got []'),
    );
    expect(svc.stats()).toMatchObject({ requests: 0 });
  });

  it('handle() refuses options that are not { signal?: AbortSignal }, naming them', async () => {
    const svc = service();
    const request = (): Request => new Request('https://graph.microsoft.com/v1.0/me/drive/items/A/workbook/worksheets');
    await expect(svc.handle(request(), { signal: 'stop' } as never)).rejects.toThrow(
      new TypeError('Expected `signal` to be an AbortSignal, got "stop" (string)'),
    );
    await expect(svc.handle(request(), { signl: AbortSignal.abort() } as never)).rejects.toThrow(TypeError);
  });

  it('generates a random token by default and keeps one given', () => {
    // Hex, so that it can follow `--token` on a command line: a token starting with "-" reads as an option.
    for (let i = 0; i < 200; i++) expect(new WorkbookService().token).toMatch(/^[0-9a-f]{48}$/);
    expect(new WorkbookService().token).not.toBe(new WorkbookService().token);
    expect(service().token).toBe(TOKEN);
  });
});

describe('WorkbookService addressing', () => {
  it(
    'treats root:/a b.xlsx: and root:/a%20b.xlsx: as the same ' + 'item, and accepts drives, sites, users and beta',
    async () => {
      const svc = service({
        workbooks: {
          '/me/drive/root:/Reports/a b.xlsx:': {},
          '/drives/d1/items/I1': {},
          '/sites/s1/drive/items/I2': {},
          '/users/u1/drive/items/I3': {},
        },
      });
      expect(svc.hasWorkbook('/me/drive/root:/Reports/a%20b.xlsx:')).toBe(true);
      expect((await send(svc, 'GET', '/v1.0/me/drive/root:/Reports/a%20b.xlsx:/workbook/worksheets')).status).toBe(200);
      expect((await send(svc, 'GET', '/beta/drives/d1/items/I1/workbook/worksheets')).status).toBe(200);
      expect((await send(svc, 'GET', '/v1.0/sites/s1/drive/items/I2/workbook/worksheets')).status).toBe(200);
      expect((await send(svc, 'GET', '/v1.0/users/u1/drive/items/I3/workbook/worksheets')).status).toBe(200);
      expect((await send(svc, 'GET', '/v1.0/me/drive/items/I1/workbook/worksheets')).status).toBe(404);
      const created = await send(svc, 'POST', '/v1.0/me/drive/root:/Reports/a b.xlsx:/workbook/createSession', {
        body: { persistChanges: false },
      });
      expect(created.status).toBe(201);
      expect(svc.openSessions('/me/drive/root:/Reports/a%20b.xlsx:')).toBe(1);
    },
  );

  it("accepts quotes as ' or %27 and the worksheets/{name} form", async () => {
    const svc = service({ workbooks: { '/me/drive/items/A': { worksheets: { 'My Sheet': { cells: [[1, 2]] } } } } });
    for (const path of [
      "worksheets('My Sheet')/range(address='A1:B1')",
      'worksheets(%27My%20Sheet%27)/range(address=%27A1:B1%27)',
      "worksheets/My%20Sheet/range(address='A1:B1')",
    ]) {
      const reply = await send(svc, 'GET', `/v1.0/me/drive/items/A/workbook/${path}`);
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ address: "'My Sheet'!A1:B1", values: [[1, 2]] });
    }
  });

  it('answers a path that is not a workbook call with 400, and never echoes the Authorization header', async () => {
    const svc = service();
    const reply = await send(svc, 'GET', '/v1.0/me');
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).not.toContain(TOKEN);
    expect([...reply.headers.keys()]).not.toContain('authorization');
  });
});

describe('WorkbookService model', () => {
  it(
    'gives a workbook seeded with no sheets an empty Sheet1, and ' + 'refuses a second workbook at the same path',
    async () => {
      const svc = service();
      svc.addWorkbook('/me/drive/items/E');
      expect((await send(svc, 'GET', '/v1.0/me/drive/items/E/workbook/worksheets')).body).toEqual({
        '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#Collection(workbookWorksheet)',
        value: [{ id: '{00000000-0001-0000-0000-000000000000}', name: 'Sheet1', position: 0, visibility: 'Visible' }],
      });
      expect(
        (await send(svc, 'GET', "/v1.0/me/drive/items/E/workbook/worksheets('Sheet1')/usedRange")).body,
      ).toMatchObject({ address: 'Sheet1!A1', values: [['']] });
      expect(() => svc.addWorkbook('/me/drive/items/E')).toThrow('The workbook "/me/drive/items/E" already exists');
    },
  );

  it('refuses a range too big to build', async () => {
    const svc = service({ workbooks: { '/me/drive/items/A': {} } });
    const reply = await send(
      svc,
      'GET',
      "/v1.0/me/drive/items/A/workbook/worksheets('Sheet1')/range(address='A1:Z100000')",
    );
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: { code: 'invalidArgument' } });
  });

  it('counts a session past its timeout as expired once stats() looks', () => {
    const svc = service({ workbooks: { '/me/drive/items/A': {} }, persistentSessionTimeoutMs: 1000 });
    return send(svc, 'POST', '/v1.0/me/drive/items/A/workbook/createSession', { body: { persistChanges: true } }).then(
      () => {
        svc.advanceTime(999);
        expect(svc.stats()).toMatchObject({ open: 1, expired: 0 });
        svc.advanceTime(1);
        expect(svc.stats()).toMatchObject({ open: 0, expired: 1, openByWorkbook: {} });
        expect(svc.now()).toBe(T0 + 1000);
      },
    );
  });

  it(
    'with no `now` option, follows a fake clock installed after the service was made: ' +
      'sessions expire after 5 (persistent) and 7 (non-persistent) minutes',
    async () => {
      const svc = new WorkbookService({ token: TOKEN, workbooks: { '/me/drive/items/A': {} } });
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        for (const persistChanges of [true, false])
          await send(svc, 'POST', '/v1.0/me/drive/items/A/workbook/createSession', { body: { persistChanges } });
        vi.advanceTimersByTime(5 * 60_000 - 1);
        expect(svc.stats()).toMatchObject({ open: 2, expired: 0 });
        vi.advanceTimersByTime(1);
        expect(svc.sessions().map((s) => s.state)).toEqual(['expired', 'open']);
        vi.advanceTimersByTime(2 * 60_000);
        expect(svc.stats()).toMatchObject({ open: 0, expired: 2 });
      } finally {
        vi.useRealTimers();
      }
    },
  );

  it(
    'throws DroppedConnectionError from handle() for a drop, and ' + 'a 500 in Graph shape if the clock breaks',
    async () => {
      let broken = false;
      const svc = new WorkbookService({
        token: TOKEN,
        now: () => {
          if (broken) throw new Error('the clock broke');
          return T0;
        },
        workbooks: { '/me/drive/items/A': {} },
      });
      svc.injectFault({ drop: true });
      await expect(send(svc, 'GET', '/v1.0/me/drive/items/A/workbook/worksheets')).rejects.toBeInstanceOf(
        DroppedConnectionError,
      );
      broken = true;
      const reply = await send(svc, 'GET', '/v1.0/me/drive/items/A/workbook/worksheets');
      expect(reply.status).toBe(500);
      expect(reply.body).toMatchObject({
        error: { code: 'internalServerError', innerError: { code: 'internalServerErrorUncategorized' } },
      });
      broken = false;
      expect(svc.stats().inFlight).toBe(0);
    },
  );
});

describe('WorkbookService latency and delays', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds each request for fixedMs plus seeded jitter, counted as in flight', async () => {
    vi.useFakeTimers();
    const svc = service({ workbooks: { '/me/drive/items/A': {} }, latency: { fixedMs: 100 } });
    let done = false;
    const pending = send(svc, 'GET', '/v1.0/me/drive/items/A/workbook/worksheets').then((r) => {
      done = true;
      return r;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    expect(svc.stats()).toMatchObject({ inFlight: 1, maxInFlightByWorkbook: { '/me/drive/items/A': 1 } });
    await vi.advanceTimersByTimeAsync(1);
    expect((await pending).status).toBe(200);
    expect(svc.stats().inFlight).toBe(0);
  });

  it('a delayMs fault adds latency and then answers normally', async () => {
    vi.useFakeTimers();
    const svc = service({ workbooks: { '/me/drive/items/A': {} } });
    svc.injectFault({ route: 'worksheets', delayMs: 5000 });
    let done = false;
    const pending = send(svc, 'GET', '/v1.0/me/drive/items/A/workbook/worksheets').then((r) => {
      done = true;
      return r;
    });
    await vi.advanceTimersByTimeAsync(4999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await pending).status).toBe(200);
    expect(svc.stats().faultsInjected).toBe(1);
  });

  it('setFaults() and setLatency() change behaviour at runtime', async () => {
    const svc = service({ workbooks: { '/me/drive/items/A': {} } });
    svc.setFaults({ rate: 1, kinds: ['502'] });
    expect((await send(svc, 'GET', '/v1.0/me/drive/items/A/workbook/worksheets')).status).toBe(502);
    svc.setFaults({ rate: 1, kinds: ['502'], routes: ['createSession'] });
    expect((await send(svc, 'GET', '/v1.0/me/drive/items/A/workbook/worksheets')).status).toBe(200);
    svc.setFaults(undefined);
    svc.setLatency(undefined);
    expect(
      (await send(svc, 'POST', '/v1.0/me/drive/items/A/workbook/createSession', { body: { persistChanges: true } }))
        .status,
    ).toBe(201);
    expect(svc.stats()).toMatchObject({ faultsInjected: 1, requests: 3 });
  });
});
