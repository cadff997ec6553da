// OpenTelemetry: the spans and metrics of a session's life, a retry, a shutdown and a recovery, read
// through the SDK's in-memory exporters with the SDK registered as an application registers it.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest';
import { shortId } from '../../src/index.js';
import { openLine, removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';
import { BOOK_A, BOOK_B, books, createdElsewhere, overHttp } from '../helpers/graph.js';
import { attributeTexts, countOf, installOtel, valueOf, type Otel } from '../helpers/otel.js';

// An item id long enough to be shortened: it must never appear whole in an attribute.
const ITEM = '01BYE5RZ6QN3ZWBTURFFCIXCALBBMMQRTV';
const LONG = `/me/drive/items/${ITEM}`;
const SHORT = `/me/drive/items/${shortId(ITEM)}`;

let otel: Otel;
let env: Awaited<ReturnType<typeof overHttp>>;

// Fresh providers for each test: a manager takes its instruments from the global meter provider when made.
beforeEach(async () => {
  otel = installOtel();
  env = await overHttp({ workbooks: books(LONG, BOOK_A, BOOK_B) });
});
afterEach(async () => {
  await env.close();
  await otel.uninstall();
});
afterAll(removeTempDirs);

/** Runs `work` inside a span of the application's own, as an HTTP server's request span would be. */
async function inAppSpan<T>(name: string, work: () => Promise<T>): Promise<{ result: T; span: ReadableSpan }> {
  // Asked for each time: a tracer kept from an earlier test's provider would record into that one.
  const result = await trace.getTracer('the-application').startActiveSpan(name, async (span) => {
    try {
      return await work();
    } finally {
      span.end();
    }
  });
  const span = otel.named(name)[0];
  if (span === undefined) throw new Error(`no span ${name}`);
  return { result, span };
}

const requests = (): ReadableSpan[] => otel.spans().filter((span) => span.kind === SpanKind.CLIENT);
const one = (name: string): ReadableSpan => {
  const found = otel.named(name);
  expect(found.map((span) => span.name)).toEqual([name]);
  return found[0] as ReadableSpan;
};
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan): string => span.spanContext().spanId;

describe('spans', () => {
  test("open, calls, close: a span per request under the open or close span, those under the caller's", async () => {
    const sessions = env.manager();
    const { result: id, span: caller } = await inAppSpan('GET /report', async () => {
      const book = await sessions.open(LONG);
      await book.api('/worksheets').get();
      await book.api("/worksheets('Sheet1')/range(address='A1:B2')").get();
      await book.close();
      return book.id;
    });

    const open = one('workbook_sessions.open');
    const close = one('workbook_sessions.close');
    expect(parentOf(open)).toBe(idOf(caller));
    expect(parentOf(close)).toBe(idOf(caller));
    expect(open.kind).toBe(SpanKind.INTERNAL);
    expect(open.attributes).toEqual({
      'workbook_sessions.workbook': SHORT,
      'workbook_sessions.session.persist_changes': true,
      'workbook_sessions.session.id': shortId(id),
    });
    expect(close.attributes).toEqual({
      'workbook_sessions.workbook': SHORT,
      'workbook_sessions.session.id': shortId(id),
      'workbook_sessions.close.outcome': 'closed',
    });

    // The look-up of the file (resolveWorkbooks) and the createSession are the open's.
    const lookUp = one('GET /me/drive/items/{id}');
    expect(parentOf(lookUp)).toBe(idOf(open));
    expect(lookUp.attributes).toMatchObject({
      'url.template': '/me/drive/items/{id}',
      'http.response.status_code': 200,
    });
    const create = one('POST /me/drive/items/{id}/workbook/createSession');
    expect(parentOf(create)).toBe(idOf(open));
    expect(create.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.template': '/me/drive/items/{id}/workbook/createSession',
      'server.address': '127.0.0.1',
      'workbook_sessions.workbook': SHORT,
      'workbook_sessions.request.attempt': 1,
      'workbook_sessions.cooldown.waited_ms': 0,
    });
    expect(create.attributes['http.response.status_code']).toBeGreaterThanOrEqual(200);
    expect(create.attributes['http.response.status_code']).toBeLessThan(300);
    expect(create.attributes['http.request.resend_count']).toBeUndefined();

    // Calls are the caller's own work: their spans sit under the caller's span.
    const worksheets = one('GET /me/drive/items/{id}/workbook/worksheets');
    const range = one('GET /me/drive/items/{id}/workbook/worksheets({id})/range(address={address})');
    expect([parentOf(worksheets), parentOf(range)]).toEqual([idOf(caller), idOf(caller)]);
    expect(worksheets.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200 });

    const closeSession = one('POST /me/drive/items/{id}/workbook/closeSession');
    expect(parentOf(closeSession)).toBe(idOf(close));
    expect(requests()).toHaveLength(5);
    for (const span of otel.spans()) expect(span.status.code, span.name).toBe(SpanStatusCode.UNSET);
  });

  test("a call queued behind another's in its lane keeps its own caller's span as parent", async () => {
    const sessions = env.manager();
    const book = await sessions.open(BOOK_A);
    // One request at a time in a lane: the second call starts when the first ends, from the first's context.
    env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, delayMs: 100 });
    const [first, second] = await Promise.all([
      inAppSpan('first', () => book.api('/worksheets').get()),
      inAppSpan('second', () => book.api('/worksheets').get()),
    ]);
    await book.close();
    const calls = otel.named('GET /me/drive/items/{id}/workbook/worksheets');
    expect(calls.map(parentOf).sort()).toEqual([idOf(first.span), idOf(second.span)].sort());
    const queued = calls.find((span) => parentOf(span) === idOf(second.span));
    expect(queued?.attributes['workbook_sessions.lane.wait_ms']).toBeGreaterThan(50);
  });

  test("an idle close is no part of the open's trace: its span has no parent", async () => {
    const sessions = env.manager({ idleTimeoutMs: 1000 });
    const closed = new Promise((resolve) => sessions.once('closed', resolve));
    const { span: caller } = await inAppSpan('job', async () => {
      await sessions.open(BOOK_A);
    });
    await closed;
    const close = one('workbook_sessions.close');
    expect(parentOf(close)).toBeUndefined();
    expect(close.spanContext().traceId).not.toBe(caller.spanContext().traceId);
    expect(parentOf(one('POST /me/drive/items/{id}/workbook/closeSession'))).toBe(idOf(close));
  });

  test('no attribute of any span carries a whole session id or item id', async () => {
    const sessions = env.manager();
    const ids: string[] = [];
    await inAppSpan('job', async () => {
      for (let i = 0; i < 2; i++) {
        const book = await sessions.open(LONG, { persistChanges: i === 0 });
        ids.push(book.id);
        await book.api('/worksheets').get();
        await book.close();
      }
    });
    await sessions.shutdown();
    expect(ids.every((id) => id.length > 12)).toBe(true);
    const texts = otel.spans().flatMap(attributeTexts);
    expect(texts.length).toBeGreaterThan(20);
    for (const secret of [...ids, ITEM, env.emulator.token]) {
      expect(texts.filter((text) => text.includes(secret))).toEqual([]);
    }
    expect(
      otel
        .spans()
        .map((span) => span.name)
        .filter((name) => name.includes(ITEM)),
    ).toEqual([]);
    // Nor does any metric's.
    const metricTexts = (await otel.collect()).flatMap((metric) =>
      metric.dataPoints.flatMap((point) => Object.values(point.attributes).map(String)),
    );
    expect(metricTexts).toContain(SHORT);
    for (const secret of [...ids, ITEM]) expect(metricTexts.filter((text) => text.includes(secret))).toEqual([]);
  });

  test('a 429 with Retry-After: two request spans, the second with its attempt and the cooldown waited', async () => {
    const sessions = env.manager();
    const book = await sessions.open(BOOK_A);
    env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, status: 429, retryAfterSeconds: 1 });
    await inAppSpan('call', () => book.api('/worksheets').get());
    await book.close();

    const [first, second, ...more] = otel.named('GET /me/drive/items/{id}/workbook/worksheets');
    expect(more).toEqual([]);
    expect(first?.attributes).toMatchObject({
      'http.response.status_code': 429,
      'error.type': '429',
      'workbook_sessions.request.attempt': 1,
      'workbook_sessions.retry_after_ms': 1000,
    });
    expect(first?.status).toEqual({ code: SpanStatusCode.ERROR, message: '429' });
    expect(second?.attributes).toMatchObject({
      'http.response.status_code': 200,
      'workbook_sessions.request.attempt': 2,
      'http.request.resend_count': 1,
    });
    expect(second?.status.code).toBe(SpanStatusCode.UNSET);
    // The retry waited in its lane behind the cooldown, for most of the second Graph asked for.
    const waited = second?.attributes['workbook_sessions.cooldown.waited_ms'] as number;
    expect(waited).toBeGreaterThan(500);
    expect(waited).toBeLessThanOrEqual(1000);
    expect(waited).toBeLessThanOrEqual(second?.attributes['workbook_sessions.lane.wait_ms'] as number);
    // Both attempts are one call of the caller's.
    expect(new Set([first, second].map((span) => span && parentOf(span)))).toEqual(new Set([idOf(one('call'))]));
  });

  test('a failed open: its span has an error status and error.type, and no message', async () => {
    const sessions = env.manager({ retries: 1 });
    const error = await inAppSpan('open', () => sessions.open('/me/drive/items/NOSUCHITEM')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const [open] = otel.named('workbook_sessions.open');
    expect(open?.status).toEqual({ code: SpanStatusCode.ERROR, message: '404' });
    expect(open?.attributes['error.type']).toBe('404');
    expect(open?.events).toEqual([]);
    // The look-up of the file found nothing: nothing was created.
    const lookUp = one('GET /me/drive/items/{id}');
    expect(lookUp.attributes).toMatchObject({ 'http.response.status_code': 404, 'error.type': '404' });
    expect(lookUp.status).toEqual({ code: SpanStatusCode.ERROR, message: '404' });
    expect(parentOf(lookUp)).toBe(open && idOf(open));
    expect(otel.named('POST /me/drive/items/{id}/workbook/createSession')).toEqual([]);
  });

  test("shutdown(): a span with the report's counts, each close under it, each closeSession under that", async () => {
    const sessions = env.manager();
    await sessions.open(BOOK_A);
    await sessions.open(BOOK_B);
    otel.exporter.reset();
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 2, leftOpen: 0 });

    const shutdown = one('workbook_sessions.shutdown');
    expect(parentOf(shutdown)).toBeUndefined();
    expect(shutdown.attributes).toEqual({
      'workbook_sessions.shutdown.timeout_ms': sessions.shutdownTimeoutMs,
      'workbook_sessions.shutdown.closed': 2,
      'workbook_sessions.shutdown.expired': 0,
      'workbook_sessions.shutdown.failed': 0,
      'workbook_sessions.shutdown.left_open': 0,
      'workbook_sessions.shutdown.timed_out': false,
    });
    const closes = otel.named('workbook_sessions.close');
    expect(closes.map(parentOf)).toEqual([idOf(shutdown), idOf(shutdown)]);
    const closeSessions = otel.named('POST /me/drive/items/{id}/workbook/closeSession');
    expect(new Set(closeSessions.map(parentOf))).toEqual(new Set(closes.map(idOf)));
  });

  test('recover(): a span counting what it closed, with each orphan close under it', async () => {
    const dir = await tempDir();
    const orphan = await createdElsewhere(env.emulator, BOOK_A);
    await fs.writeFile(path.join(dir, 'sessions.journal'), `${openLine({ id: orphan, workbook: BOOK_A })}\n`, {
      mode: 0o600,
    });
    const sessions = env.manager({ journal: { path: dir } });
    const { span: caller } = await inAppSpan('maintenance', () => sessions.recover());
    const recover = one('workbook_sessions.recover');
    expect(parentOf(recover)).toBe(idOf(caller));
    expect(recover.attributes).toEqual({
      'workbook_sessions.recovery.orphans': 1,
      'workbook_sessions.recovery.closed': 1,
      'workbook_sessions.recovery.expired': 0,
      'workbook_sessions.recovery.failed': 0,
    });
    expect(parentOf(one('workbook_sessions.close'))).toBe(idOf(recover));
    // Nothing left to recover: no span for a recovery that found nothing.
    otel.exporter.reset();
    await sessions.recover();
    expect(otel.spans()).toEqual([]);
  });
});

describe('metrics', () => {
  test("a session's life: created, open now (per manager), closed by reason, lane waits per workbook", async () => {
    const sessions = env.manager();
    const other = env.manager();
    const book = await sessions.open(LONG);
    const kept = await other.open(BOOK_A);
    await book.api('/worksheets').get();

    const open = await otel.points('workbook_sessions.sessions.open');
    expect(open.map((point) => point.value).sort()).toEqual([1, 1]);
    const managers = new Set(open.map((point) => point.attributes['workbook_sessions.manager.id']));
    expect(managers.size).toBe(2);
    expect(valueOf(await otel.points('workbook_sessions.sessions.created'))).toBe(2);

    await book.close();
    await kept.close();
    expect(valueOf(await otel.points('workbook_sessions.sessions.open'))).toBe(0);
    expect(
      valueOf(await otel.points('workbook_sessions.sessions.closed'), {
        'workbook_sessions.close.reason': 'disposed',
        'workbook_sessions.close.already_expired': false,
      }),
    ).toBe(2);
    const waits = await otel.points('workbook_sessions.lane.wait.duration');
    // The look-up, createSession, the call and closeSession on LONG; all but the call on BOOK_A.
    expect(countOf(waits, { 'workbook_sessions.workbook': SHORT })).toBe(4);
    expect(countOf(waits, { 'workbook_sessions.workbook': SHORT, 'workbook_sessions.request.kind': 'close' })).toBe(1);
    expect(countOf(waits, { 'workbook_sessions.workbook': BOOK_A })).toBe(3);
    const descriptors = (await otel.collect()).map((metric) => [metric.descriptor.name, metric.descriptor.unit]);
    expect(Object.fromEntries(descriptors)).toMatchObject({
      'workbook_sessions.sessions.open': '{session}',
      'workbook_sessions.sessions.created': '{session}',
      'workbook_sessions.sessions.closed': '{session}',
      'workbook_sessions.lane.wait.duration': 's',
    });
  });

  test('a retry after a 429: counted by what it got, and the cooldown time of its lane', async () => {
    const sessions = env.manager();
    const book = await sessions.open(BOOK_A);
    env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, status: 429, retryAfterSeconds: 1 });
    await book.api('/worksheets').get();
    await book.close();
    const retries = await otel.points('workbook_sessions.requests.retries');
    expect(valueOf(retries, { 'error.type': '429', 'workbook_sessions.retry.cooldown': true })).toBe(1);
    const cooldown = await otel.points('workbook_sessions.lane.cooldown.time');
    expect(valueOf(cooldown, { 'workbook_sessions.workbook': BOOK_A })).toBe(1);
  });

  test('a shutdown: closes counted with reason shutdown, close failures by reason, no more open gauge', async () => {
    const sessions = env.manager({ retries: 1, retryDeadlineMs: 200, retryBaseDelayMs: 1, retryMaxDelayMs: 2 });
    await sessions.open(BOOK_A);
    await sessions.open(BOOK_B);
    // One close is refused for good (a 403 is never resent): the session stays open and its close failed.
    env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', count: 100, status: 403 });
    const report = await sessions.shutdown({ timeoutMs: 2000 });
    expect(report).toMatchObject({ closed: 1, failed: 1 });
    expect(
      valueOf(await otel.points('workbook_sessions.sessions.closed'), { 'workbook_sessions.close.reason': 'shutdown' }),
    ).toBe(1);
    const failures = await otel.points('workbook_sessions.sessions.close_failures');
    expect(valueOf(failures, { 'workbook_sessions.close.reason': 'shutdown', 'error.type': '403' })).toBe(1);
    // The manager is done: its gauge no longer reports it.
    expect(await otel.points('workbook_sessions.sessions.open')).toEqual([]);
  });
});
