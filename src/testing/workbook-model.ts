import type { CellRect } from './address.js';
import { type CellValue, GENERAL, coerceInput } from './cell-format.js';
import type { WorkbookSeed } from './options.js';
import { parseRangeAddress } from './range-address.js';

export interface TableColumnData {
  readonly id: string;
  readonly name: string;
}

/** One table: a header row of column names and its data rows, kept apart from the cell grid. */
export interface TableData {
  readonly id: string;
  readonly legacyId: string;
  readonly name: string;
  readonly sheet: string;
  readonly columns: readonly TableColumnData[];
  /** The header row's first cell, for the table's range addresses. */
  readonly origin: { readonly top: number; readonly left: number };
  rows: CellValue[][];
}

export interface NamedItemData {
  readonly name: string;
  /** As Graph shows it: `=Sheet1!$A$1:$B$2`, or a constant such as `=0.08`. */
  readonly value: string;
  readonly comment: string;
  readonly visible: boolean;
}

export interface SheetData {
  readonly name: string;
  // Grown on write; a missing cell reads as ''. A formula cell holds '' (formulas are not evaluated).
  cells: CellValue[][];
  // Formulas (A1 notation, with the leading '=') by cellKey(); set and cleared by writes.
  readonly formulas: Map<number, string>;
  // Number formats other than General by cellKey(); set and cleared by writes.
  readonly formats: Map<number, string>;
  // Hidden row and column indexes; changed by rowHidden / columnHidden writes.
  readonly hiddenRows: Set<number>;
  readonly hiddenColumns: Set<number>;
}

export interface CellData {
  readonly value: CellValue;
  readonly formula: string | undefined;
  readonly format: string;
}

export function cellKey(row: number, column: number): number {
  return row * 16_384 + column;
}

function toCellValue(value: unknown, where: string): CellValue {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)))
    return value;
  throw new TypeError(
    `Expected cell values to be strings, finite numbers, booleans or null ${where}, got ${JSON.stringify(value)}`,
  );
}

function emptySheet(name: string): SheetData {
  return { name, cells: [], formulas: new Map(), formats: new Map(), hiddenRows: new Set(), hiddenColumns: new Set() };
}

/** Graph's table ids are GUID-like strings; these are stable per table order. */
function tableId(n: number): string {
  return `{${n.toString(16).padStart(8, '0').toUpperCase()}-0000-4000-8000-000000000000}`;
}

/**
 * The contents of one workbook file: sheets with cells, tables and named items. A non-persistent
 * session works on a `clone()`, so its changes vanish with it.
 */
export class WorkbookData {
  // Sheets in workbook order; fixed after construction.
  readonly #sheets: SheetData[];
  // Tables by lower-case name, across all sheets; fixed set after construction, rows change.
  readonly #tables: Map<string, TableData>;
  // Named items by lower-case name; fixed after construction.
  readonly #names: Map<string, NamedItemData>;

  private constructor(sheets: SheetData[], tables: Map<string, TableData>, names: Map<string, NamedItemData>) {
    this.#sheets = sheets;
    this.#tables = tables;
    this.#names = names;
  }

  static fromSeed(path: string, seed: WorkbookSeed | undefined): WorkbookData {
    const sheets: SheetData[] = [];
    const tables = new Map<string, TableData>();
    const worksheets = seed?.worksheets ?? { Sheet1: {} };
    if (typeof worksheets !== 'object' || worksheets === null) {
      throw new TypeError(`Expected \`worksheets\` of workbook ${JSON.stringify(path)} to be an object`);
    }
    for (const [name, sheetSeed] of Object.entries(worksheets)) {
      sheets.push(seedSheet(path, name, sheetSeed));
      for (const [tableName, table] of Object.entries(sheetSeed.tables ?? {})) {
        if (tables.has(tableName.toLowerCase())) {
          throw new TypeError(`Table ${JSON.stringify(tableName)} appears twice in workbook ${JSON.stringify(path)}`);
        }
        tables.set(tableName.toLowerCase(), seedTable(tableName, table, name, tables.size + 1));
      }
    }
    if (sheets.length === 0) sheets.push(emptySheet('Sheet1'));
    return new WorkbookData(sheets, tables, seedNames(path, seed?.names ?? {}));
  }

  clone(): WorkbookData {
    const sheets = this.#sheets.map((s) => ({
      name: s.name,
      cells: s.cells.map((row) => [...row]),
      formulas: new Map(s.formulas),
      formats: new Map(s.formats),
      hiddenRows: new Set(s.hiddenRows),
      hiddenColumns: new Set(s.hiddenColumns),
    }));
    const tables = new Map([...this.#tables].map(([key, t]) => [key, { ...t, rows: t.rows.map((row) => [...row]) }]));
    return new WorkbookData(sheets, tables, new Map(this.#names));
  }

  sheets(): readonly SheetData[] {
    return this.#sheets;
  }

  /** Excel matches sheet, table and name keys without regard to case. */
  sheet(name: string): SheetData | undefined {
    const lower = name.toLowerCase();
    return this.#sheets.find((s) => s.name.toLowerCase() === lower);
  }

  tables(): readonly TableData[] {
    return [...this.#tables.values()];
  }

  /** By name (any case) or by id. */
  table(key: string): TableData | undefined {
    return (
      this.#tables.get(key.toLowerCase()) ?? [...this.#tables.values()].find((t) => t.id === key || t.legacyId === key)
    );
  }

  names(): readonly NamedItemData[] {
    return [...this.#names.values()];
  }

  name(key: string): NamedItemData | undefined {
    return this.#names.get(key.toLowerCase());
  }

  cell(sheet: SheetData, row: number, column: number): CellData {
    const key = cellKey(row, column);
    return {
      value: sheet.cells[row]?.[column] ?? '',
      formula: sheet.formulas.get(key),
      format: sheet.formats.get(key) ?? GENERAL,
    };
  }

  read(sheet: SheetData, rect: CellRect): CellValue[][] {
    const values: CellValue[][] = [];
    for (let r = rect.top; r <= rect.bottom; r++) {
      const row = sheet.cells[r];
      const out: CellValue[] = [];
      for (let c = rect.left; c <= rect.right; c++) out.push(row?.[c] ?? '');
      values.push(out);
    }
    return values;
  }

  #store(sheet: SheetData, row: number, column: number, value: CellValue): void {
    const cells = (sheet.cells[row] ??= []);
    // Fill holes so rows stay dense arrays.
    while (cells.length < column) cells.push('');
    cells[column] = value;
    for (let r = 0; r < sheet.cells.length; r++) sheet.cells[r] ??= [];
  }

  /**
   * Writes a value as Excel does when a client sets `values`: `=...` becomes a formula, a numeric
   * or date string under General becomes a number.
   */
  setValue(sheet: SheetData, row: number, column: number, value: CellValue): void {
    const key = cellKey(row, column);
    if (typeof value === 'string' && value.startsWith('=') && value.length > 1) {
      this.setFormula(sheet, row, column, value);
      return;
    }
    const coerced = coerceInput(value, sheet.formats.get(key) ?? GENERAL);
    sheet.formulas.delete(key);
    if (coerced.format !== undefined) sheet.formats.set(key, coerced.format);
    this.#store(sheet, row, column, coerced.value);
  }

  /** A formula is stored, not evaluated: the cell's value reads as ''. A constant "formula" is a value. */
  setFormula(sheet: SheetData, row: number, column: number, formula: CellValue): void {
    if (typeof formula !== 'string' || !formula.startsWith('=') || formula.length < 2) {
      this.setValue(sheet, row, column, formula);
      return;
    }
    sheet.formulas.set(cellKey(row, column), formula);
    this.#store(sheet, row, column, '');
  }

  setFormat(sheet: SheetData, row: number, column: number, format: string): void {
    if (format === GENERAL) sheet.formats.delete(cellKey(row, column));
    else sheet.formats.set(cellKey(row, column), format);
  }

  /** Writes plain values, whose shape the caller has checked against `rect`. */
  write(sheet: SheetData, rect: CellRect, values: readonly (readonly CellValue[])[]): void {
    for (let r = rect.top; r <= rect.bottom; r++) {
      for (let c = rect.left; c <= rect.right; c++)
        this.setValue(sheet, r, c, values[r - rect.top]?.[c - rect.left] ?? '');
    }
  }

  /** The smallest rectangle holding every non-empty cell (formulas and, unless `valuesOnly`, formats count). */
  usedRect(sheet: SheetData, valuesOnly = false): CellRect | undefined {
    let top = Infinity;
    let left = Infinity;
    let bottom = -1;
    let right = -1;
    const take = (r: number, c: number): void => {
      top = Math.min(top, r);
      bottom = Math.max(bottom, r);
      left = Math.min(left, c);
      right = Math.max(right, c);
    };
    sheet.cells.forEach((row, r) => {
      row.forEach((value, c) => {
        if (value !== '') take(r, c);
      });
    });
    for (const key of sheet.formulas.keys()) take(Math.floor(key / 16_384), key % 16_384);
    if (!valuesOnly) for (const key of sheet.formats.keys()) take(Math.floor(key / 16_384), key % 16_384);
    return bottom === -1 ? undefined : { top, left, bottom, right };
  }
}

type SheetSeed = NonNullable<WorkbookSeed['worksheets']>[string];
type TableSeed = NonNullable<SheetSeed['tables']>[string];

/** A seeded sheet: its cells (a string starting with `=` is a formula) and number formats, checked. */
function seedSheet(path: string, name: string, sheetSeed: SheetSeed): SheetData {
  const cells: readonly (readonly unknown[])[] = sheetSeed.cells ?? [];
  if (!Array.isArray(cells) || cells.some((row) => !Array.isArray(row))) {
    throw new TypeError(
      `Expected \`cells\` of sheet ${JSON.stringify(name)} in ${JSON.stringify(path)} to be an array of arrays`,
    );
  }
  const sheet = emptySheet(name);
  const where = `in sheet ${JSON.stringify(name)} of ${JSON.stringify(path)}`;
  cells.forEach((row, r) => {
    sheet.cells[r] = [];
    row.forEach((raw: unknown, c: number) => {
      const value = toCellValue(raw, where);
      if (typeof value === 'string' && value.startsWith('=') && value.length > 1) {
        sheet.formulas.set(cellKey(r, c), value);
        (sheet.cells[r] as CellValue[])[c] = '';
      } else (sheet.cells[r] as CellValue[])[c] = value;
    });
  });
  const formats: readonly (readonly (string | null)[])[] = sheetSeed.numberFormats ?? [];
  if (
    !Array.isArray(formats) ||
    formats.some((row) => !Array.isArray(row) || row.some((f) => f !== null && typeof f !== 'string'))
  ) {
    throw new TypeError(
      `Expected \`numberFormats\` of sheet ${JSON.stringify(name)} to be an array of arrays of strings or null`,
    );
  }
  formats.forEach((row, r) =>
    row.forEach((f: string | null, c: number) => {
      if (f !== null && f !== GENERAL) sheet.formats.set(cellKey(r, c), f);
    }),
  );
  return sheet;
}

/** The `n`th table of the workbook, on sheet `sheetName`, checked. */
function seedTable(tableName: string, table: TableSeed, sheetName: string, n: number): TableData {
  if (!Array.isArray(table.columns) || table.columns.length === 0 || table.columns.some((c) => typeof c !== 'string')) {
    throw new TypeError(`Expected \`columns\` of table ${JSON.stringify(tableName)} to be a non-empty array of names`);
  }
  const rows = (table.rows ?? []).map((row) => row.map((v) => toCellValue(v, `in table ${JSON.stringify(tableName)}`)));
  if (rows.some((row) => row.length !== table.columns.length)) {
    throw new TypeError(`Every row of table ${JSON.stringify(tableName)} must have ${table.columns.length} values`);
  }
  const origin =
    table.address === undefined
      ? { sheet: undefined, rect: { top: 0, left: 0, bottom: 0, right: 0 }, unbounded: undefined }
      : parseRangeAddress(table.address);
  if (origin === undefined || origin.unbounded !== undefined)
    throw new TypeError(
      `Expected \`address\` of table ${JSON.stringify(tableName)} to be a cell such as "A1", ` +
        `got ${JSON.stringify(table.address)}`,
    );
  return {
    id: tableId(n),
    legacyId: String(n),
    name: tableName,
    sheet: sheetName,
    columns: table.columns.map((c, i) => ({ id: String(i + 1), name: c })),
    origin: { top: origin.rect.top, left: origin.rect.left },
    rows,
  };
}

/** The workbook-scoped named items by lower-case name, checked; a value always starts with `=`. */
function seedNames(path: string, given: NonNullable<WorkbookSeed['names']>): Map<string, NamedItemData> {
  const names = new Map<string, NamedItemData>();
  for (const [name, entry] of Object.entries(given)) {
    const item = typeof entry === 'string' ? { value: entry } : entry;
    if (typeof item !== 'object' || item === null || typeof item.value !== 'string') {
      throw new TypeError(
        `Expected name ${JSON.stringify(name)} of ${JSON.stringify(path)} to be a string or { value: string }, ` +
          `got ${JSON.stringify(entry)}`,
      );
    }
    const value = item.value.startsWith('=') ? item.value : `=${item.value}`;
    names.set(name.toLowerCase(), { name, value, comment: item.comment ?? '', visible: item.visible ?? true });
  }
  return names;
}
