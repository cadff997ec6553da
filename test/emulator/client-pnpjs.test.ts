import { graphfi, GraphBrowser, type GraphFI } from '@pnp/graph';
import '@pnp/graph/batching.js';
import '@pnp/graph/files/index.js';
import '@pnp/graph/users/index.js';
import '@pnp/graph/workbooks/index.js';
import type { IWorkbook, IWorkbookWithSession } from '@pnp/graph/workbooks/types.js';
import { BearerToken } from '@pnp/queryable';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/testing/index.js';

// PnPjs (@pnp/graph) driven through its own public API against the emulator over HTTP.
const ITEM = 'PNP';
const WB = `/me/drive/items/${ITEM}`;
let emulator: RunningEmulator | undefined;

afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/**
 * What the test uses of PnPjs's fluent root. Its type augmentations use extensionless module
 * names that NodeNext resolution does not apply, so the shape is spelled out here.
 */
interface PnpRoot {
  readonly me: {
    readonly drive: {
      getItemById(id: string): {
        getWorkbookSession(persistChanges: boolean): Promise<IWorkbookWithSession>;
        readonly workbook: IWorkbook;
      };
    };
  };
  batched(): [PnpRoot, () => Promise<void>];
}

async function start(): Promise<{ graph: PnpRoot; emulator: RunningEmulator }> {
  emulator = await startEmulator({
    workbooks: {
      [WB]: {
        worksheets: {
          Sheet1: {
            cells: [
              ['name', 'qty'],
              ['apple', 3],
            ],
          },
          Data: { tables: { Sales: { columns: ['region', 'qty'], rows: [['north', 10]] } } },
        },
      },
    },
  });
  // GraphBrowser points PnPjs at a base URL (with the version, like its default) and uses the global fetch;
  // BearerToken adds the token.
  const graph = graphfi().using(GraphBrowser({ baseUrl: `${emulator.url}/v1.0` }), BearerToken(emulator.token));
  return { graph: graph as GraphFI as unknown as PnpRoot, emulator };
}

describe('PnPjs @pnp/graph against the emulator', () => {
  it('opens a session, writes and reads values, formulas and number formats, appends table rows, closes', async () => {
    const { graph, emulator: e } = await start();
    const workbook = await graph.me.drive.getItemById(ITEM).getWorkbookSession(true);
    expect(e.service.openSessions()).toBe(1);
    const sheet = workbook.worksheets.getById('Sheet1');
    await sheet.getRange('A3:B3').update({ values: [['pear', '4']], numberFormat: [[null, '0.00']] });
    await sheet.getRange('C2').update({ formulas: [['=B2*2']] });
    const read = await sheet.getRange('A1:C3')();
    expect(read).toMatchObject({
      address: 'Sheet1!A1:C3',
      values: [
        ['name', 'qty', ''],
        ['apple', 3, ''],
        ['pear', 4, ''],
      ],
      formulas: [
        ['name', 'qty', ''],
        ['apple', 3, '=B2*2'],
        ['pear', 4, ''],
      ],
      text: [
        ['name', 'qty', ''],
        ['apple', '3', ''],
        ['pear', '4.00', ''],
      ],
    });
    expect(await sheet.getUsedRange(true)()).toMatchObject({ address: 'Sheet1!A1:C3' });
    expect(await sheet.getRange('A1:B1').cell(0, 1)()).toMatchObject({ values: [['qty']] });

    const tables = await workbook.tables();
    expect(tables.map((t) => t.name)).toEqual(['Sales']);
    const table = workbook.tables.getById('Sales');
    // PnPjs's rows.add() posts to tables/{name}/rows, the primary Create TableRow form.
    const added = await table.rows.add({ values: [['east', 4]] });
    expect(added).toMatchObject({ index: 1, values: [['east', 4]] });
    expect((await table.rows()).map((r) => r.values)).toEqual([[['north', 10]], [['east', 4]]]);
    expect(await table.dataBodyRange()).toMatchObject({ address: 'Data!A2:B3' });

    await workbook.closeSession();
    expect(e.service.openSessions()).toBe(0);
    expect(e.service.readRange(WB, 'Sheet1', 'A3:B3')).toEqual([['pear', 4]]);
  });

  it('batched() sends the calls as one $batch and resolves each', async () => {
    const { graph, emulator: e } = await start();
    const [batched, execute] = graph.batched();
    const workbook = batched.me.drive.getItemById(ITEM).workbook;
    const sheets = workbook.worksheets();
    const range = workbook.worksheets.getById('Sheet1').getRange('A1:B2')();
    const rows = workbook.tables.getById('Sales').rows();
    await execute();
    expect((await sheets).map((s) => s.name)).toEqual(['Sheet1', 'Data']);
    expect(await range).toMatchObject({
      values: [
        ['name', 'qty'],
        ['apple', 3],
      ],
    });
    expect((await rows).length).toBe(1);
    expect(e.service.stats().requestsByRoute).toMatchObject({ batch: 1, worksheets: 1, range: 1, tableRows: 1 });
    expect(e.service.openSessions()).toBe(0);
  });
});
