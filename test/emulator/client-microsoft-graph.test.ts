import { setupServer } from 'msw/node';
import closeWorkbookSession from 'microsoft-graph/closeWorkbookSession';
import { createContext } from 'microsoft-graph/context';
import createWorkbookSession from 'microsoft-graph/createWorkbookSession';
import { createDriveRef } from 'microsoft-graph/drive';
import { createDriveItemRef } from 'microsoft-graph/driveItem';
import getWorkbookWorksheetRange from 'microsoft-graph/getWorkbookWorksheetRange';
import listWorkbookTableRows from 'microsoft-graph/listWorkbookTableRows';
import listWorkbookTables from 'microsoft-graph/listWorkbookTables';
import { parallel } from 'microsoft-graph/operationInvoker';
import { createSiteRef } from 'microsoft-graph/site';
import updateWorkbookRange from 'microsoft-graph/updateWorkbookRange';
import { createWorkbookRangeRef } from 'microsoft-graph/workbookRange';
import { createWorkbookTableRef } from 'microsoft-graph/workbookTable';
import { createWorkbookWorksheetRef } from 'microsoft-graph/workbookWorksheet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkbookService } from '../../src/testing/index.js';
import { createEmulatorHandlers } from '../../src/testing/msw.js';

// The microsoft-graph package (3.13.40) calls https://graph.microsoft.com through axios, and
// addresses items only as /sites/{site}/drives/{drive}/items/{item}: msw routes its calls to the emulator.
const SITE = 'contoso.sharepoint.com,1,2';
const DRIVE = 'b!drive';
const ITEM = '01ITEM';
const WB = `/sites/${SITE}/drives/${DRIVE}/items/${ITEM}`;

const service = (): WorkbookService =>
  new WorkbookService({
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

describe('the microsoft-graph package against the emulator', () => {
  let svc: WorkbookService;
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterAll(() => server.close());

  const refs = (): ReturnType<typeof createDriveItemRef> => {
    const contextRef = createContext(async () => svc.token as never);
    return createDriveItemRef(createDriveRef(createSiteRef(contextRef, SITE as never), DRIVE as never), ITEM as never);
  };

  it(
    'opens a session, writes values, formulas and number formats, reads ' +
      'them back, lists tables and rows, batches, closes',
    async () => {
      svc = service();
      server.resetHandlers(...createEmulatorHandlers(svc));
      const workbook = await createWorkbookSession(refs(), true);
      expect(svc.openSessions()).toBe(1);
      const sheet = createWorkbookWorksheetRef(workbook, 'Sheet1' as never);
      const range = createWorkbookRangeRef(sheet, 'A2:C2' as never);
      await updateWorkbookRange(range, {
        values: [['pear', '4', null]],
        formulas: [[null, null, '=B2*2']],
        numberFormat: [[null, '0.00', null]],
      });
      const read = await getWorkbookWorksheetRange(range);
      expect(read).toMatchObject({
        values: [['pear', 4, '']],
        formulas: [['pear', 4, '=B2*2']],
        numberFormat: [['General', '0.00', 'General']],
        text: [['pear', '4.00', '']],
      });

      const dataSheet = createWorkbookWorksheetRef(workbook, 'Data' as never);
      const tables = await listWorkbookTables(dataSheet);
      expect(tables.map((t) => t.name)).toEqual(['Sales']);
      const table = createWorkbookTableRef(dataSheet, tables[0]?.id as never);
      expect((await listWorkbookTableRows(table)).map((r) => r.values)).toEqual([[['north', 10]]]);

      const [rows, again] = await parallel(listWorkbookTableRows(table), getWorkbookWorksheetRange(range));
      expect(rows).toHaveLength(1);
      expect(again).toMatchObject({ values: [['pear', 4, '']] });
      expect(svc.stats().requestsByRoute.batch).toBe(1);

      await closeWorkbookSession(workbook);
      expect(svc.openSessions()).toBe(0);
    },
  );
});
