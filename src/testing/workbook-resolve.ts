import type { CellRect } from './address.js';
import type { CellValue } from './cell-format.js';
import { invalidArgument, notFound } from './error-answers.js';
import { SHEET_COLUMNS, SHEET_ROWS, parseRangeAddress, wholeSheet } from './range-address.js';
import type { ReplyContext } from './responses.js';
import type { NamedItemData, SheetData, TableData, WorkbookData } from './workbook-model.js';
import type { Step } from './workbook-path.js';

/**
 * Resolving a workbook call's steps (from `workbook-path.ts`) against one copy of a workbook's data:
 * the resource they reach (a sheet, a range, a table, a row ...), or the 4xx Graph gives on the way.
 */

/** Graph's worksheet ids are GUID-like and stable per position. */
export function worksheetId(position: number): string {
  return `{00000000-0001-0000-${(position << 8).toString(16).padStart(4, '0').toUpperCase()}-000000000000}`;
}

/** Finds a sheet by name (any case) or by its id. */
export function findSheet(data: WorkbookData, key: string): SheetData | undefined {
  return data.sheet(key) ?? data.sheets().find((_, i) => worksheetId(i) === key);
}

/** A rectangle on a sheet; with `table`, its cells come from that table (read-only), not the grid. */
export interface RangeView {
  readonly sheet: SheetData;
  readonly rect: CellRect;
  readonly table: TableData | undefined;
}

export type Resource =
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

export function tableRect(table: TableData): CellRect {
  const { top, left } = table.origin;
  return { top, left, bottom: top + table.rows.length, right: left + table.columns.length - 1 };
}

export function tableCell(table: TableData, row: number, column: number): CellValue {
  const r = row - table.origin.top;
  const c = column - table.origin.left;
  if (c < 0 || c >= table.columns.length || r < 0) return '';
  if (r === 0) return table.columns[c]?.name ?? '';
  return table.rows[r - 1]?.[c] ?? '';
}

/** A named item's range, when its value is a reference. */
export function nameRange(data: WorkbookData, item: NamedItemData): { sheet: SheetData; rect: CellRect } | undefined {
  const parsed = parseRangeAddress(item.value.slice(1));
  if (parsed?.sheet === undefined) return undefined;
  const sheet = findSheet(data, parsed.sheet);
  return sheet === undefined ? undefined : { sheet, rect: parsed.rect };
}

export function within(rect: CellRect): boolean {
  return (
    rect.top >= 0 &&
    rect.left >= 0 &&
    rect.bottom < SHEET_ROWS &&
    rect.right < SHEET_COLUMNS &&
    rect.top <= rect.bottom &&
    rect.left <= rect.right
  );
}

/** One kind of step, with the fields that kind carries. */
type StepOf<T extends Step['t']> = Extract<Step, { readonly t: T }>;

/** Takes the steps against the data; the answer is the resource or the 4xx Graph would give. */
export function resolve(ctx: ReplyContext, data: WorkbookData, steps: readonly Step[]): Resource | Response {
  let at = { kind: 'workbook' } as Resource;
  for (const step of steps) {
    const next = takeStep(ctx, data, at, step);
    if (next instanceof Response) return next;
    at = next;
  }
  return at;
}

/** One step from the resource reached so far. */
function takeStep(ctx: ReplyContext, data: WorkbookData, at: Resource, step: Step): Resource | Response {
  switch (step.t) {
    case 'worksheets':
      return { kind: 'worksheets' };
    case 'worksheet':
      return worksheetStep(ctx, data, step);
    case 'worksheetOf':
      return worksheetOfStep(ctx, data, at);
    case 'range':
      return rangeStep(ctx, data, at, step);
    case 'usedRange':
      return usedRangeStep(ctx, data, at, step);
    case 'cell':
    case 'rangeNav':
      return moveStep(ctx, at, step);
    case 'tables':
      return { kind: 'tables', sheet: at.kind === 'worksheet' ? at.sheet : undefined };
    case 'table':
      return tableStep(ctx, data, at, step);
    case 'rows':
    case 'rowsAdd':
    case 'columns':
      if (!('table' in at)) return notFound(ctx, 'The table does not exist.');
      return { kind: step.t, table: at.table };
    case 'row':
      return rowStep(ctx, at, step);
    case 'column':
    case 'columnAt':
      return columnStep(ctx, at, step);
    case 'ownRange':
      return ownRangeStep(ctx, data, at, step);
    case 'names':
      return { kind: 'names', sheet: at.kind === 'worksheet' ? at.sheet : undefined };
    case 'name':
      return nameStep(ctx, data, step);
    case 'application':
      return { kind: 'application' };
    case 'calculate':
      return { kind: 'calculate' };
    case 'function':
      return { kind: 'function', name: step.name };
  }
}

function worksheetStep(ctx: ReplyContext, data: WorkbookData, step: StepOf<'worksheet'>): Resource | Response {
  const sheet = findSheet(data, step.key);
  if (sheet === undefined) return notFound(ctx, `The worksheet ${JSON.stringify(step.key)} does not exist.`);
  return { kind: 'worksheet', sheet };
}

/** The worksheet a range or a table is on. */
function worksheetOfStep(ctx: ReplyContext, data: WorkbookData, at: Resource): Resource | Response {
  const name = at.kind === 'range' ? at.view.sheet.name : at.kind === 'table' ? at.table.sheet : '';
  const sheet = data.sheet(name);
  if (sheet === undefined) return notFound(ctx, 'The worksheet does not exist.');
  return { kind: 'worksheet', sheet };
}

function rangeStep(ctx: ReplyContext, data: WorkbookData, at: Resource, step: StepOf<'range'>): Resource | Response {
  if (at.kind !== 'worksheet') return notFound(ctx, 'The range does not exist.');
  const parsed = step.address === undefined ? wholeSheet() : parseRangeAddress(step.address);
  if (parsed === undefined)
    return invalidArgument(
      ctx,
      'The argument is invalid or missing or has an incorrect format: ' +
        `address ${JSON.stringify(step.address ?? '')}.`,
    );
  if (parsed.sheet !== undefined && findSheet(data, parsed.sheet) !== at.sheet)
    return invalidArgument(ctx, `The address ${JSON.stringify(step.address)} names another worksheet.`);
  return { kind: 'range', view: { sheet: at.sheet, rect: parsed.rect, table: undefined } };
}

function usedRangeStep(
  ctx: ReplyContext,
  data: WorkbookData,
  at: Resource,
  step: StepOf<'usedRange'>,
): Resource | Response {
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
    return { kind: 'range', view: { ...view, rect: { top: 0, left: 0, bottom: 0, right: 0 } } };
  }
  return { kind: 'range', view: { ...view, rect: cut } };
}

/** `cell(row, column)` and the range navigations, refused when they would leave the worksheet. */
function moveStep(ctx: ReplyContext, at: Resource, step: StepOf<'cell' | 'rangeNav'>): Resource | Response {
  if (at.kind !== 'range') return notFound(ctx, 'The range does not exist.');
  const r = at.view.rect;
  const next: CellRect =
    step.t === 'cell'
      ? {
          top: r.top + step.row,
          left: r.left + step.column,
          bottom: r.top + step.row,
          right: r.left + step.column,
        }
      : navigate(r, step);
  if (!within(next))
    return invalidArgument(
      ctx,
      'The argument is invalid or missing or has an incorrect format: the range would leave the worksheet.',
    );
  return { kind: 'range', view: { ...at.view, rect: next } };
}

function navigate(r: CellRect, step: StepOf<'rangeNav'>): CellRect {
  const [a = 0, b = 0] = step.args;
  switch (step.name) {
    case 'row':
      return { ...r, top: r.top + a, bottom: r.top + a };
    case 'column':
      return { ...r, left: r.left + a, right: r.left + a };
    case 'entireRow':
      return { ...r, left: 0, right: SHEET_COLUMNS - 1 };
    case 'entireColumn':
      return { ...r, top: 0, bottom: SHEET_ROWS - 1 };
    case 'lastCell':
      return { top: r.bottom, bottom: r.bottom, left: r.right, right: r.right };
    case 'lastRow':
      return { ...r, top: r.bottom };
    case 'lastColumn':
      return { ...r, left: r.right };
    case 'offsetRange':
      return { top: r.top + a, bottom: r.bottom + a, left: r.left + b, right: r.right + b };
    case 'resizedRange':
      return { ...r, bottom: r.bottom + a, right: r.right + b };
  }
}

function tableStep(ctx: ReplyContext, data: WorkbookData, at: Resource, step: StepOf<'table'>): Resource | Response {
  const table = data.table(step.key);
  const sheet = at.kind === 'tables' ? at.sheet : undefined;
  if (table === undefined || (sheet !== undefined && table.sheet !== sheet.name))
    return notFound(ctx, `The table ${JSON.stringify(step.key)} does not exist.`);
  return { kind: 'table', table };
}

function rowStep(ctx: ReplyContext, at: Resource, step: StepOf<'row'>): Resource | Response {
  if (!('table' in at)) return notFound(ctx, 'The table does not exist.');
  if (step.index < 0 || step.index >= at.table.rows.length)
    return notFound(ctx, `The table has no row at index ${step.index}.`);
  return { kind: 'row', table: at.table, index: step.index };
}

/** A table column by id or name (any case), or by position. */
function columnStep(ctx: ReplyContext, at: Resource, step: StepOf<'column' | 'columnAt'>): Resource | Response {
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
  return { kind: 'column', table, index };
}

/** The range of a named item, or of a table, a table row or a table column (whole, body or header). */
function ownRangeStep(
  ctx: ReplyContext,
  data: WorkbookData,
  at: Resource,
  step: StepOf<'ownRange'>,
): Resource | Response {
  if (at.kind === 'name') {
    const ref = nameRange(data, at.item);
    if (ref === undefined)
      return invalidArgument(ctx, `The named item ${JSON.stringify(at.item.name)} does not refer to a range.`);
    return { kind: 'range', view: { ...ref, table: undefined } };
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
  return { kind: 'range', view: { sheet, rect, table } };
}

function nameStep(ctx: ReplyContext, data: WorkbookData, step: StepOf<'name'>): Resource | Response {
  const item = data.name(step.key);
  if (item === undefined) return notFound(ctx, `The named item ${JSON.stringify(step.key)} does not exist.`);
  return { kind: 'name', item };
}
