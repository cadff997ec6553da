import { type CellRect, columnLetters, parseAddress, splitSheet } from './address.js';

/** Excel's grid. */
export const SHEET_ROWS = 1_048_576;
export const SHEET_COLUMNS = 16_384;

/**
 * A range address as Graph takes it: a bounded `A1:C3`, or an unbounded `A:C` (whole columns)
 * or `2:5` (whole rows). `unbounded` says which way the range runs to the grid's edge.
 */
export interface RangeAddress {
  readonly sheet: string | undefined;
  readonly rect: CellRect;
  readonly unbounded: 'rows' | 'columns' | 'both' | undefined;
}

function columnIndex(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

/** Parses `A1`, `A1:C3`, `A:C`, `2:5`, each with an optional `Sheet1!` or `'My sheet'!` prefix. */
export function parseRangeAddress(address: string): RangeAddress | undefined {
  const bounded = parseAddress(address);
  if (bounded !== undefined) return { ...bounded, unbounded: undefined };
  const { sheet, cells } = splitSheet(address.trim());
  const cols = /^\$?([A-Za-z]{1,3})(?::\$?([A-Za-z]{1,3}))?$/.exec(cells);
  if (cols !== null) {
    const a = columnIndex(cols[1] ?? '');
    const b = columnIndex(cols[2] ?? cols[1] ?? '');
    if (Math.max(a, b) >= SHEET_COLUMNS) return undefined;
    return {
      sheet,
      rect: { top: 0, bottom: SHEET_ROWS - 1, left: Math.min(a, b), right: Math.max(a, b) },
      unbounded: 'rows',
    };
  }
  const rows = /^\$?(\d{1,7})(?::\$?(\d{1,7}))?$/.exec(cells);
  if (rows !== null) {
    const a = Number(rows[1]) - 1;
    const b = Number(rows[2] ?? rows[1]) - 1;
    if (Math.min(a, b) < 0 || Math.max(a, b) >= SHEET_ROWS) return undefined;
    return {
      sheet,
      rect: { top: Math.min(a, b), bottom: Math.max(a, b), left: 0, right: SHEET_COLUMNS - 1 },
      unbounded: 'columns',
    };
  }
  return undefined;
}

/** The whole sheet, as `worksheets/{id}/range` without an address names it. */
export function wholeSheet(): RangeAddress {
  return {
    sheet: undefined,
    rect: { top: 0, left: 0, bottom: SHEET_ROWS - 1, right: SHEET_COLUMNS - 1 },
    unbounded: 'both',
  };
}

/** A rectangle that touches the grid's edges both ways is unbounded in Excel's sense. */
export function unboundedOf(rect: CellRect): RangeAddress['unbounded'] {
  const allRows = rect.top === 0 && rect.bottom === SHEET_ROWS - 1;
  const allColumns = rect.left === 0 && rect.right === SHEET_COLUMNS - 1;
  return allRows && allColumns ? 'both' : allRows ? 'rows' : allColumns ? 'columns' : undefined;
}

function sheetPrefix(sheet: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.]*$/.test(sheet) ? sheet : `'${sheet.replace(/'/g, "''")}'`;
}

/** `Sheet1!A1:C3`, `Sheet1!A:C`, `Sheet1!2:5` or `Sheet1!1:1048576`, as Excel writes them. */
export function formatRangeAddress(sheet: string, rect: CellRect): string {
  const kind = unboundedOf(rect);
  let cells: string;
  if (kind === 'rows') cells = `${columnLetters(rect.left)}:${columnLetters(rect.right)}`;
  else if (kind === 'columns' || kind === 'both') cells = `${rect.top + 1}:${rect.bottom + 1}`;
  else {
    const start = `${columnLetters(rect.left)}${rect.top + 1}`;
    const end = `${columnLetters(rect.right)}${rect.bottom + 1}`;
    cells = start === end ? start : `${start}:${end}`;
  }
  return `${sheetPrefix(sheet)}!${cells}`;
}
