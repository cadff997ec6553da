// Workbook references: every drive-item form Graph accepts opens its file, and the journal keys sessions by file.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import type { WorkbookFile } from '../../src/testing/index.js';
import type { BadServer } from '../helpers/bad-server.js';
import { SessionJournal } from '../../src/journal/journal.js';
import { openLine, removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';
import { overHttp } from '../helpers/graph.js';
import { DRIVE, ROOT_PATH, SHEET, emulatorWithOneFile } from '../helpers/one-file.js';

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

/** {@link emulatorWithOneFile}, kept in `env` to be closed after the test. */
async function oneFile(options: Parameters<typeof overHttp>[0] = {}): Promise<{ env: Env; file: WorkbookFile }> {
  const setup = await emulatorWithOneFile(options);
  env = setup.env;
  return setup;
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

  test(
    'GET {item} gets only the faults that name its ' + 'route: a route-less fault waits for a workbook call',
    async () => {
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
    },
  );

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

  test(
    'addWorkbook tells the ids of a file added by path, ' + 'and a session made under one name serves another',
    async () => {
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
    },
  );
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
        JSON.stringify({ ...(JSON.parse(openLine({ id, workbook: names[i] as string })) as object), file: lane }) +
        '\n',
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
