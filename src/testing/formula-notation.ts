import { columnLetters } from './address.js';

/**
 * Converts cell references in a formula between A1 and R1C1 notation, relative to the cell the
 * formula is in. String literals are left alone; a name followed by `(` is a function, not a cell.
 * Whole-row and whole-column references (`A:A`, `1:1`) are not converted.
 */

function columnIndex(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

function outsideStrings(formula: string, convert: (code: string) => string): string {
  return formula
    .split(/("(?:[^"]|"")*")/)
    .map((part, i) => (i % 2 === 1 ? part : convert(part)))
    .join('');
}

const A1_REF = /(?<![\w.$])(\$?)([A-Za-z]{1,3})(\$?)(\d{1,7})(?![\w(])/g;
const R1C1_REF = /(?<![\w.])R(\[-?\d+\]|\d+)?C(\[-?\d+\]|\d+)?(?![\w(])/gi;

/** `=B1*2` in B2 becomes `=R[-1]C*2`. */
export function toR1C1(formula: string, row: number, column: number): string {
  return outsideStrings(formula, (code) =>
    code.replace(A1_REF, (whole, colAbs: string, letters: string, rowAbs: string, digits: string) => {
      const c = columnIndex(letters);
      const r = Number(digits) - 1;
      if (c >= 16_384 || r < 0) return whole;
      const rowPart = rowAbs === '$' ? `R${r + 1}` : r === row ? 'R' : `R[${r - row}]`;
      const colPart = colAbs === '$' ? `C${c + 1}` : c === column ? 'C' : `C[${c - column}]`;
      return rowPart + colPart;
    }),
  );
}

/** `=R[-1]C*2` in B2 becomes `=B1*2`. */
export function fromR1C1(formula: string, row: number, column: number): string | undefined {
  let bad = false;
  const out = outsideStrings(formula, (code) =>
    code.replace(R1C1_REF, (_whole, rowPart: string | undefined, colPart: string | undefined) => {
      const resolve = (part: string | undefined, here: number): { index: number; absolute: boolean } => {
        if (part === undefined) return { index: here, absolute: false };
        if (part.startsWith('[')) return { index: here + Number(part.slice(1, -1)), absolute: false };
        return { index: Number(part) - 1, absolute: true };
      };
      const r = resolve(rowPart, row);
      const c = resolve(colPart, column);
      if (r.index < 0 || c.index < 0 || c.index >= 16_384 || r.index >= 1_048_576) bad = true;
      const letters = `${c.absolute ? '$' : ''}${columnLetters(Math.max(0, c.index))}`;
      return `${letters}${r.absolute ? '$' : ''}${Math.max(0, r.index) + 1}`;
    }),
  );
  return bad ? undefined : out;
}
