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

/** Takes the steps against the data; the answer is the resource or the 4xx Graph would give. */
export function resolve(ctx: ReplyContext, data: WorkbookData, steps: readonly Step[]): Resource | Response {
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
            'The argument is invalid or missing or has an incorrect format: ' +
              `address ${JSON.stringify(step.address ?? '')}.`,
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
