// What spans and metrics say of a request: path templates, shortened workbooks, error types.
import { describe, expect, test } from 'vitest';
import { GraphRequestError, ManagerShutDownError } from '../../src/index.js';
import { errorType, pathTemplate, shortWorkbook } from '../../src/telemetry/attributes.js';

describe('pathTemplate()', () => {
  test.each([
    ['/me/drive/items/01BYE5RZ6QN3ZWBTURFFCIXCALBBMMQRTV', '/me/drive/items/{id}'],
    ['/me/drive/items/A/workbook/createSession', '/me/drive/items/{id}/workbook/createSession'],
    ['/drives/b!x-Yz_1/items/01AB/workbook/worksheets', '/drives/{id}/items/{id}/workbook/worksheets'],
    [
      '/sites/contoso.sharepoint.com,1,2/drives/d/root:/Reports/Q1 Sales.xlsx:/workbook/tables',
      '/sites/{id}/drives/{id}/root:{path}:/workbook/tables',
    ],
    ['/users/ada@contoso.com/drive/items/X/workbook/names', '/users/{id}/drive/items/{id}/workbook/names'],
    [
      "/me/drive/items/A/workbook/worksheets('Sheet 1')/range(address='A1:B2')",
      '/me/drive/items/{id}/workbook/worksheets({id})/range(address={address})',
    ],
    [
      '/me/drive/items/A/workbook/worksheets/Sheet1/usedRange',
      '/me/drive/items/{id}/workbook/worksheets/{id}/usedRange',
    ],
    [
      '/me/drive/items/A/workbook/worksheets/{00000000-0001-0000-0000-000000000000}/charts/Chart 1/image',
      '/me/drive/items/{id}/workbook/worksheets/{id}/charts/{id}/image',
    ],
    ["/me/drive/items/A/workbook/tables('Sales')/rows/add", '/me/drive/items/{id}/workbook/tables({id})/rows/add'],
    [
      '/me/drive/items/A/workbook/tables/sales/rows/itemAt(index=3)',
      '/me/drive/items/{id}/workbook/tables/{id}/rows/itemAt(index={index})',
    ],
    [
      "/me/drive/items/A/workbook/worksheets('S')/cell(row=1,column=2)",
      '/me/drive/items/{id}/workbook/worksheets({id})/cell(row={row},column={column})',
    ],
    [
      '/me/drive/items/A/workbook/operations/c3VjY2Vzcw?sessionId=secret',
      '/me/drive/items/{id}/workbook/operations/{id}',
    ],
    ['/me/drive/items/A/workbook/names/$count', '/me/drive/items/{id}/workbook/names/$count'],
  ])('%s', (path, template) => {
    expect(pathTemplate(path)).toBe(template);
  });
});

describe('shortWorkbook()', () => {
  test('shortens each id of the reference and keeps a root path', () => {
    expect(shortWorkbook('/me/drive/items/01BYE5RZ6QN3ZWBTURFFCIXCALBBMMQRTV')).toBe(
      '/me/drive/items/01BYE5…MQRTV'.replace('MQRTV', 'QRTV'),
    );
    expect(shortWorkbook('/drives/b!abcdefghijklmnopqrstuvwxyz/items/A')).toBe('/drives/b!abcd…wxyz/items/A');
    expect(shortWorkbook('/me/drive/root:/Reports/Q1%20Sales.xlsx:')).toBe('/me/drive/root:/Reports/Q1%20Sales.xlsx:');
  });
});

describe('errorType()', () => {
  test("a Graph failure's status, or its kind without an answer; another error's name", () => {
    const http = new GraphRequestError({ kind: 'http', method: 'GET', path: '/x', status: 429 });
    const network = new GraphRequestError({ kind: 'network', method: 'GET', path: '/x' });
    expect([http, network, new ManagerShutDownError(), 'text'].map(errorType)).toEqual([
      '429',
      'network',
      'ManagerShutDownError',
      '_OTHER',
    ]);
  });
});
