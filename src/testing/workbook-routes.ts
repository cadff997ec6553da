import { type CellRect, formatAddress, parseAddress, rectSize } from './address.js';
import { type ReplyContext, graphError, json } from './responses.js';
import type { SheetData, TableData, WorkbookData } from './workbook-model.js';

/**
 * The workbook calls the emulator answers (worksheets, ranges, table rows), on one copy of a
 * workbook's data: the file's, or a non-persistent session's own.
 */

/** Bigger ranges are refused rather than built in memory. */
export const MAX_RANGE_CELLS = 1_000_000;

function invalidArgument(ctx: ReplyContext, message: string): Response {
  return graphError(ctx, { status: 400, code: 'invalidArgument', message });
}

function notFound(ctx: ReplyContext, message: string): Response {
  return graphError(ctx, { status: 404, code: 'itemNotFound', innerCode: 'notFoundUncategorized', message });
}

/** Graph's worksheet ids are GUID-like and stable per position. */
function worksheetId(position: number): string {
  return `{00000000-0001-0000-${(position << 8).toString(16).padStart(4, '0').toUpperCase()}-000000000000}`;
}

function worksheetJson(sheet: SheetData, position: number): object {
  return { id: worksheetId(position), name: sheet.name, position, visibility: 'Visible' };
}

/** Finds a sheet by name (any case) or by its id. */
export function findSheet(data: WorkbookData, key: string): SheetData | undefined {
  return data.sheet(key) ?? data.sheets().find((_, i) => worksheetId(i) === key);
}

export function worksheets(ctx: ReplyContext, data: WorkbookData, sheetKey: string | undefined): Response {
  if (sheetKey === undefined) return json(ctx, 200, { value: data.sheets().map((s, i) => worksheetJson(s, i)) });
  const sheet = findSheet(data, sheetKey);
  if (sheet === undefined) return notFound(ctx, `The worksheet ${JSON.stringify(sheetKey)} does not exist.`);
  return json(ctx, 200, worksheetJson(sheet, data.sheets().indexOf(sheet)));
}

function rangeJson(data: WorkbookData, sheet: SheetData, rect: CellRect): object {
  const values = data.read(sheet, rect);
  const { rows, columns } = rectSize(rect);
  const address = formatAddress(sheet.name, rect);
  return {
    address,
    addressLocal: address,
    cellCount: rows * columns,
    columnCount: columns,
    columnIndex: rect.left,
    rowCount: rows,
    rowIndex: rect.top,
    values,
    text: values.map((row) => row.map((v) => (v === null || v === undefined ? '' : String(v)))),
  };
}

/** Resolves a sheet and an A1 address to a rectangle, or to the 4xx answer. */
export function resolveRange(data: WorkbookData, sheetKey: string, address: string | undefined): { sheet: SheetData; rect: CellRect } | { status: 400 | 404; message: string } {
  const sheet = findSheet(data, sheetKey);
  if (sheet === undefined) return { status: 404, message: `The worksheet ${JSON.stringify(sheetKey)} does not exist.` };
  const parsed = address === undefined ? undefined : parseAddress(address);
  if (parsed === undefined) return { status: 400, message: `The argument is invalid or missing or has an incorrect format: address ${JSON.stringify(address ?? '')}.` };
  if (parsed.sheet !== undefined && findSheet(data, parsed.sheet) !== sheet) {
    return { status: 400, message: `The address ${JSON.stringify(address)} names another worksheet.` };
  }
  const { rows, columns } = rectSize(parsed.rect);
  if (rows * columns > MAX_RANGE_CELLS) return { status: 400, message: `The range ${JSON.stringify(address)} has more than ${MAX_RANGE_CELLS} cells.` };
  return { sheet, rect: parsed.rect };
}

export function getRange(ctx: ReplyContext, data: WorkbookData, sheetKey: string, address: string | undefined): Response {
  const r = resolveRange(data, sheetKey, address);
  if ('status' in r) return r.status === 404 ? notFound(ctx, r.message) : invalidArgument(ctx, r.message);
  return json(ctx, 200, rangeJson(data, r.sheet, r.rect));
}

function isCellValue(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** A rows x columns array of cell values, or a message saying what is wrong. */
function checkValues(values: unknown, columns: number, rows?: number): string | undefined {
  if (!Array.isArray(values) || values.length === 0) return '`values` must be a non-empty array of rows.';
  if (rows !== undefined && values.length !== rows) return `\`values\` has ${values.length} rows; the range has ${rows}.`;
  for (const row of values) {
    if (!Array.isArray(row) || row.length !== columns) return `Every row of \`values\` must have ${columns} values.`;
    if (!row.every(isCellValue)) return 'Cell values must be strings, numbers, booleans or null.';
  }
  return undefined;
}

export function patchRange(ctx: ReplyContext, data: WorkbookData, sheetKey: string, address: string | undefined, body: unknown): Response {
  const r = resolveRange(data, sheetKey, address);
  if ('status' in r) return r.status === 404 ? notFound(ctx, r.message) : invalidArgument(ctx, r.message);
  const { rows, columns } = rectSize(r.rect);
  const values = (body as { values?: unknown } | null)?.values;
  const problem = checkValues(values, columns, rows);
  if (problem !== undefined) return invalidArgument(ctx, problem);
  // In Graph a null in `values` leaves that cell as it is.
  const current = data.read(r.sheet, r.rect);
  const merged = (values as unknown[][]).map((row, i) => row.map((v, j) => (v === null ? current[i]?.[j] : v)));
  data.write(r.sheet, r.rect, merged);
  return json(ctx, 200, rangeJson(data, r.sheet, r.rect));
}

export function usedRange(ctx: ReplyContext, data: WorkbookData, sheetKey: string): Response {
  const sheet = findSheet(data, sheetKey);
  if (sheet === undefined) return notFound(ctx, `The worksheet ${JSON.stringify(sheetKey)} does not exist.`);
  // An empty sheet's used range is A1, as in Excel.
  const rect = data.usedRect(sheet) ?? { top: 0, left: 0, bottom: 0, right: 0 };
  return json(ctx, 200, rangeJson(data, sheet, rect));
}

function findTable(ctx: ReplyContext, data: WorkbookData, sheetKey: string | undefined, tableName: string): TableData | Response {
  const table = data.table(tableName);
  const sheet = sheetKey === undefined ? undefined : findSheet(data, sheetKey);
  if (sheetKey !== undefined && sheet === undefined) return notFound(ctx, `The worksheet ${JSON.stringify(sheetKey)} does not exist.`);
  if (table === undefined || (sheet !== undefined && table.sheet !== sheet.name)) {
    return notFound(ctx, `The table ${JSON.stringify(tableName)} does not exist.`);
  }
  return table;
}

export function tableRows(ctx: ReplyContext, data: WorkbookData, sheetKey: string | undefined, tableName: string): Response {
  const table = findTable(ctx, data, sheetKey, tableName);
  if (table instanceof Response) return table;
  return json(ctx, 200, { value: table.rows.map((row, index) => ({ index, values: [[...row]] })) });
}

export function addTableRows(ctx: ReplyContext, data: WorkbookData, sheetKey: string | undefined, tableName: string, body: unknown): Response {
  const table = findTable(ctx, data, sheetKey, tableName);
  if (table instanceof Response) return table;
  const { values, index } = (body ?? {}) as { values?: unknown; index?: unknown };
  const problem = checkValues(values, table.columns.length);
  if (problem !== undefined) return invalidArgument(ctx, problem);
  if (index !== undefined && index !== null && (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > table.rows.length)) {
    return invalidArgument(ctx, `\`index\` must be an integer from 0 to ${table.rows.length}, or null.`);
  }
  const at = typeof index === 'number' ? index : table.rows.length;
  const rows = (values as unknown[][]).map((row) => [...row]);
  table.rows.splice(at, 0, ...rows);
  return json(ctx, 201, { index: at, values: rows });
}
