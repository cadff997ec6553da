import type { CellRect } from './address.js';
import { type CellValue, GENERAL, coerceInput, formatText, valueType } from './cell-format.js';
import { fromR1C1, toR1C1 } from './formula-notation.js';
import { type AnswerContext, collection, entity, notImplemented } from './odata.js';
import {
  SHEET_COLUMNS,
  SHEET_ROWS,
  formatRangeAddress,
  parseRangeAddress,
  unboundedOf,
  wholeSheet,
} from './range-address.js';
import { type ReplyContext, graphError, json } from './responses.js';
import type { NamedItemData, SheetData, TableData, WorkbookData } from './workbook-model.js';
import type { Kind, Step } from './workbook-path.js';

/**
 * The workbook calls the emulator answers, on one copy of a workbook's data: the file's, or a
 * non-persistent session's own. Steps from `workbook-path.ts` are resolved to a resource here,
 * then the method decides what to do with it.
 */

/** Bigger bounded ranges are refused rather than built in memory. */
export const MAX_RANGE_CELLS = 1_000_000;

/** The documented fields of a range PATCH (range-update.md); each one is applied. */
export const RANGE_PATCH_FIELDS = [
  'columnHidden',
  'formulas',
  'formulasLocal',
  'formulasR1C1',
  'numberFormat',
  'rowHidden',
  'values',
] as const;
const RANGE_READ_ONLY = [
  'address',
  'addressLocal',
  'cellCount',
  'columnCount',
  'columnIndex',
  'hidden',
  'rowCount',
  'rowIndex',
  'text',
  'valueTypes',
];

/** A bad argument: `invalidArgument` at the top and as the second-level code the error-handling page lists it as. */
export function invalidArgument(ctx: ReplyContext, message: string): Response {
  return graphError(ctx, { status: 400, code: 'invalidArgument', innerCode: 'invalidArgument', message });
}

function notFound(ctx: ReplyContext, message: string): Response {
  return graphError(ctx, { status: 404, code: 'itemNotFound', innerCode: 'notFoundUncategorized', message });
}

function noSuchProperty(ctx: ReplyContext, name: string, type: string): Response {
  return graphError(ctx, {
    status: 400,
    code: 'invalidRequest',
    innerCode: 'badRequestUncategorized',
    message: `The property '${name}' does not exist on type 'microsoft.graph.${type}'.`,
  });
}

/**
 * The first body key an action does not take (OData `@odata.*` annotations aside), answered 400 as
 * Graph answers an unknown action parameter: never a 200 that silently dropped it.
 */
export function unknownParameter(
  ctx: ReplyContext,
  body: unknown,
  allowed: readonly string[],
  action: string,
): Response | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const key = Object.keys(body).find((k) => !k.startsWith('@odata.') && !allowed.includes(k));
  if (key === undefined) return undefined;
  return graphError(ctx, {
    status: 400,
    code: 'invalidRequest',
    innerCode: 'badRequestUncategorized',
    message: `The parameter '${key}' in the request payload is not a valid parameter for the operation '${action}'.`,
  });
}

/** Graph's worksheet ids are GUID-like and stable per position. */
function worksheetId(position: number): string {
  return `{00000000-0001-0000-${(position << 8).toString(16).padStart(4, '0').toUpperCase()}-000000000000}`;
}

/** Finds a sheet by name (any case) or by its id. */
export function findSheet(data: WorkbookData, key: string): SheetData | undefined {
  return data.sheet(key) ?? data.sheets().find((_, i) => worksheetId(i) === key);
}

/** A rectangle on a sheet; with `table`, its cells come from that table (read-only), not the grid. */
interface RangeView {
  readonly sheet: SheetData;
  readonly rect: CellRect;
  readonly table: TableData | undefined;
}

type Resource =
  | { readonly kind: 'workbook' | 'worksheets' | 'application' | 'functions' | 'calculate' }
  | { readonly kind: 'names'; readonly sheet: SheetData | undefined }
  | { readonly kind: 'worksheet'; readonly sheet: SheetData }
  | { readonly kind: 'range'; readonly view: RangeView }
  | { readonly kind: 'tables'; readonly sheet: SheetData | undefined }
  | { readonly kind: 'table' | 'rows' | 'rowsAdd' | 'columns'; readonly table: TableData }
  | { readonly kind: 'row'; readonly table: TableData; readonly index: number }
  | { readonly kind: 'column'; readonly table: TableData; readonly index: number }
  | { readonly kind: 'name'; readonly item: NamedItemData }
  | { readonly kind: 'function'; readonly name: string };

function tableRect(table: TableData): CellRect {
  const { top, left } = table.origin;
  return { top, left, bottom: top + table.rows.length, right: left + table.columns.length - 1 };
}

function tableCell(table: TableData, row: number, column: number): CellValue {
  const r = row - table.origin.top;
  const c = column - table.origin.left;
  if (c < 0 || c >= table.columns.length || r < 0) return '';
  if (r === 0) return table.columns[c]?.name ?? '';
  return table.rows[r - 1]?.[c] ?? '';
}

/** A named item's range, when its value is a reference. */
function nameRange(data: WorkbookData, item: NamedItemData): { sheet: SheetData; rect: CellRect } | undefined {
  const parsed = parseRangeAddress(item.value.slice(1));
  if (parsed?.sheet === undefined) return undefined;
  const sheet = findSheet(data, parsed.sheet);
  return sheet === undefined ? undefined : { sheet, rect: parsed.rect };
}

function within(rect: CellRect): boolean {
  return (
    rect.top >= 0 &&
    rect.left >= 0 &&
    rect.bottom < SHEET_ROWS &&
    rect.right < SHEET_COLUMNS &&
    rect.top <= rect.bottom &&
    rect.left <= rect.right
  );
}

/** Takes the steps against the data; the answer is the resource or the 4xx Graph would give. */
function resolve(ctx: ReplyContext, data: WorkbookData, steps: readonly Step[]): Resource | Response {
  let at = { kind: 'workbook' } as Resource;
  for (const step of steps) {
    switch (step.t) {
      case 'worksheets':
        at = { kind: 'worksheets' };
        break;
      case 'worksheet': {
        const sheet = findSheet(data, step.key);
        if (sheet === undefined) return notFound(ctx, `The worksheet ${JSON.stringify(step.key)} does not exist.`);
        at = { kind: 'worksheet', sheet };
        break;
      }
      case 'worksheetOf': {
        const name = at.kind === 'range' ? at.view.sheet.name : at.kind === 'table' ? at.table.sheet : '';
        const sheet = data.sheet(name);
        if (sheet === undefined) return notFound(ctx, 'The worksheet does not exist.');
        at = { kind: 'worksheet', sheet };
        break;
      }
      case 'range': {
        if (at.kind !== 'worksheet') return notFound(ctx, 'The range does not exist.');
        const parsed = step.address === undefined ? wholeSheet() : parseRangeAddress(step.address);
        if (parsed === undefined)
          return invalidArgument(
            ctx,
            `The argument is invalid or missing or has an incorrect format: address ${JSON.stringify(step.address ?? '')}.`,
          );
        if (parsed.sheet !== undefined && findSheet(data, parsed.sheet) !== at.sheet)
          return invalidArgument(ctx, `The address ${JSON.stringify(step.address)} names another worksheet.`);
        at = { kind: 'range', view: { sheet: at.sheet, rect: parsed.rect, table: undefined } };
        break;
      }
      case 'usedRange': {
        if (at.kind !== 'range') return notFound(ctx, 'The range does not exist.');
        const view: RangeView = at.view;
        const used = view.table !== undefined ? tableRect(view.table) : data.usedRect(view.sheet, step.valuesOnly);
        const r = view.rect;
        const cut =
          used === undefined
            ? undefined
            : {
                top: Math.max(r.top, used.top),
                left: Math.max(r.left, used.left),
                bottom: Math.min(r.bottom, used.bottom),
                right: Math.min(r.right, used.right),
              };
        if (cut === undefined || !within(cut)) {
          // A blank worksheet's used range is its A1; a blank range has none.
          if (!step.sheetLevel) return notFound(ctx, 'The range has no used cells.');
          at = { kind: 'range', view: { ...view, rect: { top: 0, left: 0, bottom: 0, right: 0 } } };
        } else at = { kind: 'range', view: { ...view, rect: cut } };
        break;
      }
      case 'cell':
      case 'rangeNav': {
        if (at.kind !== 'range') return notFound(ctx, 'The range does not exist.');
        const r = at.view.rect;
        let next: CellRect;
        if (step.t === 'cell')
          next = {
            top: r.top + step.row,
            left: r.left + step.column,
            bottom: r.top + step.row,
            right: r.left + step.column,
          };
        else {
          const [a = 0, b = 0] = step.args;
          switch (step.name) {
            case 'row':
              next = { ...r, top: r.top + a, bottom: r.top + a };
              break;
            case 'column':
              next = { ...r, left: r.left + a, right: r.left + a };
              break;
            case 'entireRow':
              next = { ...r, left: 0, right: SHEET_COLUMNS - 1 };
              break;
            case 'entireColumn':
              next = { ...r, top: 0, bottom: SHEET_ROWS - 1 };
              break;
            case 'lastCell':
              next = { top: r.bottom, bottom: r.bottom, left: r.right, right: r.right };
              break;
            case 'lastRow':
              next = { ...r, top: r.bottom };
              break;
            case 'lastColumn':
              next = { ...r, left: r.right };
              break;
            case 'offsetRange':
              next = { top: r.top + a, bottom: r.bottom + a, left: r.left + b, right: r.right + b };
              break;
            case 'resizedRange':
              next = { ...r, bottom: r.bottom + a, right: r.right + b };
              break;
          }
        }
        if (!within(next))
          return invalidArgument(
            ctx,
            'The argument is invalid or missing or has an incorrect format: the range would leave the worksheet.',
          );
        at = { kind: 'range', view: { ...at.view, rect: next } };
        break;
      }
      case 'tables':
        at = { kind: 'tables', sheet: at.kind === 'worksheet' ? at.sheet : undefined };
        break;
      case 'table': {
        const table = data.table(step.key);
        const sheet = at.kind === 'tables' ? at.sheet : undefined;
        if (table === undefined || (sheet !== undefined && table.sheet !== sheet.name))
          return notFound(ctx, `The table ${JSON.stringify(step.key)} does not exist.`);
        at = { kind: 'table', table };
        break;
      }
      case 'rows':
      case 'rowsAdd':
      case 'columns':
        if (!('table' in at)) return notFound(ctx, 'The table does not exist.');
        at = { kind: step.t, table: at.table };
        break;
      case 'row':
        if (!('table' in at)) return notFound(ctx, 'The table does not exist.');
        if (step.index < 0 || step.index >= at.table.rows.length)
          return notFound(ctx, `The table has no row at index ${step.index}.`);
        at = { kind: 'row', table: at.table, index: step.index };
        break;
      case 'column':
      case 'columnAt': {
        if (!('table' in at)) return notFound(ctx, 'The table does not exist.');
        const table: TableData = at.table;
        const index =
          step.t === 'columnAt'
            ? step.index
            : table.columns.findIndex((c) => c.id === step.key || c.name.toLowerCase() === step.key.toLowerCase());
        if (index < 0 || index >= table.columns.length)
          return notFound(
            ctx,
            `The table column ${JSON.stringify(step.t === 'column' ? step.key : String(step.index))} does not exist.`,
          );
        at = { kind: 'column', table, index };
        break;
      }
      case 'ownRange': {
        if (at.kind === 'name') {
          const ref = nameRange(data, at.item);
          if (ref === undefined)
            return invalidArgument(ctx, `The named item ${JSON.stringify(at.item.name)} does not refer to a range.`);
          at = { kind: 'range', view: { ...ref, table: undefined } };
          break;
        }
        if (!('table' in at)) return notFound(ctx, 'The range does not exist.');
        const table: TableData = at.table;
        const sheet = data.sheet(table.sheet);
        if (sheet === undefined) return notFound(ctx, 'The worksheet does not exist.');
        const full = tableRect(table);
        let rect = full;
        if (at.kind === 'row') rect = { ...full, top: full.top + 1 + at.index, bottom: full.top + 1 + at.index };
        if (at.kind === 'column') rect = { ...rect, left: full.left + at.index, right: full.left + at.index };
        if (step.which === 'headerRowRange') rect = { ...rect, bottom: rect.top };
        // An empty table still has one (blank) body row in Excel.
        if (step.which === 'dataBodyRange')
          rect = { ...rect, top: rect.top + 1, bottom: Math.max(rect.bottom, rect.top + 1) };
        at = { kind: 'range', view: { sheet, rect, table } };
        break;
      }
      case 'names':
        at = { kind: 'names', sheet: at.kind === 'worksheet' ? at.sheet : undefined };
        break;
      case 'name': {
        const item = data.name(step.key);
        if (item === undefined) return notFound(ctx, `The named item ${JSON.stringify(step.key)} does not exist.`);
        at = { kind: 'name', item };
        break;
      }
      case 'application':
        at = { kind: 'application' };
        break;
      case 'calculate':
        at = { kind: 'calculate' };
        break;
      case 'function':
        at = { kind: 'function', name: step.name };
        break;
    }
  }
  return at;
}

function cellAt(
  data: WorkbookData,
  view: RangeView,
  row: number,
  column: number,
): { value: CellValue; formula: string | undefined; format: string } {
  if (view.table !== undefined)
    return { value: tableCell(view.table, row, column), formula: undefined, format: GENERAL };
  return data.cell(view.sheet, row, column);
}

function allIn(set: ReadonlySet<number>, from: number, to: number): boolean {
  if (set.size < to - from + 1) return false;
  for (let i = from; i <= to; i++) if (!set.has(i)) return false;
  return true;
}

/** workbookRange, as resources/range.md lists its properties. Cell-level properties of an unbounded range are null. */
function rangeJson(data: WorkbookData, view: RangeView): Record<string, unknown> {
  const { rect, sheet } = view;
  const rows = rect.bottom - rect.top + 1;
  const columns = rect.right - rect.left + 1;
  const address = formatRangeAddress(sheet.name, rect);
  const rowHidden = allIn(sheet.hiddenRows, rect.top, rect.bottom);
  const columnHidden = allIn(sheet.hiddenColumns, rect.left, rect.right);
  const base = {
    address,
    addressLocal: address,
    cellCount: rows * columns,
    columnCount: columns,
    columnHidden,
    columnIndex: rect.left,
    hidden: rowHidden || columnHidden,
    rowCount: rows,
    rowHidden,
    rowIndex: rect.top,
  };
  if (unboundedOf(rect) !== undefined) {
    return {
      ...base,
      formulas: null,
      formulasLocal: null,
      formulasR1C1: null,
      numberFormat: null,
      text: null,
      valueTypes: null,
      values: null,
    };
  }
  const grid = <T>(f: (cell: ReturnType<typeof cellAt>, r: number, c: number) => T): T[][] => {
    const out: T[][] = [];
    for (let r = rect.top; r <= rect.bottom; r++) {
      const line: T[] = [];
      for (let c = rect.left; c <= rect.right; c++) line.push(f(cellAt(data, view, r, c), r, c));
      out.push(line);
    }
    return out;
  };
  return {
    ...base,
    formulas: grid((cell) => cell.formula ?? cell.value),
    formulasLocal: grid((cell) => cell.formula ?? cell.value),
    formulasR1C1: grid((cell, r, c) => (cell.formula === undefined ? cell.value : toR1C1(cell.formula, r, c))),
    numberFormat: grid((cell) => cell.format),
    text: grid((cell) => formatText(cell.value, cell.format)),
    valueTypes: grid((cell) => valueType(cell.value)),
    values: grid((cell) => cell.value),
  };
}

function worksheetJson(data: WorkbookData, sheet: SheetData): Record<string, unknown> {
  const position = data.sheets().indexOf(sheet);
  return { id: worksheetId(position), name: sheet.name, position, visibility: 'Visible' };
}

function tableJson(table: TableData): Record<string, unknown> {
  return {
    id: table.id,
    name: table.name,
    highlightFirstColumn: false,
    highlightLastColumn: false,
    legacyId: table.legacyId,
    showBandedColumns: false,
    showBandedRows: true,
    showFilterButton: true,
    showHeaders: true,
    showTotals: false,
    style: 'TableStyleMedium2',
  };
}

function columnJson(table: TableData, index: number): Record<string, unknown> {
  const column = table.columns[index];
  return {
    id: column?.id,
    index,
    name: column?.name,
    values: [[column?.name ?? ''], ...table.rows.map((row) => [row[index] ?? ''])],
  };
}

function namedItemJson(data: WorkbookData, item: NamedItemData): Record<string, unknown> {
  let type = 'Range';
  if (nameRange(data, item) === undefined) {
    const constant = item.value.slice(1);
    type = /^(?:true|false)$/i.test(constant)
      ? 'Boolean'
      : /^-?\d+$/.test(constant)
        ? 'Integer'
        : /^-?\d*\.\d+$/.test(constant)
          ? 'Double'
          : /^#/.test(constant)
            ? 'Error'
            : 'String';
  }
  return { name: item.name, comment: item.comment, scope: 'Workbook', type, value: item.value, visible: item.visible };
}

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
  return graphError(ctx, {
    status: 405,
    code: 'methodNotAllowed',
    innerCode: 'methodNotAllowedUncategorized',
    message: `The HTTP method '${method}' is not allowed on this resource.`,
    headers: { Allow: METHODS[kind].join(', ') },
  });
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

function cells(rect: CellRect): number {
  return (rect.bottom - rect.top + 1) * (rect.right - rect.left + 1);
}

function isCellInput(value: unknown): value is CellValue | null {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

/**
 * A 2D input of a range PATCH, as rows of cells, or one value for every cell (a single input is
 * applied to the whole range). `null` leaves a cell as it is.
 */
function grid(
  field: string,
  input: unknown,
  rows: number,
  columns: number,
  check: (v: unknown) => boolean,
): unknown[][] | string {
  if (!Array.isArray(input)) {
    if (!check(input)) return `\`${field}\` must be an array of rows of cell values, or one value.`;
    return Array.from({ length: rows }, () => Array.from({ length: columns }, () => input));
  }
  if (input.length !== rows || input.some((row) => !Array.isArray(row) || row.length !== columns)) {
    return `The number of rows or columns in the input array of \`${field}\` doesn't match the size or dimensions of the range (${rows} x ${columns}).`;
  }
  for (const row of input as unknown[][])
    if (!row.every(check)) return `\`${field}\` holds a value that is not a string, number, boolean or null.`;
  return input as unknown[][];
}

function patchRange(actx: AnswerContext, data: WorkbookData, view: RangeView, body: unknown): Response {
  const ctx = actx.reply;
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return invalidArgument(ctx, 'The request body must be a JSON object.');
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key.startsWith('@odata.')) continue;
    if (RANGE_READ_ONLY.includes(key))
      return notImplemented(ctx, `writing the read-only property \`${key}\` of a range`);
    if (!(RANGE_PATCH_FIELDS as readonly string[]).includes(key)) return noSuchProperty(ctx, key, 'workbookRange');
  }
  if (view.table !== undefined)
    return notImplemented(
      ctx,
      "PATCH on a table's range (tables are kept apart from the cell grid; append with tables/{name}/rows)",
    );
  const { rect, sheet } = view;
  const rows = rect.bottom - rect.top + 1;
  const columns = rect.right - rect.left + 1;
  const cellLevel = (['values', 'formulas', 'formulasLocal', 'formulasR1C1', 'numberFormat'] as const).filter(
    (f) => fields[f] !== undefined,
  );
  if (cellLevel.length > 0 && unboundedOf(rect) !== undefined) {
    return invalidArgument(
      ctx,
      `Setting cell-level properties (${cellLevel.join(', ')}) on an unbounded range is not allowed: the input request is too large.`,
    );
  }
  if (cellLevel.length > 0 && rows * columns > MAX_RANGE_CELLS)
    return invalidArgument(ctx, `The range has more than ${MAX_RANGE_CELLS} cells.`);
  for (const flag of ['rowHidden', 'columnHidden'] as const) {
    if (fields[flag] !== undefined && typeof fields[flag] !== 'boolean')
      return invalidArgument(ctx, `\`${flag}\` must be a boolean.`);
  }
  const inputs: Partial<Record<(typeof cellLevel)[number], unknown[][]>> = {};
  for (const field of cellLevel) {
    const check = field === 'numberFormat' ? (v: unknown) => v === null || typeof v === 'string' : isCellInput;
    const parsed = grid(field, fields[field], rows, columns, check);
    if (typeof parsed === 'string') return invalidArgument(ctx, parsed);
    inputs[field] = parsed;
  }
  if (inputs.formulasR1C1 !== undefined) {
    // Convert first, so a bad reference refuses the whole request before anything is written.
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < columns; j++) {
        const f = inputs.formulasR1C1[i]?.[j];
        if (typeof f !== 'string' || !f.startsWith('=')) continue;
        const a1 = fromR1C1(f, rect.top + i, rect.left + j);
        if (a1 === undefined)
          return invalidArgument(ctx, `The formula ${JSON.stringify(f)} refers outside the worksheet.`);
        (inputs.formulasR1C1[i] as unknown[])[j] = a1;
      }
    }
  }
  // Formats first, so values written with them are read under them; then values, then formulas.
  const apply = (field: (typeof cellLevel)[number], write: (r: number, c: number, v: CellValue) => void): void => {
    const input = inputs[field];
    if (input === undefined) return;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < columns; j++) {
        const v = input[i]?.[j];
        if (v !== null && v !== undefined) write(rect.top + i, rect.left + j, v as CellValue);
      }
    }
  };
  apply('numberFormat', (r, c, v) => data.setFormat(sheet, r, c, String(v)));
  apply('values', (r, c, v) => data.setValue(sheet, r, c, v));
  for (const f of ['formulas', 'formulasLocal', 'formulasR1C1'] as const)
    apply(f, (r, c, v) => data.setFormula(sheet, r, c, v));
  const hide = (set: Set<number>, from: number, to: number, hidden: boolean): void => {
    for (let i = from; i <= to; i++) {
      if (hidden) set.add(i);
      else set.delete(i);
    }
  };
  if (typeof fields['rowHidden'] === 'boolean') hide(sheet.hiddenRows, rect.top, rect.bottom, fields['rowHidden']);
  if (typeof fields['columnHidden'] === 'boolean')
    hide(sheet.hiddenColumns, rect.left, rect.right, fields['columnHidden']);
  return entity(actx, 200, 'workbookRange', rangeJson(data, view));
}

/** Create TableRow (table-post-rows.md, and tablerowcollection-add.md): `values` rows, optional `index`. */
function addRows(
  actx: AnswerContext,
  table: TableData,
  body: unknown,
  how: { status: number; valuesOptional: boolean },
): Response {
  const ctx = actx.reply;
  const given = body ?? (how.valuesOptional ? {} : undefined);
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    return invalidArgument(ctx, 'The request body must be a JSON object with `values`.');
  for (const key of Object.keys(given)) {
    if (!key.startsWith('@odata.') && key !== 'values' && key !== 'index')
      return noSuchProperty(ctx, key, 'workbookTableRow');
  }
  const width = table.columns.length;
  const { index } = given as { index?: unknown };
  let { values } = given as { values?: unknown };
  if ((values === undefined || values === null) && how.valuesOptional)
    values = [Array.from({ length: width }, () => '')];
  if (!Array.isArray(values) || values.length === 0)
    return invalidArgument(ctx, '`values` must be a non-empty array of rows.');
  for (const row of values as unknown[]) {
    if (!Array.isArray(row) || row.length !== width)
      return invalidArgument(ctx, `Every row of \`values\` must have ${width} values.`);
    if (!row.every(isCellInput)) return invalidArgument(ctx, 'Cell values must be strings, numbers, booleans or null.');
    if (row.some((v) => typeof v === 'string' && v.startsWith('=') && v.length > 1))
      return notImplemented(ctx, 'formulas in table rows (table rows hold values only)');
  }
  if (
    index !== undefined &&
    index !== null &&
    (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > table.rows.length)
  ) {
    return invalidArgument(ctx, `\`index\` must be an integer from 0 to ${table.rows.length}, or null.`);
  }
  const at = typeof index === 'number' ? index : table.rows.length;
  const rows = (values as (CellValue | null)[][]).map((row) => row.map((v) => coerceInput(v ?? '', GENERAL).value));
  table.rows.splice(at, 0, ...rows);
  return entity(actx, how.status, 'workbookTableRow', { index: at, values: rows.map((row) => [...row]) });
}

function calculate(ctx: ReplyContext, body: unknown): Response {
  const unknown = unknownParameter(ctx, body, ['calculationType'], 'calculate');
  if (unknown !== undefined) return unknown;
  const type = (body as { calculationType?: unknown } | null | undefined)?.calculationType;
  if (type !== 'Recalculate' && type !== 'Full' && type !== 'FullRebuild') {
    return invalidArgument(ctx, '`calculationType` must be one of Recalculate, Full, FullRebuild.');
  }
  // Formulas are stored, not evaluated, so there is nothing to recalculate; Graph answers 200 with no body.
  const headers = json(ctx, 200, {}).headers;
  headers.delete('content-type');
  return new Response(null, { status: 200, headers });
}

/** Numbers a function argument holds: numbers, arrays of them, or `{ address }` range references. */
function numbersOf(data: WorkbookData, arg: unknown, out: number[]): string | undefined {
  if (typeof arg === 'number') out.push(arg);
  else if (Array.isArray(arg)) {
    for (const v of arg) {
      const problem = numbersOf(data, v, out);
      if (problem !== undefined) return problem;
    }
  } else if (typeof arg === 'object' && arg !== null && typeof (arg as { address?: unknown }).address === 'string') {
    const address = (arg as { address: string }).address;
    const parsed = parseRangeAddress(address);
    const sheet = parsed?.sheet === undefined ? undefined : findSheet(data, parsed.sheet);
    if (parsed === undefined || sheet === undefined || unboundedOf(parsed.rect) !== undefined)
      return `The range reference ${JSON.stringify(address)} must name a sheet and bounded cells.`;
    for (const row of data.read(sheet, parsed.rect)) for (const v of row) if (typeof v === 'number') out.push(v);
  } else if (arg !== null && arg !== undefined && typeof arg !== 'string' && typeof arg !== 'boolean')
    return 'Function arguments must be numbers, arrays or range references.';
  return undefined;
}

const FUNCTIONS: Readonly<Record<string, (n: number[]) => number | string>> = {
  sum: (n) => n.reduce((a, b) => a + b, 0),
  average: (n) => (n.length === 0 ? '#DIV/0!' : n.reduce((a, b) => a + b, 0) / n.length),
  min: (n) => (n.length === 0 ? 0 : Math.min(...n)),
  max: (n) => (n.length === 0 ? 0 : Math.max(...n)),
  count: (n) => n.length,
  product: (n) => (n.length === 0 ? 0 : n.reduce((a, b) => a * b, 1)),
  abs: (n) => (n.length === 1 ? Math.abs(n[0] ?? 0) : '#VALUE!'),
};

/** `functions/{name}`: a few common ones; `values` (or `number` for abs) as the argument. */
function callFunction(actx: AnswerContext, data: WorkbookData, name: string, body: unknown): Response {
  const fn = FUNCTIONS[name.toLowerCase()];
  if (fn === undefined)
    return notImplemented(actx.reply, `the workbook function ${name} (served: ${Object.keys(FUNCTIONS).join(', ')})`);
  const args =
    typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const expected = name.toLowerCase() === 'abs' ? 'number' : 'values';
  for (const key of Object.keys(args))
    if (key !== expected)
      return notImplemented(actx.reply, `the argument \`${key}\` of ${name} (it takes \`${expected}\`)`);
  const numbers: number[] = [];
  const problem = numbersOf(data, args[expected], numbers);
  if (problem !== undefined) return invalidArgument(actx.reply, problem);
  const result = fn(numbers);
  const error = typeof result === 'string' ? result : null;
  return entity(actx, 200, 'workbookFunctionResult', { error, value: error === null ? result : null });
}
