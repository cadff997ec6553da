import { afterEach, describe, expect, it } from 'vitest';
import {
  type EmulatorEvent,
  type EmulatorStats,
  type RunningEmulator,
  type SessionSnapshot,
  type WorkbookActivity,
  startEmulator,
} from '../../src/testing/index.js';
import { EVENT_CAPACITY, EventLog } from '../../src/testing/events.js';

const WB = '/me/drive/items/A';
const OTHER = '/me/drive/items/B';

let emu: RunningEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function start(options: Parameters<typeof startEmulator>[0] = {}): Promise<RunningEmulator> {
  emu = await startEmulator({ workbooks: { [WB]: {}, [OTHER]: {} }, ...options });
  return emu;
}

/** An admin request with the emulator's token; `body` is sent as JSON unless it is a string. */
function admin(e: RunningEmulator, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${e.url}/_emulator${path}`, {
    method,
    headers: { Authorization: `Bearer ${e.token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

async function json<T>(response: Response): Promise<T> {
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return (await response.json()) as T;
}

async function errorMessage(response: Response): Promise<string> {
  return (await json<{ error: { message: string } }>(response)).error.message;
}

function graph(
  e: RunningEmulator,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${e.url}/v1.0${path}`, {
    method,
    headers: { Authorization: `Bearer ${e.token}`, 'Content-Type': 'application/json', ...headers },
    ...(method === 'POST' ? { body: '{"persistChanges":true}' } : {}),
  });
}

async function createSession(e: RunningEmulator, workbook = WB): Promise<string> {
  const res = await graph(e, 'POST', `${workbook}/workbook/createSession`);
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe('the emulator admin routes under /_emulator/', () => {
  it('GET /stats is stats() as JSON, and admin requests are not counted as Graph requests', async () => {
    const e = await start();
    await createSession(e);
    const first = await json<EmulatorStats>(await admin(e, 'GET', '/stats'));
    expect(first).toEqual(e.service.stats());
    expect(first).toMatchObject({ created: 1, open: 1, requests: 1, openByWorkbook: { [WB]: 1 } });
    const again = await json<EmulatorStats>(await admin(e, 'GET', '/stats'));
    expect(again.requests).toBe(1);
  });

  it('GET /sessions lists sessions() with their ids and states, never the token', async () => {
    const e = await start();
    const id = await createSession(e);
    const res = await admin(e, 'GET', '/sessions');
    const text = await res.clone().text();
    expect(text).not.toContain(e.token);
    const sessions = await json<SessionSnapshot[]>(res);
    expect(sessions).toEqual(e.service.sessions());
    expect(sessions.map((s) => [s.id, s.workbook, s.state])).toEqual([[id, WB, 'open']]);
  });

  it('GET /workbooks lists each workbook with its open sessions, requests in flight and cooldown', async () => {
    const e = await start();
    await createSession(e);
    await admin(e, 'POST', '/faults', { workbook: OTHER, status: 429, retryAfterSeconds: 30 });
    expect((await graph(e, 'GET', `${OTHER}/workbook/worksheets`)).status).toBe(429);
    const workbooks = await json<WorkbookActivity[]>(await admin(e, 'GET', '/workbooks'));
    expect(workbooks.map((w) => [w.workbook, w.openSessions, w.inFlight])).toEqual([
      [WB, 1, 0],
      [OTHER, 0, 0],
    ]);
    expect(workbooks[0]?.cooldownMs).toBe(0);
    expect(workbooks[1]?.cooldownMs).toBeGreaterThan(29_000);
    expect(workbooks[1]?.cooldownMs).toBeLessThanOrEqual(30_000);
  });

  it('GET /events?after=N returns the timeline after N: creates, calls, faults, cooldowns, closes', async () => {
    const e = await start();
    const id = await createSession(e);
    await admin(e, 'POST', '/faults', { workbook: WB, route: 'worksheets', status: 503, retryAfterSeconds: 2 });
    expect((await graph(e, 'GET', `${WB}/workbook/worksheets`, { 'workbook-session-id': id })).status).toBe(503);
    const closed = await graph(e, 'POST', `${WB}/workbook/closeSession`, { 'workbook-session-id': id });
    expect(closed.status).toBe(204);

    const all = await json<{ events: EmulatorEvent[]; last: number }>(await admin(e, 'GET', '/events'));
    expect(all.events.map((ev) => ev.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(all.last).toBe(7);
    const short = `${id.slice(0, 6)}…${id.replace(/=+$/, '').slice(-4)}`;
    expect(all.events.map(({ seq: _seq, at: _at, ...rest }) => rest)).toEqual([
      { type: 'create', workbook: WB, session: short },
      { type: 'call', workbook: WB, route: 'createSession', method: 'POST', status: 201 },
      { type: 'fault', workbook: WB, route: 'worksheets', detail: '503' },
      { type: 'cooldown', workbook: WB, ms: 2000, detail: '2' },
      { type: 'call', workbook: WB, route: 'worksheets', method: 'GET', status: 503 },
      { type: 'close', workbook: WB, session: short },
      { type: 'call', workbook: WB, route: 'closeSession', method: 'POST', status: 204 },
    ]);
    // The full session id appears nowhere in the timeline.
    expect(JSON.stringify(all)).not.toContain(id);

    const later = await json<{ events: EmulatorEvent[]; last: number }>(await admin(e, 'GET', '/events?after=5'));
    expect(later.events.map((ev) => ev.seq)).toEqual([6, 7]);
    const none = await json<{ events: EmulatorEvent[]; last: number }>(await admin(e, 'GET', '/events?after=7'));
    expect(none).toEqual({ events: [], last: 7 });

    const bad = await admin(e, 'GET', '/events?after=-1');
    expect(bad.status).toBe(400);
    expect(await errorMessage(bad)).toBe('Expected `after` to be an integer >= 0, got "-1" (string)');
  });

  it('the timeline keeps the last 1000 entries only', () => {
    const log = new EventLog();
    for (let i = 0; i < EVENT_CAPACITY + 5; i++) log.record(i, { type: 'call', route: 'other', method: 'GET' });
    const events = log.after(0);
    expect(events).toHaveLength(EVENT_CAPACITY);
    expect([events[0]?.seq, events.at(-1)?.seq, log.last]).toEqual([6, 1005, 1005]);
    expect(log.after(1003).map((ev) => ev.seq)).toEqual([1004, 1005]);
  });

  it('POST /faults injects a FaultSpec; a bad one is a 400 naming the value', async () => {
    const e = await start();
    expect((await admin(e, 'POST', '/faults', { workbook: WB, status: 504, count: 2 })).status).toBe(204);
    expect((await graph(e, 'GET', `${WB}/workbook/worksheets`)).status).toBe(504);
    expect((await graph(e, 'GET', `${WB}/workbook/worksheets`)).status).toBe(504);
    expect((await graph(e, 'GET', `${WB}/workbook/worksheets`)).status).toBe(200);

    const badCount = await admin(e, 'POST', '/faults', { status: 503, count: 0 });
    expect(badCount.status).toBe(400);
    expect(await errorMessage(badCount)).toBe('Expected `spec.count` to be an integer >= 1, got `0` (number)');
    const unknown = await admin(e, 'POST', '/faults', { status: 503, cuont: 2 });
    expect(unknown.status).toBe(400);
    expect(await errorMessage(unknown)).toContain('cuont');
    const notJson = await admin(e, 'POST', '/faults', '{status: 503');
    expect(notJson.status).toBe(400);
    expect(await errorMessage(notJson)).toMatch(/^The body is not JSON: /);
    const empty = await admin(e, 'POST', '/faults');
    expect(empty.status).toBe(400);
    expect(await errorMessage(empty)).toBe('Expected `spec` to be an object, got `null`');
    expect(e.service.stats().faultsInjected).toBe(2);
  });

  it('PUT /faults/random sets the random mix and null clears it; a bad rate is a 400 naming it', async () => {
    const e = await start();
    expect((await admin(e, 'PUT', '/faults/random', { rate: 1, kinds: ['502'] })).status).toBe(204);
    expect((await graph(e, 'GET', `${WB}/workbook/worksheets`)).status).toBe(502);
    expect((await admin(e, 'PUT', '/faults/random', null)).status).toBe(204);
    expect((await graph(e, 'GET', `${WB}/workbook/worksheets`)).status).toBe(200);

    const bad = await admin(e, 'PUT', '/faults/random', { rate: 2 });
    expect(bad.status).toBe(400);
    expect(await errorMessage(bad)).toBe('Expected `faults.rate` to be a number from 0 to 1, got `2` (number)');
    const kinds = await admin(e, 'PUT', '/faults/random', { rate: 0.5, kinds: ['418'] });
    expect(kinds.status).toBe(400);
    expect(await errorMessage(kinds)).toContain('faults.kinds');
  });

  it('PUT /latency sets the latency and null clears it; a bad value is a 400 naming it', async () => {
    const e = await start();
    expect((await admin(e, 'PUT', '/latency', { fixedMs: 150 })).status).toBe(204);
    let t = performance.now();
    await graph(e, 'GET', `${WB}/workbook/worksheets`);
    expect(performance.now() - t).toBeGreaterThanOrEqual(140);
    // The admin routes themselves are not delayed.
    t = performance.now();
    await admin(e, 'GET', '/stats');
    expect(performance.now() - t).toBeLessThan(140);
    expect((await admin(e, 'PUT', '/latency', null)).status).toBe(204);

    const bad = await admin(e, 'PUT', '/latency', { fixedMs: -1 });
    expect(bad.status).toBe(400);
    expect(await errorMessage(bad)).toBe('Expected `latency.fixedMs` to be a finite number >= 0, got `-1` (number)');
  });

  it('POST /reset-stats zeroes the counters, sessions stay', async () => {
    const e = await start();
    await createSession(e);
    expect((await admin(e, 'POST', '/reset-stats')).status).toBe(204);
    expect(e.service.stats()).toMatchObject({ created: 0, requests: 0, open: 1 });
  });

  it('POST /sessions/{id}/expire expires an open session by its URL-encoded id; 404 when none is open', async () => {
    const e = await start();
    const id = await createSession(e);
    const path = `/sessions/${encodeURIComponent(id)}/expire`;
    expect((await admin(e, 'POST', path)).status).toBe(204);
    expect(e.service.sessions()[0]?.state).toBe('expired');
    const again = await admin(e, 'POST', path);
    expect(again.status).toBe(404);
    expect(await errorMessage(again)).toMatch(/^No open session has this id/);
  });

  it('POST /advance-time moves the service clock, so idle sessions expire; a bad body is a 400', async () => {
    const e = await start({ persistentSessionTimeoutMs: 60_000 });
    await createSession(e);
    expect((await admin(e, 'POST', '/advance-time', { ms: 61_000 })).status).toBe(204);
    expect(e.service.stats()).toMatchObject({ open: 0, expired: 1 });

    const negative = await admin(e, 'POST', '/advance-time', { ms: -5 });
    expect(negative.status).toBe(400);
    expect(await errorMessage(negative)).toBe('Expected `ms` to be a finite number >= 0, got `-5` (number)');
    const shape = await admin(e, 'POST', '/advance-time', { seconds: 5 });
    expect(shape.status).toBe(400);
    expect(await errorMessage(shape)).toBe('Expected the body to be {"ms": <number>}, got {"seconds":5}');
  });

  it('every admin route but the page needs the token: 401 without it, and nothing changes', async () => {
    const e = await start();
    const routes: [string, string][] = [
      ['GET', '/stats'],
      ['GET', '/sessions'],
      ['GET', '/workbooks'],
      ['GET', '/events'],
      ['POST', '/faults'],
      ['PUT', '/faults/random'],
      ['PUT', '/latency'],
      ['POST', '/reset-stats'],
      ['POST', '/advance-time'],
      ['POST', '/sessions/x/expire'],
      ['GET', '/nothing-here'],
    ];
    for (const [method, path] of routes) {
      for (const authorization of [undefined, 'Bearer wrong', `Basic ${e.token}`]) {
        const res = await fetch(`${e.url}/_emulator${path}`, {
          method,
          headers: authorization === undefined ? {} : { Authorization: authorization },
          ...(method === 'GET' ? {} : { body: '{"status":503}' }),
        });
        expect([method, path, res.status]).toEqual([method, path, 401]);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    expect(e.service.stats().faultsInjected).toBe(0);
    expect((await graph(e, 'GET', `${WB}/workbook/worksheets`)).status).toBe(200);
  });

  it('an unknown admin route is 404 and a wrong method 405 with Allow', async () => {
    const e = await start();
    const missing = await admin(e, 'GET', '/nothing-here');
    expect(missing.status).toBe(404);
    expect(await errorMessage(missing)).toBe('No admin route /_emulator/nothing-here.');
    const wrong = await admin(e, 'DELETE', '/stats');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    const page = await admin(e, 'POST', '/');
    expect(page.status).toBe(405);
  });

  it('GET /_emulator/ serves the page without a token, with a CSP that allows only its own script', async () => {
    const e = await start();
    const res = await fetch(`${e.url}/_emulator/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('id="open-sessions"');
    expect(html).not.toContain(e.token);
    const redirect = await fetch(`${e.url}/_emulator`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([308, '/_emulator/']);
    expect(e.service.stats().requests).toBe(0);
  });
});
