import { type CellValue, GENERAL, formatText, valueType } from './cell-format.js';
import { toR1C1 } from './formula-notation.js';
import { formatRangeAddress, unboundedOf } from './range-address.js';
import type { NamedItemData, SheetData, TableData, WorkbookData } from './workbook-model.js';
import { type RangeView, nameRange, tableCell, worksheetId } from './workbook-resolve.js';

/** The JSON of each workbook resource, with the properties Graph's resource pages list. */

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
export function rangeJson(data: WorkbookData, view: RangeView): Record<string, unknown> {
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

export function worksheetJson(data: WorkbookData, sheet: SheetData): Record<string, unknown> {
  const position = data.sheets().indexOf(sheet);
  return { id: worksheetId(position), name: sheet.name, position, visibility: 'Visible' };
}

export function tableJson(table: TableData): Record<string, unknown> {
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

export function columnJson(table: TableData, index: number): Record<string, unknown> {
  const column = table.columns[index];
  return {
    id: column?.id,
    index,
    name: column?.name,
    values: [[column?.name ?? ''], ...table.rows.map((row) => [row[index] ?? ''])],
  };
}

export function namedItemJson(data: WorkbookData, item: NamedItemData): Record<string, unknown> {
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
