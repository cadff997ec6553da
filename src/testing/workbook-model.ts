import { type CellRect, rectSize } from './address.js';
import type { WorkbookSeed } from './options.js';

/** One table: a header row of column names and its data rows. */
export interface TableData {
  readonly name: string;
  readonly sheet: string;
  readonly columns: readonly string[];
  rows: unknown[][];
}

export interface SheetData {
  readonly name: string;
  // Grown on write; a missing cell reads as ''.
  cells: unknown[][];
}

/**
 * The contents of one workbook file: sheets with cell values, and tables. A non-persistent session
 * works on a `clone()`, so its changes vanish with it.
 */
export class WorkbookData {
  // Sheets in workbook order; fixed after construction.
  readonly #sheets: SheetData[];
  // Tables by name, across all sheets; fixed set after construction, rows change.
  readonly #tables: Map<string, TableData>;

  private constructor(sheets: SheetData[], tables: Map<string, TableData>) {
    this.#sheets = sheets;
    this.#tables = tables;
  }

  static fromSeed(path: string, seed: WorkbookSeed | undefined): WorkbookData {
    const sheets: SheetData[] = [];
    const tables = new Map<string, TableData>();
    const worksheets = seed?.worksheets ?? { Sheet1: {} };
    if (typeof worksheets !== 'object' || worksheets === null) {
      throw new TypeError(`Expected \`worksheets\` of workbook ${JSON.stringify(path)} to be an object`);
    }
    for (const [name, sheet] of Object.entries(worksheets)) {
      const cells = sheet.cells ?? [];
      if (!Array.isArray(cells) || cells.some((row) => !Array.isArray(row))) {
        throw new TypeError(`Expected \`cells\` of sheet ${JSON.stringify(name)} in ${JSON.stringify(path)} to be an array of arrays`);
      }
      sheets.push({ name, cells: cells.map((row) => [...row]) });
      for (const [tableName, table] of Object.entries(sheet.tables ?? {})) {
        if (tables.has(tableName.toLowerCase())) {
          throw new TypeError(`Table ${JSON.stringify(tableName)} appears twice in workbook ${JSON.stringify(path)}`);
        }
        if (!Array.isArray(table.columns) || table.columns.length === 0) {
          throw new TypeError(`Expected \`columns\` of table ${JSON.stringify(tableName)} to be a non-empty array of names`);
        }
        const rows = (table.rows ?? []).map((row) => [...row]);
        if (rows.some((row) => row.length !== table.columns.length)) {
          throw new TypeError(`Every row of table ${JSON.stringify(tableName)} must have ${table.columns.length} values`);
        }
        tables.set(tableName.toLowerCase(), { name: tableName, sheet: name, columns: [...table.columns], rows });
      }
    }
    if (sheets.length === 0) sheets.push({ name: 'Sheet1', cells: [] });
    return new WorkbookData(sheets, tables);
  }

  clone(): WorkbookData {
    const sheets = this.#sheets.map((s) => ({ name: s.name, cells: s.cells.map((row) => [...row]) }));
    const tables = new Map([...this.#tables].map(([key, t]) => [key, { ...t, rows: t.rows.map((row) => [...row]) }]));
    return new WorkbookData(sheets, tables);
  }

  sheets(): readonly SheetData[] {
    return this.#sheets;
  }

  /** Excel matches sheet and table names without regard to case. */
  sheet(name: string): SheetData | undefined {
    const lower = name.toLowerCase();
    return this.#sheets.find((s) => s.name.toLowerCase() === lower);
  }

  table(name: string): TableData | undefined {
    return this.#tables.get(name.toLowerCase());
  }

  read(sheet: SheetData, rect: CellRect): unknown[][] {
    const values: unknown[][] = [];
    for (let r = rect.top; r <= rect.bottom; r++) {
      const row = sheet.cells[r];
      const out: unknown[] = [];
      for (let c = rect.left; c <= rect.right; c++) out.push(row?.[c] ?? '');
      values.push(out);
    }
    return values;
  }

  /** Writes `values`, whose shape the caller has checked against `rect`. */
  write(sheet: SheetData, rect: CellRect, values: readonly (readonly unknown[])[]): void {
    const { rows, columns } = rectSize(rect);
    for (let i = 0; i < rows; i++) {
      const r = rect.top + i;
      const row = (sheet.cells[r] ??= []);
      for (let j = 0; j < columns; j++) {
        // Fill holes so the row stays a dense array.
        while (row.length < rect.left + j) row.push('');
        row[rect.left + j] = values[i]?.[j] ?? '';
      }
    }
    for (let r = 0; r < sheet.cells.length; r++) sheet.cells[r] ??= [];
  }

  /** The smallest rectangle holding every non-empty cell, or undefined for an empty sheet. */
  usedRect(sheet: SheetData): CellRect | undefined {
    let top = Infinity;
    let left = Infinity;
    let bottom = -1;
    let right = -1;
    sheet.cells.forEach((row, r) => {
      row.forEach((value, c) => {
        if (value === '' || value === null || value === undefined) return;
        top = Math.min(top, r);
        bottom = Math.max(bottom, r);
        left = Math.min(left, c);
        right = Math.max(right, c);
      });
    });
    return bottom === -1 ? undefined : { top, left, bottom, right };
  }
}
