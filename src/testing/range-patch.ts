import type { CellRect } from './address.js';
import { type CellValue, isCellInput } from './cell-format.js';
import { invalidArgument, noSuchProperty, notImplemented } from './error-answers.js';
import { fromR1C1 } from './formula-notation.js';
import { type AnswerContext, entity } from './odata.js';
import type { ReplyContext } from './responses.js';
import { unboundedOf } from './range-address.js';
import type { WorkbookData } from './workbook-model.js';
import { rangeJson } from './workbook-json.js';
import type { RangeView } from './workbook-resolve.js';

/** A range PATCH (range-update.md): every documented field applied, anything else refused. */

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

/** How many cells a rectangle holds. */
export function cells(rect: CellRect): number {
  return (rect.bottom - rect.top + 1) * (rect.right - rect.left + 1);
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
    return (
      `The number of rows or columns in the input array of \`${field}\` doesn't match the size or dimensions ` +
      `of the range (${rows} x ${columns}).`
    );
  }
  for (const row of input as unknown[][])
    if (!row.every(check)) return `\`${field}\` holds a value that is not a string, number, boolean or null.`;
  return input as unknown[][];
}

export function patchRange(actx: AnswerContext, data: WorkbookData, view: RangeView, body: unknown): Response {
  const ctx = actx.reply;
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return invalidArgument(ctx, 'The request body must be a JSON object.');
  const fields = body as Record<string, unknown>;
  const cellLevel = CELL_FIELDS.filter((f) => fields[f] !== undefined);
  const refusal = refusedKey(ctx, fields) ?? refusedTarget(ctx, view, cellLevel) ?? refusedFlag(ctx, fields);
  if (refusal !== undefined) return refusal;
  const inputs = cellInputs(ctx, view.rect, fields, cellLevel);
  if (inputs instanceof Response) return inputs;
  writeCells(data, view, inputs);
  writeHidden(view, fields);
  return entity(actx, 200, 'workbookRange', rangeJson(data, view));
}

/** The fields that write cells, each a 2D input. */
const CELL_FIELDS = ['values', 'formulas', 'formulasLocal', 'formulasR1C1', 'numberFormat'] as const;
type CellField = (typeof CELL_FIELDS)[number];
type CellInputs = Partial<Record<CellField, unknown[][]>>;

function refusedKey(ctx: ReplyContext, fields: Record<string, unknown>): Response | undefined {
  for (const key of Object.keys(fields)) {
    if (key.startsWith('@odata.')) continue;
    if (RANGE_READ_ONLY.includes(key))
      return notImplemented(ctx, `writing the read-only property \`${key}\` of a range`);
    if (!(RANGE_PATCH_FIELDS as readonly string[]).includes(key)) return noSuchProperty(ctx, key, 'workbookRange');
  }
  return undefined;
}

/** A table's range, or cell-level writes to an unbounded or too big range. */
function refusedTarget(ctx: ReplyContext, view: RangeView, cellLevel: readonly CellField[]): Response | undefined {
  if (view.table !== undefined)
    return notImplemented(
      ctx,
      "PATCH on a table's range (tables are kept apart from the cell grid; append with tables/{name}/rows)",
    );
  if (cellLevel.length > 0 && unboundedOf(view.rect) !== undefined) {
    return invalidArgument(
      ctx,
      `Setting cell-level properties (${cellLevel.join(', ')}) on an unbounded range is not allowed: ` +
        'the input request is too large.',
    );
  }
  if (cellLevel.length > 0 && cells(view.rect) > MAX_RANGE_CELLS)
    return invalidArgument(ctx, `The range has more than ${MAX_RANGE_CELLS} cells.`);
  return undefined;
}

function refusedFlag(ctx: ReplyContext, fields: Record<string, unknown>): Response | undefined {
  for (const flag of ['rowHidden', 'columnHidden'] as const) {
    if (fields[flag] !== undefined && typeof fields[flag] !== 'boolean')
      return invalidArgument(ctx, `\`${flag}\` must be a boolean.`);
  }
  return undefined;
}

/** Each cell-level field as a grid of the range's size, R1C1 formulas converted to A1; or the refusal. */
function cellInputs(
  ctx: ReplyContext,
  rect: CellRect,
  fields: Record<string, unknown>,
  cellLevel: readonly CellField[],
): CellInputs | Response {
  const rows = rect.bottom - rect.top + 1;
  const columns = rect.right - rect.left + 1;
  const inputs: CellInputs = {};
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
  return inputs;
}

function writeCells(data: WorkbookData, view: RangeView, inputs: CellInputs): void {
  const { rect, sheet } = view;
  const rows = rect.bottom - rect.top + 1;
  const columns = rect.right - rect.left + 1;
  // Formats first, so values written with them are read under them; then values, then formulas.
  const apply = (field: CellField, write: (r: number, c: number, v: CellValue) => void): void => {
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
}

function writeHidden(view: RangeView, fields: Record<string, unknown>): void {
  const { rect, sheet } = view;
  const hide = (set: Set<number>, from: number, to: number, hidden: boolean): void => {
    for (let i = from; i <= to; i++) {
      if (hidden) set.add(i);
      else set.delete(i);
    }
  };
  if (typeof fields['rowHidden'] === 'boolean') hide(sheet.hiddenRows, rect.top, rect.bottom, fields['rowHidden']);
  if (typeof fields['columnHidden'] === 'boolean')
    hide(sheet.hiddenColumns, rect.left, rect.right, fields['columnHidden']);
}
