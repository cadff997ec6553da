import { invalidArgument, methodNotAllowed, notImplemented } from './error-answers.js';
import { type AnswerContext, collection, entity } from './odata.js';
import { MAX_RANGE_CELLS, cells, patchRange } from './range-patch.js';
import { formatRangeAddress, unboundedOf } from './range-address.js';
import type { ReplyContext } from './responses.js';
import { addRows, calculate, callFunction } from './workbook-actions.js';
import { columnJson, namedItemJson, rangeJson, tableJson, worksheetJson } from './workbook-json.js';
import type { SheetData, TableData, WorkbookData } from './workbook-model.js';
import type { Kind, Step } from './workbook-path.js';
import { type RangeView, type Resource, resolve } from './workbook-resolve.js';

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
      return collection(actx, 'workbookWorksheet', sheetsJson(data));
    case 'worksheet':
      return entity(actx, 200, 'workbookWorksheet', worksheetJson(data, at.sheet));
    case 'range':
      return answerRange(actx, data, at.view, m, body);
    case 'tables':
      return collection(actx, 'workbookTable', tablesOn(data, at.sheet).map(tableJson));
    case 'table':
    case 'rows':
    case 'rowsAdd':
    case 'row':
    case 'columns':
    case 'column':
      return answerTable(actx, at, m, body);
    case 'names':
      // Seeded names are workbook-scoped: a worksheet's own names are none.
      return collection(actx, 'workbookNamedItem', at.sheet !== undefined ? [] : namesJson(data));
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

/** A range's JSON, refused when it is bounded and too big to build; or a PATCH of it. */
function answerRange(actx: AnswerContext, data: WorkbookData, view: RangeView, m: string, body: unknown): Response {
  if (m === 'PATCH') return patchRange(actx, data, view, body);
  if (unboundedOf(view.rect) === undefined && cells(view.rect) > MAX_RANGE_CELLS)
    return invalidArgument(
      actx.reply,
      `The range ${formatRangeAddress(view.sheet.name, view.rect)} has more than ${MAX_RANGE_CELLS} cells.`,
    );
  return entity(actx, 200, 'workbookRange', rangeJson(data, view));
}

type TableResource = Extract<Resource, { readonly kind: 'table' | 'rows' | 'rowsAdd' | 'row' | 'columns' | 'column' }>;

/** A table, its rows or its columns: their JSON, or rows added. */
function answerTable(actx: AnswerContext, at: TableResource, m: string, body: unknown): Response {
  switch (at.kind) {
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
  }
}

function sheetsJson(data: WorkbookData): Record<string, unknown>[] {
  return data.sheets().map((s) => worksheetJson(data, s));
}

/** The tables on a sheet, or in the whole workbook. */
function tablesOn(data: WorkbookData, sheet: SheetData | undefined): TableData[] {
  return data.tables().filter((t) => sheet === undefined || t.sheet === sheet.name);
}

function namesJson(data: WorkbookData): Record<string, unknown>[] {
  return data.names().map((n) => namedItemJson(data, n));
}
