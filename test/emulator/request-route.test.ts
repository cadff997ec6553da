import { describe, expect, it } from 'vitest';
import { isServedPath, routeRequest, unknownSegment } from '../../src/testing/request-route.js';

const ITEM = '/v1.0/me/drive/items/01ABC';

describe('routeRequest()', () => {
  it('tells $batch, GET {item}, session routes, workbook calls and other paths apart', () => {
    expect(routeRequest('POST', '/v1.0/$batch')).toEqual({
      target: undefined,
      routed: undefined,
      name: 'batch',
      batchVersion: 'v1.0',
    });
    expect(routeRequest('POST', '/beta/$batch/').batchVersion).toBe('beta');
    expect(routeRequest('GET', ITEM)).toMatchObject({ name: 'item', routed: { item: true } });
    expect(routeRequest('POST', `${ITEM}/workbook/createSession`)).toMatchObject({
      name: 'createSession',
      routed: { session: { name: 'createSession' } },
    });
    expect(routeRequest('GET', `${ITEM}/workbook/operations/abc`)).toMatchObject({
      name: 'operation',
      routed: { session: { name: 'operation', operationId: 'abc' } },
    });
    expect(routeRequest('GET', `${ITEM}/workbook/worksheets`)).toMatchObject({
      name: 'worksheets',
      routed: { path: { ok: true } },
    });
    expect(routeRequest('GET', '/v1.0/me')).toEqual({
      target: undefined,
      routed: undefined,
      name: 'other',
      batchVersion: undefined,
    });
  });

  it('names a table-row POST tableRowsAdd, whatever spelling of the route', () => {
    expect(routeRequest('POST', `${ITEM}/workbook/tables/T/rows`).name).toBe('tableRowsAdd');
    expect(routeRequest('POST', `${ITEM}/workbook/tables/T/rows/add`).name).toBe('tableRowsAdd');
    expect(routeRequest('GET', `${ITEM}/workbook/tables/T/rows`).name).toBe('tableRows');
  });
});

describe('isServedPath()', () => {
  it('is true for $batch and drive-item paths only', () => {
    expect(isServedPath('/v1.0/$batch')).toBe(true);
    expect(isServedPath(`${ITEM}/workbook/worksheets`)).toBe(true);
    expect(isServedPath('/v1.0/me')).toBe(false);
    expect(isServedPath('/v2.0/$batch')).toBe(false);
  });
});

describe('unknownSegment()', () => {
  it('names the first segment after the item, or the last one of a path with no item', () => {
    expect(unknownSegment(`${ITEM}/workbok/worksheets`)).toBe('workbok');
    expect(unknownSegment('/v1.0/me/messages')).toBe('messages');
    expect(unknownSegment(`${ITEM}/foo(x=1)`)).toBe('foo');
  });
});
