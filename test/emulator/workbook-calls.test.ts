import { describe, expect, it } from 'vitest';
import { WorkbookService } from '../../src/testing/index.js';
import { RANGE_PATCH_FIELDS } from '../../src/testing/range-patch.js';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);
const TOKEN = 'test-token';
const WB = '/me/drive/items/W';
const ROOT = `https://graph.microsoft.com/v1.0${WB}/workbook`;

function service(seed: ConstructorParameters<typeof WorkbookService>[0] = {}): WorkbookService {
  return new WorkbookService({
    token: TOKEN,
    now: () => T0,
    workbooks: {
      [WB]: {
        worksheets: {
          Sheet1: {
            cells: [
              ['a', 'b'],
              [1, '=A2*2'],
            ],
            numberFormats: [[null, null], ['0.00']],
          },
          Data: {
            tables: {
              Sales: {
                columns: ['region', 'qty'],
                rows: [
                  ['north', 10],
                  ['south', 7],
                ],
                address: 'B2',
              },
            },
          },
        },
        names: { TaxRate: '=0.08', Inputs: { value: '=Sheet1!$A$1:$B$2', comment: 'the inputs' } },
      },
    },
    ...seed,
  });
}

async function send(
  svc: WorkbookService,
  method: string,
  path: string,
  init: { body?: unknown; session?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Body; headers: Headers }> {
  const headers = new Headers({ Authorization: `Bearer ${TOKEN}`, ...init.headers });
  if (init.session !== undefined) headers.set('workbook-session-id', init.session);
  const url = path.startsWith('https://') ? path : `${ROOT}${path}`;
  const res = await svc.handle(
    new Request(url, { method, headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) }),
  );
  const text = await res.text();
  return {
    status: res.status,
    body: text === '' ? (null as unknown as Body) : (JSON.parse(text) as Body),
    headers: res.headers,
  };
}

/** The answer shapes these tests read: an error, a collection, or an entity. */
type Body = { error: { code: string; message: string }; value: Record<string, unknown>[] } & Record<string, unknown>;

const A1B2 = "/worksheets('Sheet1')/range(address='A1:B2')";

describe('workbook emulator ranges', () => {
  it(
    "PATCH range with the docs' example body stores values, " + 'formulas and number formats, and GET reads them back',
    async () => {
      const svc = service();
      const body = {
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
      const patched = await send(svc, 'PATCH', A1B2, { body });
      expect(patched.status).toBe(200);
      const read = await send(svc, 'GET', A1B2);
      expect(read.body).toMatchObject({
        '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#workbookRange',
        address: 'Sheet1!A1:B2',
        // "100" under General is the number 100; "1/1/2016" is the date serial 42370; formulas are stored,
        // not evaluated.
        values: [
          ['Hello', 100],
          [42370, ''],
        ],
        formulas: [
          ['Hello', 100],
          [42370, '=B1*2'],
        ],
        formulasLocal: [
          ['Hello', 100],
          [42370, '=B1*2'],
        ],
        formulasR1C1: [
          ['Hello', 100],
          [42370, '=R[-1]C*2'],
        ],
        numberFormat: [
          ['General', 'General'],
          ['m-ddd', 'General'],
        ],
        text: [
          ['Hello', '100'],
          ['1-Fri', ''],
        ],
        valueTypes: [
          ['String', 'Double'],
          ['Double', 'Empty'],
        ],
        hidden: false,
        rowHidden: false,
        columnHidden: false,
      });
      expect(patched.body).toEqual(read.body);
    },
  );

  it(
    'PATCH range: each documented field round-trips, a read-only ' + 'one answers 501, an unknown one 400 naming it',
    async () => {
      // The writable properties on range-update.md (v1.0), all of them.
      expect([...RANGE_PATCH_FIELDS].sort()).toEqual([
        'columnHidden',
        'formulas',
        'formulasLocal',
        'formulasR1C1',
        'numberFormat',
        'rowHidden',
        'values',
      ]);
      const cases: Record<(typeof RANGE_PATCH_FIELDS)[number], { input: unknown; read: Record<string, unknown> }> = {
        values: {
          input: [
            [1, 'x'],
            [true, null],
          ],
          read: {
            values: [
              [1, 'x'],
              [true, ''],
            ],
            formulas: [
              [1, 'x'],
              [true, '=A2*2'],
            ],
          },
        },
        formulas: {
          input: [
            ['=1+1', 5],
            [null, null],
          ],
          read: {
            formulas: [
              ['=1+1', 5],
              [1, '=A2*2'],
            ],
          },
        },
        formulasLocal: {
          input: [
            ['=SUM(B1:B2)', null],
            [null, null],
          ],
          read: {
            formulas: [
              ['=SUM(B1:B2)', 'b'],
              [1, '=A2*2'],
            ],
          },
        },
        formulasR1C1: {
          input: [
            [null, '=RC[-1]+R2C1'],
            [null, null],
          ],
          read: {
            formulas: [
              ['a', '=A1+$A$2'],
              [1, '=A2*2'],
            ],
            formulasR1C1: [
              ['a', '=RC[-1]+R2C1'],
              [1, '=RC[-1]*2'],
            ],
          },
        },
        numberFormat: {
          input: [
            ['@', '0%'],
            [null, null],
          ],
          read: {
            numberFormat: [
              ['@', '0%'],
              ['0.00', 'General'],
            ],
          },
        },
        rowHidden: { input: true, read: { rowHidden: true, hidden: true } },
        columnHidden: { input: true, read: { columnHidden: true, hidden: true } },
      };
      for (const field of RANGE_PATCH_FIELDS) {
        const svc = service();
        const patched = await send(svc, 'PATCH', A1B2, { body: { [field]: cases[field].input } });
        expect(patched.status, field).toBe(200);
        expect((await send(svc, 'GET', A1B2)).body, field).toMatchObject(cases[field].read);
      }
      const svc = service();
      const readOnly = await send(svc, 'PATCH', A1B2, { body: { address: 'C1' } });
      expect(readOnly.status).toBe(501);
      expect(readOnly.body.error).toMatchObject({
        code: 'notImplemented',
        innerError: { code: 'notImplementedUncategorized' },
      });
      expect(readOnly.body.error.message).toContain('`address`');
      const unknown = await send(svc, 'PATCH', A1B2, { body: { valuez: [[1]] } });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.message).toBe(
        "The property 'valuez' does not exist on type 'microsoft.graph.workbookRange'.",
      );
      expect(svc.readRange(WB, 'Sheet1', 'A1:B2')).toEqual([
        ['a', 'b'],
        [1, ''],
      ]);
    },
  );

  it('PATCH range applies a single input to every cell, and refuses a grid of the wrong shape', async () => {
    const svc = service();
    expect((await send(svc, 'PATCH', A1B2, { body: { values: 5, numberFormat: '0.00' } })).body).toMatchObject({
      values: [
        [5, 5],
        [5, 5],
      ],
      text: [
        ['5.00', '5.00'],
        ['5.00', '5.00'],
      ],
    });
    const bad = await send(svc, 'PATCH', A1B2, { body: { values: [[1, 2, 3]] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalidArgument');
  });

  it(
    'unbounded addresses: cell-level properties read as null, ' + 'writing them is refused, hiding columns works',
    async () => {
      const svc = service();
      const cols = await send(svc, 'GET', "/worksheets('Sheet1')/range(address='A:B')");
      expect(cols.body).toMatchObject({
        address: 'Sheet1!A:B',
        rowCount: 1_048_576,
        columnCount: 2,
        values: null,
        formulas: null,
        numberFormat: null,
        text: null,
        valueTypes: null,
      });
      expect((await send(svc, 'GET', "/worksheets('Sheet1')/range(address='2:3')")).body).toMatchObject({
        address: 'Sheet1!2:3',
        rowCount: 2,
        columnCount: 16_384,
        rowIndex: 1,
      });
      const write = await send(svc, 'PATCH', "/worksheets('Sheet1')/range(address='A:B')", {
        body: { values: [[1, 2]] },
      });
      expect(write.status).toBe(400);
      expect(write.body.error.code).toBe('invalidArgument');
      expect(
        (await send(svc, 'PATCH', "/worksheets('Sheet1')/range(address='B:B')", { body: { columnHidden: true } })).body,
      ).toMatchObject({ columnHidden: true });
      expect((await send(svc, 'GET', A1B2)).body).toMatchObject({ columnHidden: false });
      expect((await send(svc, 'GET', "/worksheets('Sheet1')/range(address='B1')")).body).toMatchObject({
        columnHidden: true,
        hidden: true,
      });
      expect((await send(svc, 'GET', "/worksheets('Sheet1')/range")).body).toMatchObject({
        address: 'Sheet1!1:1048576',
        cellCount: 1_048_576 * 16_384,
        values: null,
      });
    },
  );

  it('range navigation: usedRange on a range, cell, row, offsetRange, lastCell', async () => {
    const svc = service();
    expect((await send(svc, 'GET', "/worksheets('Sheet1')/usedRange")).body).toMatchObject({ address: 'Sheet1!A1:B2' });
    expect((await send(svc, 'GET', "/worksheets('Sheet1')/range(address='B2:D9')/usedRange")).body).toMatchObject({
      address: 'Sheet1!B2',
    });
    expect((await send(svc, 'GET', "/worksheets('Sheet1')/range(address='C5:D9')/usedRange")).status).toBe(404);
    expect((await send(svc, 'GET', "/worksheets('Sheet1')/range/usedRange(valuesOnly=true)")).body).toMatchObject({
      address: 'Sheet1!A1:B2',
    });
    expect((await send(svc, 'GET', `${A1B2}/cell(row=1,column=0)`)).body).toMatchObject({
      address: 'Sheet1!A2',
      values: [[1]],
      numberFormat: [['0.00']],
      text: [['1.00']],
    });
    expect((await send(svc, 'GET', "/worksheets('Sheet1')/cell(row=0,column=1)")).body).toMatchObject({
      address: 'Sheet1!B1',
      values: [['b']],
    });
    expect((await send(svc, 'GET', `${A1B2}/row(row=1)`)).body).toMatchObject({ address: 'Sheet1!A2:B2' });
    expect((await send(svc, 'GET', `${A1B2}/offsetRange(rowOffset=1,columnOffset=1)`)).body).toMatchObject({
      address: 'Sheet1!B2:C3',
    });
    expect((await send(svc, 'GET', `${A1B2}/lastCell`)).body).toMatchObject({
      address: 'Sheet1!B2',
      formulas: [['=A2*2']],
    });
    expect((await send(svc, 'GET', `${A1B2}/entireColumn`)).body).toMatchObject({ address: 'Sheet1!A:B' });
  });

  it(
    'a function call whose arguments are not its parameters answers 400, never a ' +
      '200 that dropped one (range(adress=...) is not the whole sheet)',
    async () => {
      const svc = service();
      for (const path of [
        "/worksheets('Sheet1')/range(adress='A1:B2')",
        "/worksheets('Sheet1')/range(address='A1',sheet='Data')",
        "/worksheets('Sheet1')/range('A1')",
        "/worksheets('Sheet1')/usedRange(valuesOnly=maybe)",
        "/worksheets('Sheet1')/usedRange(valusOnly=true)",
        "/worksheets('Sheet1')/cell(row=1,column=1,sheet=2)",
        `${A1B2}/lastCell(x=1)`,
        `${A1B2}/row(1)`,
        "/tables('Sales')/rows/itemAt(index=0,count=2)",
        "/tables('Sales')/range(address='A1')",
      ]) {
        const reply = await send(svc, 'GET', path);
        expect({ path, status: reply.status, code: reply.body.error?.code }).toEqual({
          path,
          status: 400,
          code: 'invalidRequest',
        });
      }
      expect((await send(svc, 'GET', "/worksheets('Sheet1')/usedRange(valuesOnly=false)")).status).toBe(200);
      expect((await send(svc, 'GET', "/worksheets('Sheet1')/range()")).status).toBe(200);
    },
  );
});

describe('workbook emulator tables, names, application and functions', () => {
  it('GET tables, tables/{name}, worksheets/{id}/tables and columns answer with ids', async () => {
    const svc = service();
    const all = await send(svc, 'GET', '/tables');
    expect(all.body).toEqual({
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#Collection(workbookTable)',
      value: [
        expect.objectContaining({
          id: expect.stringMatching(/^\{[0-9A-F-]+\}$/),
          name: 'Sales',
          showHeaders: true,
          showTotals: false,
          legacyId: '1',
        }),
      ],
    });
    const id = all.body.value[0]?.['id'] as string;
    expect((await send(svc, 'GET', `/tables('${id}')`)).body).toMatchObject({ name: 'Sales' });
    expect((await send(svc, 'GET', '/tables/sales')).body).toMatchObject({ id });
    expect((await send(svc, 'GET', "/worksheets('Data')/tables")).body.value).toHaveLength(1);
    expect((await send(svc, 'GET', "/worksheets('Sheet1')/tables")).body.value).toEqual([]);
    expect((await send(svc, 'GET', "/tables('Sales')/columns")).body.value).toEqual([
      { id: '1', index: 0, name: 'region', values: [['region'], ['north'], ['south']] },
      { id: '2', index: 1, name: 'qty', values: [['qty'], [10], [7]] },
    ]);
    expect((await send(svc, 'GET', "/tables('Sales')/columns('qty')/dataBodyRange")).body).toMatchObject({
      address: 'Data!C3:C4',
      values: [[10], [7]],
    });
  });

  it(
    'table ranges: range, headerRowRange, dataBodyRange and ' + 'rows/itemAt(index=n)/range sit at the table address',
    async () => {
      const svc = service();
      expect((await send(svc, 'GET', "/tables('Sales')/range")).body).toMatchObject({
        address: 'Data!B2:C4',
        values: [
          ['region', 'qty'],
          ['north', 10],
          ['south', 7],
        ],
      });
      expect((await send(svc, 'GET', "/tables('Sales')/headerRowRange")).body).toMatchObject({ address: 'Data!B2:C2' });
      expect((await send(svc, 'GET', "/tables('Sales')/dataBodyRange")).body).toMatchObject({ address: 'Data!B3:C4' });
      expect((await send(svc, 'GET', "/tables('Sales')/rows/itemAt(index=1)")).body).toMatchObject({
        index: 1,
        values: [['south', 7]],
      });
      expect((await send(svc, 'GET', "/tables('Sales')/rows/itemAt(index=1)/range")).body).toMatchObject({
        address: 'Data!B4:C4',
      });
      expect((await send(svc, 'GET', "/tables('Sales')/rows/itemAt(index=5)")).status).toBe(404);
      // Tables are kept apart from the grid, so writing through a table's range is refused rather than lost.
      expect((await send(svc, 'PATCH', "/tables('Sales')/range", { body: { values: 1 } })).status).toBe(501);
    },
  );

  it('POST tables/{name}/rows (the primary Create TableRow form) and rows/add both append, with index', async () => {
    const svc = service();
    const primary = await send(svc, 'POST', "/tables('Sales')/rows", {
      body: { index: null, values: [['east', '4']] },
    });
    expect(primary.status).toBe(201);
    expect(primary.body).toEqual({
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#workbookTableRow',
      index: 2,
      values: [['east', 4]],
    });
    const added = await send(svc, 'POST', "/worksheets('Data')/tables('Sales')/rows/add", {
      body: { index: 0, values: [['west', 1]] },
    });
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ index: 0 });
    // rows/add takes `values` as optional: a blank row.
    expect((await send(svc, 'POST', "/tables('Sales')/rows/add", { body: {} })).body).toMatchObject({
      index: 4,
      values: [['', '']],
    });
    expect((await send(svc, 'POST', "/tables('Sales')/rows", { body: {} })).status).toBe(400);
    expect(svc.tableRows(WB, 'Sales')).toEqual([
      ['west', 1],
      ['north', 10],
      ['south', 7],
      ['east', 4],
      ['', ''],
    ]);
    expect((await send(svc, 'POST', "/tables('Sales')/rows", { body: { values: [['x', '=1+1']] } })).status).toBe(501);
    expect(
      (await send(svc, 'POST', "/tables('Sales')/rows", { body: { values: [['x', 1]], color: 'red' } })).status,
    ).toBe(400);
  });

  it('GET names, names/{name}, and GET and PATCH names/{name}/range', async () => {
    const svc = service();
    expect((await send(svc, 'GET', '/names')).body.value).toEqual([
      { name: 'TaxRate', comment: '', scope: 'Workbook', type: 'Double', value: '=0.08', visible: true },
      {
        name: 'Inputs',
        comment: 'the inputs',
        scope: 'Workbook',
        type: 'Range',
        value: '=Sheet1!$A$1:$B$2',
        visible: true,
      },
    ]);
    expect((await send(svc, 'GET', "/names('inputs')")).body).toMatchObject({ name: 'Inputs' });
    expect((await send(svc, 'GET', '/names/Inputs/range')).body).toMatchObject({
      address: 'Sheet1!A1:B2',
      values: [
        ['a', 'b'],
        [1, ''],
      ],
    });
    await send(svc, 'PATCH', "/names('Inputs')/range", {
      body: {
        values: [
          [null, 'B'],
          [null, null],
        ],
      },
    });
    expect(svc.readRange(WB, 'Sheet1', 'B1')).toEqual([['B']]);
    expect((await send(svc, 'GET', '/names/TaxRate/range')).status).toBe(400);
  });

  it('application and application/calculate, and functions sum over numbers and a range reference', async () => {
    const svc = service();
    expect((await send(svc, 'GET', '/application')).body).toMatchObject({ calculationMode: 'Automatic' });
    const calc = await send(svc, 'POST', '/application/calculate', { body: { calculationType: 'Full' } });
    expect(calc.status).toBe(200);
    expect(calc.body).toBeNull();
    expect((await send(svc, 'POST', '/application/calculate', { body: { calculationType: 'Soon' } })).status).toBe(400);
    const sum = await send(svc, 'POST', '/functions/sum', {
      body: { values: [1, [2, 3], { address: 'Data!A1:A1' }, { address: 'Sheet1!A1:B2' }] },
    });
    expect(sum.body).toMatchObject({ error: null, value: 7 });
    expect((await send(svc, 'POST', '/functions/abs', { body: { number: -2 } })).body).toMatchObject({ value: 2 });
    const vlookup = await send(svc, 'POST', '/functions/vlookup', { body: { lookupValue: 1 } });
    expect(vlookup.status).toBe(501);
    expect(vlookup.body.error.message).toContain('vlookup');
  });
});

describe('workbook emulator routes it does not serve, and OData options', () => {
  it(
    'a route Graph has and the emulator does not answers 501 ' + 'naming it; an unknown one 400 naming the segment',
    async () => {
      const svc = service();
      const charts = await send(svc, 'GET', "/worksheets('Sheet1')/charts");
      expect(charts.status).toBe(501);
      expect(charts.body.error.message).toBe(
        "The workbook emulator does not implement the segment 'charts' of a worksheet.",
      );
      const typo = await send(svc, 'GET', "/worksheets('Sheet1')/rnge(address='A1')");
      expect(typo.status).toBe(400);
      expect(typo.body.error.message).toBe("Resource not found for the segment 'rnge'.");
      const item = await send(svc, 'GET', `https://graph.microsoft.com/v1.0${WB}/workbok/worksheets`);
      expect(item.body.error.message).toBe("Resource not found for the segment 'workbok'.");
      expect((await send(svc, 'DELETE', "/tables('Sales')")).status).toBe(501);
      expect((await send(svc, 'POST', '/worksheets', { body: { name: 'New' } })).status).toBe(501);
      expect((await send(svc, 'POST', '/worksheets/add', { body: { name: 'New' } })).status).toBe(501);
      expect((await send(svc, 'PUT', "/tables('Sales')")).status).toBe(405);
    },
  );

  it('names of built-in object properties are unknown segments too, not actions or navigations', async () => {
    const svc = service();
    const onRange = await send(svc, 'GET', "/worksheets('Sheet1')/range(address='A1')/constructor");
    expect(onRange.status).toBe(400);
    expect(onRange.body.error.message).toBe("Resource not found for the segment 'constructor'.");
    for (const name of ['constructor', 'toString', '__proto__']) {
      const top = await send(svc, 'POST', `/${name}`);
      expect(top.status, name).toBe(400);
    }
  });

  it('$select keeps only the named properties, refuses an unknown one, and $expand answers 501', async () => {
    const svc = service();
    expect((await send(svc, 'GET', `${A1B2}?$select=address,values`)).body).toEqual({
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#workbookRange',
      address: 'Sheet1!A1:B2',
      values: [
        ['a', 'b'],
        [1, ''],
      ],
    });
    expect((await send(svc, 'GET', "/tables('Sales')/rows?$select=values&$top=1&$skip=1")).body.value).toEqual([
      { values: [['south', 7]] },
    ]);
    expect((await send(svc, 'GET', `${A1B2}?$select=nope`)).status).toBe(400);
    const expand = await send(svc, 'GET', '/tables?$expand=columns');
    expect(expand.status).toBe(501);
    expect(expand.body.error.message).toContain('$expand');
  });

  it(
    'createSession and application/calculate refuse a parameter they do ' +
      'not take with 400 naming it, and open no session',
    async () => {
      const svc = service();
      const create = await send(svc, 'POST', '/createSession', { body: { persistChanges: true, persist: true } });
      expect(create.status).toBe(400);
      expect(create.body.error.message).toContain("'persist'");
      expect(svc.openSessions()).toBe(0);
      const calc = await send(svc, 'POST', '/application/calculate', {
        body: { calculationType: 'Full', mode: 'now' },
      });
      expect(calc.status).toBe(400);
      expect(calc.body.error.message).toContain("'mode'");
      expect(
        (
          await send(svc, 'POST', '/createSession', {
            body: { persistChanges: true, '@odata.type': '#microsoft.graph.workbookSessionInfo' },
          })
        ).status,
      ).toBe(201);
    },
  );

  it('GET {item} serves $select and answers 501 to $expand and $filter rather than a 200 without them', async () => {
    const svc = service();
    const item = `https://graph.microsoft.com/v1.0${WB}`;
    expect((await send(svc, 'GET', `${item}?$select=id`)).body).toMatchObject({ id: 'W' });
    for (const query of ['$expand=children', '$filter=size gt 0']) {
      const reply = await send(svc, 'GET', `${item}?${query}`);
      expect(reply.status).toBe(501);
      expect(reply.body.error.code).toBe('notImplemented');
    }
  });
});
