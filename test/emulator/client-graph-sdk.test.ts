import { BatchRequestContent, BatchResponseContent, Client } from '@microsoft/microsoft-graph-client';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/testing/index.js';

// The Graph JS client used as the Graph docs' JavaScript snippets use it (client.api(path).get/post/update),
// against the emulator over https, trusting its certificate on this client only.
const WB = '/me/drive/items/SNIPPETS';
let emulator: RunningEmulator | undefined;

afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function start(): Promise<{ client: Client; emulator: RunningEmulator }> {
  emulator = await startEmulator({
    https: true,
    workbooks: {
      [WB]: {
        worksheets: {
          Sheet1: { cells: [['x', 'y']] },
          Data: { tables: { Table1: { columns: ['a', 'b', 'c'], rows: [[0, 0, 0]] } } },
        },
        names: { Rate: '=Sheet1!$B$1' },
      },
    },
  });
  const e = emulator;
  const client = Client.init({
    authProvider: (done) => done(null, e.token),
    baseUrl: e.url,
    customHosts: new Set([new URL(e.url).hostname]),
    fetchOptions: { dispatcher: new Agent({ connect: { ca: e.ca } }) } as RequestInit,
  });
  return { client, emulator: e };
}

describe('the Graph client as the docs snippets use it, against the emulator', () => {
  it(
    'createSession, range update (values, formulas, numberFormat), ' +
      'rows post and rows/add, tables, names, closeSession',
    async () => {
      const { client, emulator: e } = await start();
      const session = (await client.api(`${WB}/workbook/createSession`).post({ persistChanges: true })) as {
        id: string;
      };
      const sid = session.id;
      // range-update.md's example body.
      const workbookRange = {
        values: [
          ['Hello', '100'],
          ['1/1/2016', null],
        ],
        formulas: [
          [null, null],
          [null, '=B1*2'],
        ],
        numberFormat: [
          [null, null],
          ['m-ddd', null],
        ],
      };
      await client
        .api(`${WB}/workbook/worksheets/Sheet1/range(address='A1:B2')`)
        .header('workbook-session-id', sid)
        .update(workbookRange);
      const range = (await client
        .api(`${WB}/workbook/worksheets/Sheet1/range(address='A1:B2')`)
        .header('workbook-session-id', sid)
        .get()) as Record<string, unknown>;
      expect(range).toMatchObject({
        values: [
          ['Hello', 100],
          [42370, ''],
        ],
        formulas: [
          ['Hello', 100],
          [42370, '=B1*2'],
        ],
        numberFormat: [
          ['General', 'General'],
          ['m-ddd', 'General'],
        ],
      });
      expect(range['@odata.context']).toBe(`${e.url}/v1.0/$metadata#workbookRange`);

      // table-post-rows.md's example, then the rows/add form.
      const workbookTableRow = {
        index: 1,
        values: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      };
      expect(
        await client.api(`${WB}/workbook/tables/Table1/rows`).header('workbook-session-id', sid).post(workbookTableRow),
      ).toMatchObject({
        index: 1,
        values: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      });
      expect(
        await client
          .api(`${WB}/workbook/tables/Table1/rows/add`)
          .header('workbook-session-id', sid)
          .post({ values: [[7, 8, 9]] }),
      ).toMatchObject({ index: 3 });
      const tables = (await client.api(`${WB}/workbook/tables`).header('workbook-session-id', sid).get()) as {
        value: { name: string }[];
      };
      expect(tables.value.map((t) => t.name)).toEqual(['Table1']);
      const names = (await client.api(`${WB}/workbook/names`).header('workbook-session-id', sid).get()) as {
        value: { name: string; type: string }[];
      };
      expect(names.value).toMatchObject([{ name: 'Rate', type: 'Range' }]);

      // workbookapplication-calculate.md: 200 with no body.
      await client
        .api(`${WB}/workbook/application/calculate`)
        .header('workbook-session-id', sid)
        .post({ calculationType: 'Recalculate' });

      await client.api(`${WB}/workbook/closeSession`).header('workbook-session-id', sid).post({});
      expect(e.service.openSessions()).toBe(0);
      expect(e.service.tableRows(WB, 'Table1')).toEqual([
        [0, 0, 0],
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
      ]);
    },
  );

  it(
    'BatchRequestContent posted to /$batch: serial steps in one ' + 'session, each answered with its own status',
    async () => {
      const { client, emulator: e } = await start();
      const { id: sid } = (await client.api(`${WB}/workbook/createSession`).post({ persistChanges: true })) as {
        id: string;
      };
      const base = `${e.url}/v1.0${WB}/workbook`;
      const headers = { 'workbook-session-id': sid, 'Content-Type': 'application/json' };
      const content = new BatchRequestContent([
        {
          id: '1',
          request: new Request(`${base}/worksheets('Sheet1')/range(address='C1')`, {
            method: 'PATCH',
            headers,
            body: JSON.stringify({ values: [[5]] }),
          }),
        },
        {
          id: '2',
          request: new Request(`${base}/worksheets('Sheet1')/range(address='C1')`, { method: 'GET', headers }),
          dependsOn: ['1'],
        },
        { id: '3', request: new Request(`${base}/closeSession`, { method: 'POST', headers }), dependsOn: ['2'] },
      ]);
      const answer = new BatchResponseContent(
        (await client.api('/$batch').post(await content.getContent())) as { responses: [] },
      );
      expect(answer.getResponseById('1')?.status).toBe(200);
      expect(await answer.getResponseById('2')?.json()).toMatchObject({ values: [[5]] });
      expect(answer.getResponseById('3')?.status).toBe(204);
      expect(e.service.openSessions()).toBe(0);
    },
  );

  it('BatchResponseContent reads a 424 of a failed dependency as a JSON error, like every other answer', async () => {
    const { client, emulator: e } = await start();
    const base = `${e.url}/v1.0${WB}/workbook`;
    const content = new BatchRequestContent([
      { id: '1', request: new Request(`${base}/worksheets('Nope')/range(address='A1')`, { method: 'GET' }) },
      {
        id: '2',
        request: new Request(`${base}/worksheets('Sheet1')/range(address='A1')`, { method: 'GET' }),
        dependsOn: ['1'],
      },
    ]);
    const answer = new BatchResponseContent(
      (await client.api('/$batch').post(await content.getContent())) as { responses: [] },
    );
    expect(answer.getResponseById('1')?.status).toBe(404);
    const dependent = answer.getResponseById('2');
    expect(dependent?.status).toBe(424);
    expect(dependent?.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await dependent?.json()).toMatchObject({ error: { code: 'failedDependency' } });
  });
});
