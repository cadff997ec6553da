import { afterEach, describe, expect, it, vi } from 'vitest';
import { DroppedConnectionError, WorkbookService } from '../../src/testing/index.js';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);
const TOKEN = 'test-token';
const WB = '/me/drive/items/01WORKBOOK';
const ORIGIN = 'https://graph.microsoft.com';

function service(extra: ConstructorParameters<typeof WorkbookService>[0] = {}): WorkbookService {
  return new WorkbookService({ token: TOKEN, now: () => T0, workbooks: { [WB]: {} }, ...extra });
}

function createRequest(headers: Record<string, string> = {}): Request {
  return new Request(`${ORIGIN}/v1.0${WB}/workbook/createSession`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, ...headers },
    body: JSON.stringify({ persistChanges: true }),
  });
}

/** Settles `promise` into a readable state, so a test can ask whether it has answered yet. */
function track(promise: Promise<Response>): { readonly status: () => number | undefined } {
  let status: number | undefined;
  void promise.then((res) => (status = res.status));
  return { status: () => status };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('createSessionDelayMs and createSessionJitterMs', () => {
  it('createSession answers at once by default', async () => {
    vi.useFakeTimers();
    const svc = service();
    const answer = track(svc.handle(createRequest()));
    await vi.advanceTimersByTimeAsync(0);
    expect(answer.status()).toBe(201);
  });

  it('createSession answers only after createSessionDelayMs, and the session exists only then', async () => {
    vi.useFakeTimers();
    const svc = service({ createSessionDelayMs: 800 });
    const answer = track(svc.handle(createRequest()));
    await vi.advanceTimersByTimeAsync(799);
    expect(answer.status()).toBeUndefined();
    expect(svc.stats()).toMatchObject({ created: 0, inFlight: 1 });
    await vi.advanceTimersByTimeAsync(1);
    expect(answer.status()).toBe(201);
    expect(svc.stats()).toMatchObject({ created: 1, open: 1, inFlight: 0 });
  });

  it('createSessionJitterMs adds up to that much more, drawn from the seeded random source', async () => {
    vi.useFakeTimers();
    const durations: number[] = [];
    for (const seed of [1, 1, 2]) {
      const svc = service({ createSessionDelayMs: 800, createSessionJitterMs: 200, seed });
      const answer = track(svc.handle(createRequest()));
      await vi.advanceTimersByTimeAsync(800);
      let waited = 800;
      while (answer.status() === undefined) {
        await vi.advanceTimersByTimeAsync(1);
        waited += 1;
      }
      expect(answer.status()).toBe(201);
      durations.push(waited);
    }
    for (const ms of durations) expect(ms).toBeLessThanOrEqual(1000);
    // The same seed draws the same duration.
    expect(durations[0]).toBe(durations[1]);
  });

  it('a createSession still waiting when its server stops takes no effect', async () => {
    vi.useFakeTimers();
    const svc = service({ createSessionDelayMs: 800 });
    const stop = new AbortController();
    const answer = svc.handle(createRequest(), { signal: stop.signal });
    await vi.advanceTimersByTimeAsync(400);
    stop.abort();
    await expect(answer).rejects.toThrow(DroppedConnectionError);
    expect(svc.stats()).toMatchObject({ created: 0, open: 0, inFlight: 0 });
  });

  it('a long-running create answers 202 at once and its operation completes after the duration', async () => {
    let now = T0;
    const svc = service({
      now: () => now,
      createSessionDelayMs: 800,
      asyncCreate: { rate: 1, durationMs: 100 },
    });
    const accepted = await svc.handle(createRequest({ Prefer: 'respond-async' }));
    expect(accepted.status).toBe(202);
    const location = accepted.headers.get('location') ?? '';
    const poll = async (): Promise<string> => {
      const res = await svc.handle(new Request(location, { headers: { Authorization: `Bearer ${TOKEN}` } }));
      return ((await res.json()) as { status: string }).status;
    };
    expect(await poll()).toBe('notStarted');
    // Past asyncCreate.durationMs, not yet past the create's own duration.
    now += 799;
    expect(await poll()).toBe('running');
    expect(svc.stats().created).toBe(0);
    now += 1;
    expect(await poll()).toBe('succeeded');
    expect(svc.stats().created).toBe(1);
  });

  it('refuses bad values, naming them', () => {
    expect(() => service({ createSessionDelayMs: -1 })).toThrow(
      new RangeError('Expected `createSessionDelayMs` to be a finite number >= 0, got `-1` (number)'),
    );
    expect(() => service({ createSessionJitterMs: Number.NaN })).toThrow(
      new RangeError('Expected `createSessionJitterMs` to be a finite number >= 0, got `NaN` (number)'),
    );
  });
});

describe('maxSessionsPerWorkbook with a createSession duration', () => {
  it('concurrent creates never open more than the cap: those past it answer 429 as Graph throttles', async () => {
    vi.useFakeTimers();
    const svc = service({ maxSessionsPerWorkbook: 2, createSessionDelayMs: 50 });
    const answers = Array.from({ length: 4 }, () => svc.handle(createRequest()));
    await vi.advanceTimersByTimeAsync(50);
    const replies = await Promise.all(answers);
    expect(replies.map((r) => r.status)).toEqual([201, 201, 429, 429]);
    const refused = replies[2] as Response;
    expect(refused.headers.get('retry-after')).toBeNull();
    const body = (await refused.json()) as {
      error: { code: string; innerError: { code: string; innerError: { code: string } } };
    };
    expect([body.error.code, body.error.innerError.code, body.error.innerError.innerError.code]).toEqual([
      'tooManyRequests',
      'tooManyRequestsUncategorized',
      'MaxSessionsPerWorkbookExceeded',
    ]);
    expect(svc.stats()).toMatchObject({ created: 2, sessionCapRejections: 2, openByWorkbook: { [WB]: 2 } });
  });

  it('a create arriving at the cap is refused at once, without waiting out the duration', async () => {
    vi.useFakeTimers();
    const svc = service({ maxSessionsPerWorkbook: 1, createSessionDelayMs: 50 });
    const first = svc.handle(createRequest());
    await vi.advanceTimersByTimeAsync(50);
    expect((await first).status).toBe(201);
    const refused = track(svc.handle(createRequest()));
    await vi.advanceTimersByTimeAsync(0);
    expect(refused.status()).toBe(429);
  });
});
