import { GENERAL, type CellValue, coerceInput, isCellInput } from './cell-format.js';
import { invalidArgument, noSuchProperty, notImplemented, unknownParameter } from './error-answers.js';
import { type AnswerContext, entity } from './odata.js';
import { parseRangeAddress, unboundedOf } from './range-address.js';
import { type ReplyContext, json } from './responses.js';
import type { TableData, WorkbookData } from './workbook-model.js';
import { findSheet } from './workbook-resolve.js';

/** The workbook's actions (POST): adding table rows, calculate, and a few worksheet functions. */

/** Create TableRow (table-post-rows.md, and tablerowcollection-add.md): `values` rows, optional `index`. */
export function addRows(
  actx: AnswerContext,
  table: TableData,
  body: unknown,
  how: { status: number; valuesOptional: boolean },
): Response {
  const ctx = actx.reply;
  const given = body ?? (how.valuesOptional ? {} : undefined);
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    return invalidArgument(ctx, 'The request body must be a JSON object with `values`.');
  for (const key of Object.keys(given)) {
    if (!key.startsWith('@odata.') && key !== 'values' && key !== 'index')
      return noSuchProperty(ctx, key, 'workbookTableRow');
  }
  const width = table.columns.length;
  const { index } = given as { index?: unknown };
  let { values } = given as { values?: unknown };
  if ((values === undefined || values === null) && how.valuesOptional)
    values = [Array.from({ length: width }, () => '')];
  if (!Array.isArray(values) || values.length === 0)
    return invalidArgument(ctx, '`values` must be a non-empty array of rows.');
  for (const row of values as unknown[]) {
    if (!Array.isArray(row) || row.length !== width)
      return invalidArgument(ctx, `Every row of \`values\` must have ${width} values.`);
    if (!row.every(isCellInput)) return invalidArgument(ctx, 'Cell values must be strings, numbers, booleans or null.');
    if (row.some((v) => typeof v === 'string' && v.startsWith('=') && v.length > 1))
      return notImplemented(ctx, 'formulas in table rows (table rows hold values only)');
  }
  if (
    index !== undefined &&
    index !== null &&
    (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > table.rows.length)
  ) {
    return invalidArgument(ctx, `\`index\` must be an integer from 0 to ${table.rows.length}, or null.`);
  }
  const at = typeof index === 'number' ? index : table.rows.length;
  const rows = (values as (CellValue | null)[][]).map((row) => row.map((v) => coerceInput(v ?? '', GENERAL).value));
  table.rows.splice(at, 0, ...rows);
  return entity(actx, how.status, 'workbookTableRow', { index: at, values: rows.map((row) => [...row]) });
}

export function calculate(ctx: ReplyContext, body: unknown): Response {
  const unknown = unknownParameter(ctx, body, ['calculationType'], 'calculate');
  if (unknown !== undefined) return unknown;
  const type = (body as { calculationType?: unknown } | null | undefined)?.calculationType;
  if (type !== 'Recalculate' && type !== 'Full' && type !== 'FullRebuild') {
    return invalidArgument(ctx, '`calculationType` must be one of Recalculate, Full, FullRebuild.');
  }
  // Formulas are stored, not evaluated, so there is nothing to recalculate; Graph answers 200 with no body.
  const headers = json(ctx, 200, {}).headers;
  headers.delete('content-type');
  return new Response(null, { status: 200, headers });
}

/** Numbers a function argument holds: numbers, arrays of them, or `{ address }` range references. */
function numbersOf(data: WorkbookData, arg: unknown, out: number[]): string | undefined {
  if (typeof arg === 'number') out.push(arg);
  else if (Array.isArray(arg)) {
    for (const v of arg) {
      const problem = numbersOf(data, v, out);
      if (problem !== undefined) return problem;
    }
  } else if (typeof arg === 'object' && arg !== null && typeof (arg as { address?: unknown }).address === 'string') {
    const address = (arg as { address: string }).address;
    const parsed = parseRangeAddress(address);
    const sheet = parsed?.sheet === undefined ? undefined : findSheet(data, parsed.sheet);
    if (parsed === undefined || sheet === undefined || unboundedOf(parsed.rect) !== undefined)
      return `The range reference ${JSON.stringify(address)} must name a sheet and bounded cells.`;
    for (const row of data.read(sheet, parsed.rect)) for (const v of row) if (typeof v === 'number') out.push(v);
  } else if (arg !== null && arg !== undefined && typeof arg !== 'string' && typeof arg !== 'boolean')
    return 'Function arguments must be numbers, arrays or range references.';
  return undefined;
}

const FUNCTIONS: Readonly<Record<string, (n: number[]) => number | string>> = {
  sum: (n) => n.reduce((a, b) => a + b, 0),
  average: (n) => (n.length === 0 ? '#DIV/0!' : n.reduce((a, b) => a + b, 0) / n.length),
  min: (n) => (n.length === 0 ? 0 : Math.min(...n)),
  max: (n) => (n.length === 0 ? 0 : Math.max(...n)),
  count: (n) => n.length,
  product: (n) => (n.length === 0 ? 0 : n.reduce((a, b) => a * b, 1)),
  abs: (n) => (n.length === 1 ? Math.abs(n[0] ?? 0) : '#VALUE!'),
};

/** `functions/{name}`: a few common ones; `values` (or `number` for abs) as the argument. */
export function callFunction(actx: AnswerContext, data: WorkbookData, name: string, body: unknown): Response {
  const fn = FUNCTIONS[name.toLowerCase()];
  if (fn === undefined)
    return notImplemented(actx.reply, `the workbook function ${name} (served: ${Object.keys(FUNCTIONS).join(', ')})`);
  const args =
    typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const expected = name.toLowerCase() === 'abs' ? 'number' : 'values';
  for (const key of Object.keys(args))
    if (key !== expected)
      return notImplemented(actx.reply, `the argument \`${key}\` of ${name} (it takes \`${expected}\`)`);
  const numbers: number[] = [];
  const problem = numbersOf(data, args[expected], numbers);
  if (problem !== undefined) return invalidArgument(actx.reply, problem);
  const result = fn(numbers);
  const error = typeof result === 'string' ? result : null;
  return entity(actx, 200, 'workbookFunctionResult', { error, value: error === null ? result : null });
}
