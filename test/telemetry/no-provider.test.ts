// With @opentelemetry/api installed and no provider registered, telemetry does nothing: no span, no
// metric, no context. A provider registered later is found for spans; metrics are taken when a
// manager is made.
import { trace } from '@opentelemetry/api';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { BOOK_A, overHttp } from '../helpers/graph.js';
import { installOtel, type Otel } from '../helpers/otel.js';

let env: Awaited<ReturnType<typeof overHttp>>;
let otel: Otel | undefined;

beforeEach(async () => {
  env = await overHttp();
});
afterEach(async () => {
  await env.close();
  await otel?.uninstall();
  otel = undefined;
});

test('no provider registered: a session, a retried call and a shutdown record no span and no metric', async () => {
  const unregistered = installOtel({ register: false });
  try {
    const sessions = env.manager({ retryBaseDelayMs: 1, retryMaxDelayMs: 2 });
    const book = await sessions.open(BOOK_A);
    env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, status: 503, retryAfterSeconds: null });
    await book.api('/worksheets').get();
    expect(trace.getActiveSpan()).toBeUndefined();
    await sessions.open(BOOK_A);
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 2, leftOpen: 0 });
    expect(sessions.stats().totals.retries).toBe(1);
    expect(unregistered.spans()).toEqual([]);
    expect(await unregistered.collect()).toEqual([]);
  } finally {
    await unregistered.uninstall();
  }
});

test('a provider registered after the manager was made: its spans are recorded, its metrics are not', async () => {
  const sessions = env.manager();
  otel = installOtel();
  const book = await sessions.open(BOOK_A);
  await book.close();
  expect(otel.named('workbook_sessions.open')).toHaveLength(1);
  expect(otel.named('workbook_sessions.close')).toHaveLength(1);
  // The metrics API has no proxy: a manager takes its instruments from the provider there is when it is made.
  expect(await otel.collect()).toEqual([]);
  const later = env.manager();
  await (await later.open(BOOK_A)).close();
  expect((await otel.collect()).map((metric) => metric.descriptor.name)).toContain(
    'workbook_sessions.sessions.created',
  );
});
