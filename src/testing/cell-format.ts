/**
 * How Excel (en-US) turns what a client writes into a cell into what it stores, and how it shows a
 * stored value as `text`. Only the common cases: the rest is listed in the emulator's documentation.
 */

export type CellValue = string | number | boolean;

export const GENERAL = 'General';

/** Excel's day 0 is 1899-12-30 (the 1900 leap-year bug included). */
const EPOCH_MS = Date.UTC(1899, 11, 30);
const DAY_MS = 86_400_000;

/**
 * What a value written through `values` becomes, in a cell with `format`: under General a numeric
 * string becomes a number, `TRUE`/`FALSE` a boolean and `m/d/yyyy` a date serial with a date
 * format; under Text (`@`) everything stays a string.
 */
export function coerceInput(value: CellValue, format: string): { value: CellValue; format?: string } {
  if (typeof value !== 'string' || format === '@') return { value };
  const text = value.trim();
  if (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text)) return { value: Number(text) };
  if (/^(?:true|false)$/i.test(text)) return { value: text.toLowerCase() === 'true' };
  const date = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text);
  if (date !== null) {
    const [, m = '', d = '', y = ''] = date;
    const ms = Date.UTC(Number(y), Number(m) - 1, Number(d));
    const back = new Date(ms);
    if (back.getUTCMonth() === Number(m) - 1 && back.getUTCDate() === Number(d)) {
      return { value: Math.round((ms - EPOCH_MS) / DAY_MS), ...(format === GENERAL ? { format: 'm/d/yyyy' } : {}) };
    }
  }
  return { value };
}

/** Excel's value type names (workbookRange `valueTypes`). */
export function valueType(value: CellValue): 'Empty' | 'String' | 'Double' | 'Boolean' | 'Error' {
  if (value === '') return 'Empty';
  if (typeof value === 'number') return 'Double';
  if (typeof value === 'boolean') return 'Boolean';
  return /^#(?:NULL!|DIV\/0!|VALUE!|REF!|NAME\?|NUM!|N\/A|SPILL!|CALC!)$/.test(value) ? 'Error' : 'String';
}

function general(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) < 1e11) return String(value);
  const text = String(Number(value.toPrecision(10)));
  return text.length <= 11
    ? text
    : value
        .toExponential(5)
        .replace(/e([+-])(\d)$/, 'E$10$2')
        .replace('e', 'E');
}

function grouped(value: number, decimals: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function dateText(serial: number, format: string): string | undefined {
  const d = new Date(EPOCH_MS + Math.floor(serial) * DAY_MS);
  const m = d.getUTCMonth() + 1;
  const day = d.getUTCDate();
  const y = d.getUTCFullYear();
  const pad = (n: number): string => String(n).padStart(2, '0');
  switch (format.toLowerCase()) {
    case 'm/d/yyyy':
      return `${m}/${day}/${y}`;
    case 'mm/dd/yyyy':
      return `${pad(m)}/${pad(day)}/${y}`;
    case 'yyyy-mm-dd':
      return `${y}-${pad(m)}-${pad(day)}`;
    case 'm-ddd':
      return `${m}-${d.toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' })}`;
    default:
      return undefined;
  }
}

/** The formats `text` applies exactly; under any other, `text` shows the value as General would. */
export const TEXT_FORMATS = [
  'General',
  '@',
  '0',
  '0.00',
  '#,##0',
  '#,##0.00',
  '0%',
  '0.00%',
  'm/d/yyyy',
  'mm/dd/yyyy',
  'yyyy-mm-dd',
  'm-ddd',
] as const;

/** A stored value as the cell shows it (workbookRange `text`). */
export function formatText(value: CellValue, format: string): string {
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'string') return value;
  switch (format) {
    case '0':
      return value.toFixed(0);
    case '0.00':
      return value.toFixed(2);
    case '#,##0':
      return grouped(value, 0);
    case '#,##0.00':
      return grouped(value, 2);
    case '0%':
      return `${(value * 100).toFixed(0)}%`;
    case '0.00%':
      return `${(value * 100).toFixed(2)}%`;
    default:
      return dateText(value, format) ?? general(value);
  }
}

/** A value a request may write into a cell: a string, a boolean, a finite number, or null (leave as is). */
export function isCellInput(value: unknown): value is CellValue | null {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}
