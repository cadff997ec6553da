/** A rectangle of cells, zero-based and inclusive. */
export interface CellRect {
  readonly top: number;
  readonly left: number;
  readonly bottom: number;
  readonly right: number;
}

const MAX_ROWS = 1_048_576;
const MAX_COLUMNS = 16_384;

/**
 * Parses `A1`, `A1:C3` or `Sheet1!A1:C3` (the sheet part is returned, not checked here).
 * Returns undefined for anything else, including cells beyond Excel's grid.
 */
export function parseAddress(address: string): { sheet: string | undefined; rect: CellRect } | undefined {
  const { sheet, cells } = splitSheet(address);
  const match = /^\$?([A-Za-z]{1,3})\$?(\d{1,7})(?::\$?([A-Za-z]{1,3})\$?(\d{1,7}))?$/.exec(cells);
  if (match === null) return undefined;
  const [, c1 = '', r1 = '', c2 = c1, r2 = r1] = match;
  const a = { col: columnIndex(c1), row: Number(r1) - 1 };
  const b = { col: columnIndex(c2), row: Number(r2) - 1 };
  for (const p of [a, b]) {
    if (p.col < 0 || p.col >= MAX_COLUMNS || p.row < 0 || p.row >= MAX_ROWS) return undefined;
  }
  return {
    sheet,
    rect: {
      top: Math.min(a.row, b.row),
      left: Math.min(a.col, b.col),
      bottom: Math.max(a.row, b.row),
      right: Math.max(a.col, b.col),
    },
  };
}

function columnIndex(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

export function columnLetters(index: number): string {
  let n = index + 1;
  let out = '';
  while (n > 0) {
    const rem = (n - 1) % 26;
    out = String.fromCharCode(65 + rem) + out;
    n = Math.floor((n - 1) / 26);
  }
  return out;
}

/** `Sheet1!A1:C3`, quoting the sheet name as Excel does when it has spaces or punctuation. */
export function formatAddress(sheet: string, rect: CellRect): string {
  const start = `${columnLetters(rect.left)}${rect.top + 1}`;
  const end = `${columnLetters(rect.right)}${rect.bottom + 1}`;
  const name = /^[A-Za-z_][A-Za-z0-9_.]*$/.test(sheet) ? sheet : `'${sheet.replace(/'/g, "''")}'`;
  return `${name}!${start === end ? start : `${start}:${end}`}`;
}

export function rectSize(rect: CellRect): { rows: number; columns: number } {
  return { rows: rect.bottom - rect.top + 1, columns: rect.right - rect.left + 1 };
}

/** `Sheet1!A1` or `'My sheet'!A1` into its sheet name (quotes removed) and the cells part. */
export function splitSheet(address: string): { sheet: string | undefined; cells: string } {
  const bang = address.lastIndexOf('!');
  if (bang === -1) return { sheet: undefined, cells: address };
  const sheet = address
    .slice(0, bang)
    .replace(/^'(.*)'$/, '$1')
    .replace(/''/g, "'");
  return { sheet, cells: address.slice(bang + 1) };
}
