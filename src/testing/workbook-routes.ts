import { invalidArgument, methodNotAllowed, notImplemented } from './error-answers.js';
import { type AnswerContext, collection, entity } from './odata.js';
import { MAX_RANGE_CELLS, cells, patchRange } from './range-patch.js';
import { formatRangeAddress, unboundedOf } from './range-address.js';
import type { ReplyContext } from './responses.js';
import { addRows, calculate, callFunction } from './workbook-actions.js';
import { columnJson, namedItemJson, rangeJson, tableJson, worksheetJson } from './workbook-json.js';
import type { WorkbookData } from './workbook-model.js';
import type { Kind, Step } from './workbook-path.js';
import { resolve } from './workbook-resolve.js';

export { findSheet } from './workbook-resolve.js';

/**
 * The workbook calls the emulator answers, on one copy of a workbook's data: the file's, or a
 * non-persistent session's own. The steps are resolved to a resource (`workbook-resolve.ts`), then the
 * method decides what to do with it: its JSON (`workbook-json.ts`), a range PATCH (`range-patch.ts`)
 * or an action (`workbook-actions.ts`).
 */

/** Which methods each resource takes; anything else is 405. */
const METHODS: Readonly<Record<Kind, readonly string[]>> = {
  workbook: ['GET'],
  worksheets: ['GET'],
  worksheet: ['GET'],
  range: ['GET', 'PATCH'],
  tables: ['GET'],
  table: ['GET'],
  rows: ['GET', 'POST'],
  row: ['GET'],
  rowsAdd: ['POST'],
  columns: ['GET'],
  column: ['GET'],
  names: ['GET'],
  name: ['GET'],
  application: ['GET'],
  calculate: ['POST'],
  functions: [],
  function: ['POST'],
};

/** Methods Graph takes on a resource that the emulator does not: 501, not 405. */
const NOT_IMPLEMENTED_METHODS: Readonly<Partial<Record<Kind, readonly string[]>>> = {
  worksheets: ['POST'],
  tables: ['POST'],
  columns: ['POST'],
  names: ['POST'],
  worksheet: ['PATCH', 'DELETE'],
  table: ['PATCH', 'DELETE'],
  row: ['PATCH', 'DELETE'],
  column: ['PATCH', 'DELETE'],
  name: ['PATCH', 'DELETE'],
};

export function methodProblem(ctx: ReplyContext, kind: Kind, method: string): Response | undefined {
  const m = method.toUpperCase();
  if (METHODS[kind].includes(m)) return undefined;
  if (NOT_IMPLEMENTED_METHODS[kind]?.includes(m) === true) return notImplemented(ctx, `${m} on a ${kind}`);
  return methodNotAllowed(ctx, method, METHODS[kind]);
}

/** Answers a workbook call whose path parsed to `steps` and whose method `methodProblem` accepted. */
export function answer(
  actx: AnswerContext,
  data: WorkbookData,
  steps: readonly Step[],
  method: string,
  body: unknown,
): Response {
  const ctx = actx.reply;
  const at = resolve(ctx, data, steps);
  if (at instanceof Response) return at;
  const m = method.toUpperCase();
  switch (at.kind) {
    case 'workbook':
      return notImplemented(ctx, 'GET on the workbook itself');
    case 'worksheets':
      return collection(
        actx,
        'workbookWorksheet',
        data.sheets().map((s) => worksheetJson(data, s)),
      );
    case 'worksheet':
      return entity(actx, 200, 'workbookWorksheet', worksheetJson(data, at.sheet));
    case 'range':
      if (m === 'PATCH') return patchRange(actx, data, at.view, body);
      if (unboundedOf(at.view.rect) === undefined && cells(at.view.rect) > MAX_RANGE_CELLS)
        return invalidArgument(
          ctx,
          `The range ${formatRangeAddress(at.view.sheet.name, at.view.rect)} has more than ${MAX_RANGE_CELLS} cells.`,
        );
      return entity(actx, 200, 'workbookRange', rangeJson(data, at.view));
    case 'tables':
      return collection(
        actx,
        'workbookTable',
        data
          .tables()
          .filter((t) => at.sheet === undefined || t.sheet === at.sheet.name)
          .map(tableJson),
      );
    case 'table':
      return entity(actx, 200, 'workbookTable', tableJson(at.table));
    case 'rows':
      // table-post-rows.md: 201 Created, `values` required.
      if (m === 'POST') return addRows(actx, at.table, body, { status: 201, valuesOptional: false });
      return collection(
        actx,
        'workbookTableRow',
        at.table.rows.map((row, index) => ({ index, values: [[...row]] })),
      );
    case 'rowsAdd':
      // tablerowcollection-add.md: 200 OK, `values` optional (one blank row).
      return addRows(actx, at.table, body, { status: 200, valuesOptional: true });
    case 'row':
      return entity(actx, 200, 'workbookTableRow', { index: at.index, values: [[...(at.table.rows[at.index] ?? [])]] });
    case 'columns':
      return collection(
        actx,
        'workbookTableColumn',
        at.table.columns.map((_, i) => columnJson(at.table, i)),
      );
    case 'column':
      return entity(actx, 200, 'workbookTableColumn', columnJson(at.table, at.index));
    case 'names':
      // Seeded names are workbook-scoped: a worksheet's own names are none.
      return collection(
        actx,
        'workbookNamedItem',
        at.sheet !== undefined ? [] : data.names().map((n) => namedItemJson(data, n)),
      );
    case 'name':
      return entity(actx, 200, 'workbookNamedItem', namedItemJson(data, at.item));
    case 'application':
      return entity(actx, 200, 'workbookApplication', { calculationMode: 'Automatic' });
    case 'calculate':
      return calculate(ctx, body);
    case 'functions':
      return notImplemented(ctx, 'the functions collection');
    case 'function':
      return callFunction(actx, data, at.name, body);
  }
}
