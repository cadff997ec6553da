import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { GraphRequestError } from '../src/errors.js';
import type { SessionManager } from '../src/manager/session-manager.js';
import type { WorkbookFile } from '../src/testing/index.js';
import { WorkbookResolver, fileKey, parseWorkbookRef } from '../src/transport/workbook-ref.js';
import { startBadServer, type BadServer } from './helpers/bad-server.js';
import { createBearerClient } from '../src/transport/graph-client.js';
import { SessionManager as Manager } from '../src/manager/session-manager.js';
import { SessionJournal } from '../src/journal/journal.js';
import { openLine, removeTempDirs, tempDir } from './fixtures/journal-spawn.js';
import { overHttp, settle } from './helpers/graph.js';

type Env = Awaited<ReturnType<typeof overHttp>>;
let env: Env | undefined;
let bad: BadServer | undefined;
afterAll(removeTempDirs);
afterEach(async () => {
  await env?.close();
  env = undefined;
  await bad?.close();
  bad = undefined;
});

const DRIVE = 'b!team-drive';
const ROOT_PATH = '/Reports/Q1 Sales.xlsx';
const SHEET = "/worksheets('Sheet1')";

/** The emulator with one file on drive DRIVE, which /me/drive, a site, a user and a group all name. */
async function oneFile(options: Parameters<typeof overHttp>[0] = {}): Promise<{ env: Env; file: WorkbookFile }> {
  env = await overHttp({ workbooks: {}, ...options });
  for (const alias of [
    '/me/drive',
    '/sites/contoso.sharepoint.com,1111,2222/drive',
    '/users/ada@contoso.com/drive',
    '/groups/G1/drive',
  ]) {
    env.service.aliasDrive(alias, DRIVE);
  }
  const file = env.service.addWorkbook(`/drives/${DRIVE}/root:${ROOT_PATH}:`, {
    worksheets: { Sheet1: { cells: [[0]] } },
  });
  return { env, file };
}

/** Every form Graph accepts for the one file of {@link oneFile}. */
function everyForm(itemId: string): string[] {
  const drives = [
    '/me/drive',
    `/drives/${DRIVE}`,
    '/sites/contoso.sharepoint.com,1111,2222/drive',
    `/sites/contoso.sharepoint.com,1111,2222/drives/${DRIVE}`,
    '/users/ada@contoso.com/drive',
    '/groups/G1/drive',
  ];
  return drives.flatMap((d) => [`${d}/items/${itemId}`, `${d}/root:${ROOT_PATH}:`]);
}

/** `count` calls at once through each handle, all of them on one file. */
async function callsAtOnce(
  handles: readonly { api: (p: string) => { get: () => Promise<unknown> } }[],
  count: number,
): Promise<void> {
  await Promise.all(
    handles.flatMap((h) => Array.from({ length: count }, () => h.api(`${SHEET}/range(address='A1')`).get())),
  );
}

describe('parseWorkbookRef', () => {
  test('normalises percent-encoding: decoded, then encoded one way', () => {
    expect(parseWorkbookRef('/me/drive/root:/Q1 Sales.xlsx:').path).toBe('/me/drive/root:/Q1%20Sales.xlsx:');
    expect(parseWorkbookRef('/me/drive/root:/Q1%20Sales.xlsx:').path).toBe('/me/drive/root:/Q1%20Sales.xlsx:');
    expect(parseWorkbookRef('/me/drive/root:/Pr%c3%a9visions/%41.xlsx:').path).toBe(
      '/me/drive/root:/Pr%C3%A9visions/A.xlsx:',
    );
    expect(parseWorkbookRef('/me/drive/root:/Prévisions/A.xlsx:').path).toBe('/me/drive/root:/Pr%C3%A9visions/A.xlsx:');
    // A "%" that starts no escape is a "%" of the name, sent as %25.
    expect(parseWorkbookRef('/me/drive/root:/100% done.xlsx:').path).toBe('/me/drive/root:/100%25%20done.xlsx:');
    // Sub-delimiters and "@" stay as they are (site ids, user names, drive ids).
    expect(parseWorkbookRef('/sites/contoso.sharepoint.com,1,2/drives/b!x-_/items/01AB').path).toBe(
      '/sites/contoso.sharepoint.com,1,2/drives/b!x-_/items/01AB',
    );
    expect(
      parseWorkbookRef('/users/ada@contoso.com/drive/root:/a#b?.xlsx:'.replace('#', '%23').replace('?', '%3F')).path,
    ).toBe('/users/ada@contoso.com/drive/root:/a%23b%3F.xlsx:');
  });

  test('gives two spellings of one reference one key: encoding, case of root paths, site-scoped drives', () => {
    const key = parseWorkbookRef('/me/drive/root:/Reports/Q1 Sales.xlsx:').key;
    expect(parseWorkbookRef('/me/drive/root:/Reports/Q1%20Sales.xlsx:').key).toBe(key);
    expect(parseWorkbookRef('/me/drive/root:/reports/q1%20SALES.XLSX:').key).toBe(key);
    expect(parseWorkbookRef('/me/drive/root:/Reports/Q2 Sales.xlsx:').key).not.toBe(key);
    expect(parseWorkbookRef('/drives/D/root:/Reports/Q1 Sales.xlsx:').key).not.toBe(key);
    expect(parseWorkbookRef('/sites/S/drives/D/items/X').key).toBe(parseWorkbookRef('/drives/D/items/X').key);
    // Item ids are compared exactly.
    expect(parseWorkbookRef('/me/drive/items/abc').key).not.toBe(parseWorkbookRef('/me/drive/items/ABC').key);
  });

  test.each([
    '/me/drive/items/X',
    '/drives/D/items/X',
    '/sites/S/drive/items/X',
    '/sites/S/drives/D/items/X',
    '/users/U/drive/items/X',
    '/groups/G/drive/items/X',
    '/me/drive/root:/a/b.xlsx:',
    '/drives/D/root:/a/b.xlsx:',
    '/sites/S/drive/root:/a/b.xlsx:',
    '/sites/S/drives/D/root:/a/b.xlsx:',
    '/users/U/drive/root:/a/b.xlsx:',
    '/groups/G/drive/root:/a/b.xlsx:',
  ])('accepts %s', (value) => {
    expect(parseWorkbookRef(value).path).toBe(value);
  });

  const HINT = 'Expected `workbook` to be a drive-item path: /me/drive/items/{id}, /drives/{drive-id}/items/{id}';
  test.each([
    ['an absolute URL', 'https://graph.microsoft.com/v1.0/me/drive/items/A', ''],
    ['a query', '/sites/S/drives/D/items/A?$select=id', ''],
    ['a ".." root-path segment', '/drives/D/root:/a/../b.xlsx:', 'without "." or ".." segments'],
    ['an encoded "%2e%2e" id', '/sites/S/drives/%2e%2e/items/A', 'without "." or ".." segments'],
    ['an encoded "%2E%2e" root-path segment', '/sites/S/drive/root:/a/%2E%2e/b.xlsx:', 'without "." or ".." segments'],
    ['an encoded separator', '/me/drive/root:/a%2F..%2Fb.xlsx:', 'without encoded separators (%2F, %5C)'],
    ['an encoded backslash', '/groups/G/drive/items/A%5CB', 'without encoded separators (%2F, %5C)'],
    ['an empty root-path segment', '/users/U/drive/root:/a//b.xlsx:', 'without empty segments'],
    ['an encoded control character', '/me/drive/root:/a%0Ab.xlsx:', 'without control characters'],
    ['a raw control character', '/sites/S/drives/D/items/A\u0007', ''],
    ['a lone surrogate', '/me/drive/root:/a\ud800.xlsx:', 'without lone surrogates'],
    ['an empty root path', '/drives/D/root::', ''],
    ['a /workbook suffix', '/sites/S/drives/D/items/A/workbook', 'without /workbook'],
    ['a site with no drive', '/sites/S/items/A', ''],
  ])('refuses %s with a TypeError naming the value', (_label, value, why) => {
    expect(() => parseWorkbookRef(value)).toThrow(TypeError);
    expect(() => parseWorkbookRef(value)).toThrow(HINT);
    expect(() => parseWorkbookRef(value)).toThrow(`${why}; got ${JSON.stringify(value)} (string)`);
  });
});

describe('SessionManager.open() on every drive-item form (emulator over HTTP)', () => {
  test('each form opens, calls and closes, all on the one file', async () => {
    const { env, file } = await oneFile();
    const forms = everyForm(file.itemId);
    expect(forms).toHaveLength(12);
    const sessions = env.manager();
    for (const [n, form] of forms.entries()) {
      await sessions.withSession(form, async (book) => {
        await book.api(`${SHEET}/range(address='A1')`).patch({ values: [[n + 1]] });
        const range = await book.api(`${SHEET}/range(address='A1')`).get<{ values: unknown[][] }>();
        expect(range.values).toEqual([[n + 1]]);
      });
      expect(env.service.readRange(`/drives/${DRIVE}/items/${file.itemId}`, 'Sheet1', 'A1')).toEqual([[n + 1]]);
    }
    expect(env.service.stats()).toMatchObject({ created: 12, closed: 12, open: 0 });
  });

  test('a name with spaces, accents, "#" and "%" reaches its file under every spelling', async () => {
    env = await overHttp({ workbooks: {} });
    env.service.addWorkbook('/me/drive/root:/Prévisions 2026/Q1 #1 100%.xlsx:');
    const sessions = env.manager();
    const spellings = [
      '/me/drive/root:/Pr%C3%A9visions%202026/Q1%20%231%20100%25.xlsx:',
      '/me/drive/root:/prévisions 2026/q1 %231 100%.xlsx:',
    ];
    const handles = await Promise.all(spellings.map((s) => sessions.open(s)));
    expect(handles.map((h) => h.workbook)).toEqual([
      spellings[0],
      '/me/drive/root:/pr%C3%A9visions%202026/q1%20%231%20100%25.xlsx:',
    ]);
    await Promise.all(handles.map((h) => h.api('/worksheets').get()));
    await Promise.all(handles.map((h) => h.close()));
    expect(env.service.stats()).toMatchObject({ created: 2, closed: 2, open: 0, requestsByRoute: { item: 1 } });
  });

  test('open() refuses a bad form before any request, naming the value', async () => {
    await oneFile();
    const e = env as Env;
    const before = e.service.stats().requests;
    const error = await e
      .manager()
      .open('/sites/S/drives/D/items/%2e%2e')
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain('got "/sites/S/drives/D/items/%2e%2e" (string)');
    expect(e.service.stats().requests).toBe(before);
  });

  test("the handle's workbook is the reference in its canonical spelling", async () => {
    await oneFile();
    const book = await (env as Env).manager().open(`/me/drive/root:${ROOT_PATH}:`);
    expect(book.workbook).toBe('/me/drive/root:/Reports/Q1%20Sales.xlsx:');
    await book.close();
  });
});

describe('one file, one lane (emulator over HTTP, 15 ms latency)', () => {
  const LATENCY = { latency: { fixedMs: 15 } };

  test('two spellings of one root path: maxInFlightPerWorkbook 1', async () => {
    const { env } = await oneFile(LATENCY);
    const sessions = env.manager();
    const a = await sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:');
    const b = await sessions.open('/me/drive/root:/reports/Q1%20Sales.xlsx:');
    env.service.resetStats();
    await callsAtOnce([a, b], 3);
    expect(env.service.stats()).toMatchObject({ maxInFlightPerWorkbook: 1, cooldownViolations: 0 });
  });

  test('two spellings share a lane even with resolveWorkbooks off (no GET {item} sent)', async () => {
    const { env } = await oneFile(LATENCY);
    const sessions = env.manager({ resolveWorkbooks: false });
    const a = await sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:');
    const b = await sessions.open('/me/drive/root:/Reports/Q1%20Sales.xlsx:');
    await callsAtOnce([a, b], 3);
    expect(env.service.stats()).toMatchObject({ maxInFlightPerWorkbook: 1, requestsByRoute: { item: 0 } });
  });

  test('id and path, and two drives, of one file: maxInFlightPerWorkbook 1', async () => {
    const { env, file } = await oneFile(LATENCY);
    const sessions = env.manager();
    const handles = await Promise.all([
      sessions.open(`/me/drive/items/${file.itemId}`),
      sessions.open(`/drives/${DRIVE}/items/${file.itemId}`),
      sessions.open(`/groups/G1/drive/root:${ROOT_PATH}:`),
    ]);
    env.service.resetStats();
    const calls = callsAtOnce(handles, 3);
    await new Promise<void>((resolve) => setImmediate(resolve));
    // The manager's own view: one lane, one request in it at a time.
    expect(sessions.stats()).toMatchObject({ lanes: 1, inFlight: 1 });
    await calls;
    expect(env.service.stats()).toMatchObject({ maxInFlightPerWorkbook: 1, cooldownViolations: 0 });
  });

  test('with resolveWorkbooks off, id and path of one file are two lanes (what resolving prevents)', async () => {
    const { env, file } = await oneFile(LATENCY);
    const sessions = env.manager({ resolveWorkbooks: false });
    const handles = await Promise.all([
      sessions.open(`/me/drive/items/${file.itemId}`),
      sessions.open(`/drives/${DRIVE}/items/${file.itemId}`),
    ]);
    env.service.resetStats();
    await callsAtOnce(handles, 3);
    expect(env.service.stats().maxInFlightPerWorkbook).toBe(2);
  });

  test("a Retry-After on one name holds the file's other names too: cooldownViolations 0", async () => {
    const { env, file } = await oneFile(LATENCY);
    const sessions = env.manager();
    const byPath = await sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:');
    const bySpelling = await sessions.open('/me/drive/root:/Reports/Q1%20Sales.xlsx:');
    const byId = await sessions.open(`/drives/${DRIVE}/items/${file.itemId}`);
    env.service.resetStats();
    env.service.injectFault({
      workbook: `/me/drive/root:${ROOT_PATH}:`,
      route: 'range',
      status: 429,
      retryAfterSeconds: 1,
    });
    const first = byPath.api(`${SHEET}/range(address='A1')`).get();
    await callsAtOnce([bySpelling, byId], 2);
    await first;
    expect(env.service.stats()).toMatchObject({ faultsInjected: 1, cooldownViolations: 0, maxInFlightPerWorkbook: 1 });
  });
});

describe('resolving a reference to its file', () => {
  test('GET {item} is sent once per reference: concurrent opens share it, later opens and spellings reuse it', async () => {
    const { env, file } = await oneFile();
    const sessions = env.manager();
    const first = await Promise.all(
      Array.from({ length: 4 }, () => sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:')),
    );
    expect(env.service.stats().requestsByRoute.item).toBe(1);
    const later = [
      await sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:'),
      await sessions.open('/me/drive/root:/REPORTS/q1%20sales.xlsx:'),
    ];
    expect(env.service.stats().requestsByRoute.item).toBe(1);
    // Another reference of the file is asked about once too.
    later.push(
      await sessions.open(`/me/drive/items/${file.itemId}`),
      await sessions.open(`/me/drive/items/${file.itemId}`),
    );
    expect(env.service.stats().requestsByRoute.item).toBe(2);
    await Promise.all([...first, ...later].map((h) => h.close()));
    expect(env.service.stats()).toMatchObject({ created: 8, open: 0 });
  });

  test('a reference Graph cannot find fails open() with its 404 and sends no createSession', async () => {
    const { env } = await oneFile();
    const sessions = env.manager();
    const error = await sessions.open('/me/drive/root:/Missing.xlsx:').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphRequestError);
    expect(error).toMatchObject({
      status: 404,
      graphCode: 'itemNotFound',
      method: 'GET',
      path: '/me/drive/root:/Missing.xlsx:',
    });
    expect(env.service.stats().requestsByRoute.createSession).toBe(0);
    // A failure is not remembered: the next open asks again.
    await sessions.open('/me/drive/root:/Missing.xlsx:').catch(() => undefined);
    expect(env.service.stats().requestsByRoute.item).toBe(2);
  });

  test('an answer without id and parentReference.driveId fails open() as malformed, no createSession', async () => {
    bad = await startBadServer({
      override: (r) => (r.url.includes('/workbook') ? undefined : Response.json({ id: 'A' })),
    });
    const sessions = new Manager({
      client: createBearerClient({ baseUrl: bad.url, token: bad.token }),
      exitHooks: false,
    });
    const error = await sessions.open('/me/drive/items/A').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphRequestError);
    expect((error as GraphRequestError).kind).toBe('malformed');
    expect((error as Error).message).toBe(
      'GET /me/drive/items/A failed: malformed: the answer names no `id` and `parentReference.driveId`, so the file behind this workbook reference is unknown',
    );
    expect(bad.requests.map((r) => r.url)).toEqual(['/v1.0/me/drive/items/A?$select=id,parentReference']);
    await sessions.shutdown();
  });

  test('an open aborted during the look-up sends no createSession', async () => {
    const { env } = await oneFile({ latency: { fixedMs: 40 } });
    const sessions: SessionManager = env.manager();
    const controller = new AbortController();
    const opening = settle(sessions.open(`/me/drive/root:${ROOT_PATH}:`, { signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('caller gave up')), 10);
    const result = await opening;
    expect(result).toMatchObject({ ok: false, error: { message: 'caller gave up' } });
    await sessions.shutdown();
    expect(env.service.stats()).toMatchObject({ created: 0, requestsByRoute: { item: 1, createSession: 0 } });
  });

  test('WorkbookResolver.laneOf gives every name of a resolved file one lane', async () => {
    const asked: string[] = [];
    const resolver = new WorkbookResolver((path) => {
      asked.push(path);
      return Promise.resolve({ id: 'X', parentReference: { driveId: 'D' } });
    });
    const byPath = parseWorkbookRef('/me/drive/root:/Book.xlsx:');
    expect(resolver.laneOf(byPath.path)).toBe(byPath.key);
    await resolver.resolve(byPath);
    await resolver.resolve(parseWorkbookRef('/me/drive/items/X'));
    const lane = fileKey({ driveId: 'D', itemId: 'X' });
    expect(lane).toBe('/drives/d/items/x');
    // Graph has answered one drive's ids in either case: both give the one lane.
    expect(fileKey({ driveId: 'd', itemId: 'x' })).toBe(lane);
    expect(resolver.laneOf(byPath.path)).toBe(lane);
    expect(resolver.laneOf('/me/drive/root:/BOOK.xlsx:')).toBe(lane);
    expect(resolver.laneOf('/me/drive/items/X')).toBe(lane);
    expect(resolver.laneOf('/me/drive/items/Y')).toBe('/me/drive/items/Y');
    expect(asked).toEqual(['/me/drive/root:/Book.xlsx:', '/me/drive/items/X']);
  });
});

describe('emulator: GET {item} and a file under all its names', () => {
  test('GET {item} answers a driveItem under any name, honouring $select', async () => {
    const { env, file } = await oneFile();
    const full = await env.client.api(`/me/drive/root:${ROOT_PATH}:`).get();
    expect(full).toMatchObject({
      '@odata.context': expect.stringContaining(`$metadata#drives('${DRIVE}')/items/$entity`),
      id: file.itemId,
      name: 'Q1 Sales.xlsx',
      file: { mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' },
      parentReference: { driveId: DRIVE, path: `/drives/${DRIVE}/root:/Reports` },
    });
    for (const form of everyForm(file.itemId)) {
      const picked = (await env.client.api(form).select('id,parentReference').get()) as Record<string, unknown>;
      expect(Object.keys(picked).sort()).toEqual(['@odata.context', 'id', 'parentReference']);
      expect(picked).toMatchObject({
        id: file.itemId,
        parentReference: { driveId: DRIVE },
        '@odata.context': expect.stringContaining('items(id,parentReference)/$entity'),
      });
    }
    await expect(env.client.api('/me/drive/root:/Nope.xlsx:').get()).rejects.toMatchObject({
      statusCode: 404,
      code: 'itemNotFound',
    });
  });

  test('GET {item} gets only the faults that name its route: a route-less fault waits for a workbook call', async () => {
    const { env, file } = await oneFile();
    env.service.injectFault({ workbook: `/me/drive/items/${file.itemId}`, count: 1, status: 500 });
    // (Statuses the client's own RetryHandler does not resend.)
    env.service.injectFault({
      workbook: `/me/drive/root:${ROOT_PATH}:`,
      route: 'item',
      count: 1,
      status: 409,
      code: 'conflict',
    });
    // The look-up draws the fault that names it, under another name of the file.
    await expect(env.client.api(`/drives/${DRIVE}/items/${file.itemId}`).get()).rejects.toMatchObject({
      statusCode: 409,
    });
    expect((await env.client.api(`/drives/${DRIVE}/items/${file.itemId}`).get()) as { id: string }).toMatchObject({
      id: file.itemId,
    });
    // The route-less one is still there for the first workbook call.
    await expect(
      env.client.api(`/drives/${DRIVE}/items/${file.itemId}/workbook/worksheets`).get(),
    ).rejects.toMatchObject({ statusCode: 500 });
    expect(env.service.stats().faultsInjected).toBe(2);
  });

  test('requests on two names of one file count as one workbook: in flight, cooldowns and faults', async () => {
    const { env, file } = await oneFile({ latency: { fixedMs: 15 } });
    const byId = `/sites/contoso.sharepoint.com,1111,2222/drives/${DRIVE}/items/${file.itemId}/workbook/worksheets`;
    const byPath = `/users/ada@contoso.com/drive/root:/reports/Q1%20SALES.xlsx:/workbook/worksheets`;
    await Promise.all([env.client.api(byId).get(), env.client.api(byPath).get()]);
    expect(env.service.stats()).toMatchObject({ maxInFlightPerWorkbook: 2, maxInFlightByWorkbook: { [file.path]: 2 } });
    // A fault named by one name hits the other; its Retry-After holds every name of the file.
    env.service.injectFault({ workbook: `/me/drive/items/${file.itemId}`, status: 429, retryAfterSeconds: 30 });
    // The Graph client's own retries are off, so the 429 comes back as it is.
    await expect(
      env.client
        .api(byPath)
        .middlewareOptions([new RetryHandlerOptions(0, 0)])
        .get(),
    ).rejects.toMatchObject({ statusCode: 429 });
    await env.client.api(byId).get();
    expect(env.service.stats()).toMatchObject({ faultsInjected: 1, cooldownViolations: 1 });
  });

  test('addWorkbook tells the ids of a file added by path, and a session made under one name serves another', async () => {
    env = await overHttp({ workbooks: {} });
    const added = env.service.addWorkbook('/me/drive/root:/Book.xlsx:');
    expect(added).toMatchObject({ path: '/me/drive/root:/Book.xlsx:', rootPath: '/Book.xlsx' });
    expect(added.itemId).toMatch(/^01[0-9A-F]{32}$/);
    expect(env.service.workbookFile(`/drives/${added.driveId}/items/${added.itemId}`)).toEqual(added);
    expect(env.service.workbookFile('/me/drive/root:/book.XLSX:')).toEqual(added);
    expect(() => env?.service.addWorkbook(`/drives/${added.driveId}/root:/BOOK.xlsx:`)).toThrow('already exists');
    // Graph keys a session by its file: the id made under the path works under the item id.
    const created = (await env.client
      .api('/me/drive/root:/Book.xlsx:/workbook/createSession')
      .post({ persistChanges: true })) as { id: string };
    await env.client
      .api(`/drives/${added.driveId}/items/${added.itemId}/workbook/closeSession`)
      .header('workbook-session-id', created.id)
      .post(undefined);
    expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
    expect(env.service.openSessions(`/me/drive/items/${added.itemId}`)).toBe(0);
  });
});

describe('the journal keys sessions by file', () => {
  /** Creates a session the way a process that later crashed would have. */
  async function createdElsewhere(e: Env, workbook: string): Promise<string> {
    const created = (await e.client.api(`${workbook}/workbook/createSession`).post({ persistChanges: true })) as {
      id: string;
    };
    return created.id;
  }

  test('a session is recorded with its file (/drives/{d}/items/{i}) beside the reference', async () => {
    const { env, file } = await oneFile();
    const dir = await tempDir();
    const sessions = env.manager({ journal: { path: dir } });
    const book = await sessions.open(`/me/drive/root:${ROOT_PATH}:`);
    const [entry] = (await new SessionJournal({ path: dir }).scan()).live;
    expect(entry).toMatchObject({
      workbook: '/me/drive/root:/Reports/Q1%20Sales.xlsx:',
      file: `/drives/${DRIVE}/items/${file.itemId}`.toLowerCase(),
    });
    await book.close();
  });

  test("recovery closes a dead process's sessions on every name of one file in one lane", async () => {
    const { env, file } = await oneFile({ latency: { fixedMs: 15 } });
    const names = [
      `/me/drive/items/${file.itemId}`,
      `/drives/${DRIVE}/root:${ROOT_PATH}:`,
      `/groups/G1/drive/items/${file.itemId}`,
      `/me/drive/root:${ROOT_PATH}:`,
    ];
    const ids = await Promise.all(names.map((name) => createdElsewhere(env, name)));
    const lane = `/drives/${DRIVE}/items/${file.itemId}`.toLowerCase();
    const lines = ids.map(
      (id, i) =>
        `${JSON.stringify({ ...(JSON.parse(openLine({ id, workbook: names[i] as string })) as object), file: lane })}\n`,
    );
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'sessions.journal'), lines.join(''), { mode: 0o600 });
    env.service.resetStats();
    const sessions = env.manager({ journal: { path: dir }, resolveWorkbooks: false });
    const report = await sessions.recover();
    expect(report.closed).toHaveLength(4);
    expect(env.service.stats()).toMatchObject({
      closed: 4,
      open: 0,
      maxInFlightPerWorkbook: 1,
      requestsByRoute: { item: 0 },
    });
  });
});
