import type { RouteName } from './options.js';
import { safeDecode } from './request-path.js';

/**
 * Reads the path below `/workbook` into steps (worksheets -> worksheet -> range -> usedRange ...),
 * without looking at any data: `workbook-routes.ts` resolves the steps against a workbook. Names
 * match case-insensitively, as Graph's do. A segment Graph serves but the emulator does not gives a
 * `notImplemented` step; a segment Graph does not know gives `unknown`, naming it.
 */

export type Step =
  | { readonly t: 'worksheets' }
  | { readonly t: 'worksheet'; readonly key: string }
  | { readonly t: 'range'; readonly address: string | undefined }
  | { readonly t: 'usedRange'; readonly valuesOnly: boolean; readonly sheetLevel: boolean }
  | { readonly t: 'cell'; readonly row: number; readonly column: number }
  | { readonly t: 'rangeNav'; readonly name: RangeNav; readonly args: readonly number[] }
  | { readonly t: 'worksheetOf' }
  | { readonly t: 'tables' }
  | { readonly t: 'table'; readonly key: string }
  /** The range of what the path names so far: a table, a table row or column, or a named item. */
  | { readonly t: 'ownRange'; readonly which: 'range' | 'dataBodyRange' | 'headerRowRange' }
  | { readonly t: 'rows' }
  | { readonly t: 'row'; readonly index: number }
  | { readonly t: 'rowsAdd' }
  | { readonly t: 'columns' }
  | { readonly t: 'column'; readonly key: string }
  | { readonly t: 'columnAt'; readonly index: number }
  | { readonly t: 'names' }
  | { readonly t: 'name'; readonly key: string }
  | { readonly t: 'application' }
  | { readonly t: 'calculate' }
  | { readonly t: 'function'; readonly name: string };

export type RangeNav =
  | 'row'
  | 'column'
  | 'entireRow'
  | 'entireColumn'
  | 'lastCell'
  | 'lastRow'
  | 'lastColumn'
  | 'offsetRange'
  | 'resizedRange';

/** What a path names once its steps are taken: decides the methods, the handler and the route name. */
export type Kind =
  | 'workbook'
  | 'worksheets'
  | 'worksheet'
  | 'range'
  | 'tables'
  | 'table'
  | 'rows'
  | 'row'
  | 'rowsAdd'
  | 'columns'
  | 'column'
  | 'names'
  | 'name'
  | 'application'
  | 'calculate'
  | 'functions'
  | 'function';

export type WorkbookPath =
  | { readonly ok: true; readonly kind: Kind; readonly steps: readonly Step[]; readonly usedRange: boolean }
  | {
      readonly ok: false;
      readonly problem: 'unknown' | 'notImplemented' | 'arguments';
      readonly segment: string;
      readonly parent: Kind;
    };

interface Segment {
  readonly raw: string;
  readonly name: string;
  /** Whether the segment had parentheses: `range()` is the call with no address. */
  readonly called: boolean;
  /** A single argument: `worksheets('Sheet1')`. */
  readonly arg: string | undefined;
  /** Named arguments: `range(address='A1:B2')`. */
  readonly named: Readonly<Record<string, string>>;
}

function unquote(value: string): string {
  const m = /^'(.*)'$/s.exec(value.trim());
  return m === null ? value.trim() : (m[1] ?? '').replace(/''/g, "'");
}

export function parseSegment(raw: string): Segment {
  const text = safeDecode(raw);
  const m = /^([A-Za-z$][\w.]*)\((.*)\)$/s.exec(text);
  if (m === null) return { raw: text, name: text, called: false, arg: undefined, named: {} };
  const [, name = '', args = ''] = m;
  if (args.trim() === '') return { raw: text, name, called: true, arg: undefined, named: {} };
  const named: Record<string, string> = {};
  if (!/^\s*\w+\s*=/.test(args)) return { raw: text, name, called: true, arg: unquote(args), named };
  for (const pair of args.split(/,(?=\s*\w+\s*=)/)) {
    const eq = pair.indexOf('=');
    named[pair.slice(0, eq).trim().toLowerCase()] = unquote(pair.slice(eq + 1));
  }
  return { raw: text, name, called: true, arg: undefined, named };
}

/**
 * A session route below `/workbook`: createSession, refreshSession, closeSession, an operation, a
 * session-info resource.
 */
export type SessionRoute =
  | { readonly name: 'createSession' | 'refreshSession' | 'closeSession' }
  | { readonly name: 'operation'; readonly operationId: string }
  | { readonly name: 'sessionInfo'; readonly key: string };

const SESSION_ACTIONS: Readonly<Record<string, 'createSession' | 'refreshSession' | 'closeSession'>> = {
  createsession: 'createSession',
  refreshsession: 'refreshSession',
  closesession: 'closeSession',
};

/**
 * The session route a workbook path names (`/createSession`, `/operations/{id}`,
 * `/sessionInfoResource(key='...')`), or undefined for a workbook call. Names match case-insensitively.
 */
export function parseSessionRoute(workbookPath: string): SessionRoute | undefined {
  const segments = workbookPath.split('/').slice(1).map(parseSegment);
  const first = segments[0];
  if (first === undefined) return undefined;
  const name = first.name.toLowerCase();
  // Own keys only: a name such as `constructor` is not an action.
  const action = Object.hasOwn(SESSION_ACTIONS, name) ? SESSION_ACTIONS[name] : undefined;
  if (action !== undefined) return segments.length === 1 ? { name: action } : undefined;
  if (name === 'operations') {
    // `operations('{id}')` or `operations/{id}`.
    const id = first.arg ?? (segments.length === 2 ? segments[1]?.raw : undefined);
    const expected = first.arg !== undefined ? 1 : 2;
    return id !== undefined && id !== '' && segments.length === expected
      ? { name: 'operation', operationId: id }
      : undefined;
  }
  if (name === 'sessioninforesource' && segments.length === 1) {
    const key = first.named['key'] ?? first.arg;
    return key === undefined ? undefined : { name: 'sessionInfo', key };
  }
  return undefined;
}

/** Navigation properties and actions Graph has (v1.0 resource pages) that the emulator does not serve. */
const NOT_IMPLEMENTED: Readonly<Partial<Record<Kind, readonly string[]>>> = {
  workbook: ['comments', 'tableRowOperationResult'],
  worksheets: ['add'],
  worksheet: ['charts', 'pivotTables', 'protection'],
  range: [
    'format',
    'sort',
    'boundingRect',
    'intersection',
    'columnsAfter',
    'columnsBefore',
    'rowsAbove',
    'rowsBelow',
    'visibleView',
    'clear',
    'delete',
    'insert',
    'merge',
    'unmerge',
  ],
  tables: ['add', 'itemAt', 'count'],
  table: ['sort', 'clearFilters', 'reapplyFilters', 'convertToRange', 'totalRowRange'],
  rows: ['count'],
  columns: ['add', 'count'],
  column: ['filter', 'totalRowRange'],
  names: ['add', 'addFormulaLocal'],
  name: ['worksheet'],
};

const RANGE_NAV: Readonly<Record<string, { name: RangeNav; args: readonly string[] }>> = {
  row: { name: 'row', args: ['row'] },
  column: { name: 'column', args: ['column'] },
  entirerow: { name: 'entireRow', args: [] },
  entirecolumn: { name: 'entireColumn', args: [] },
  lastcell: { name: 'lastCell', args: [] },
  lastrow: { name: 'lastRow', args: [] },
  lastcolumn: { name: 'lastColumn', args: [] },
  offsetrange: { name: 'offsetRange', args: ['rowoffset', 'columnoffset'] },
  resizedrange: { name: 'resizedRange', args: ['deltarows', 'deltacolumns'] },
};

/**
 * Whether a function segment's arguments are its parameters: named (OData has no positional function
 * arguments), none it does not take, every required one given. A misspelt one is refused, never dropped:
 * `range(adress='A1')` must not answer the whole sheet.
 */
function argsFit(segment: Segment, params: readonly string[], required: readonly string[] = params): boolean {
  if (segment.arg !== undefined) return false;
  return (
    Object.keys(segment.named).every((k) => params.includes(k)) && required.every((k) => segment.named[k] !== undefined)
  );
}

/** `usedRange(valuesOnly=true|false)`, or no argument; undefined for anything else. */
function valuesOnlyOf(segment: Segment): boolean | undefined {
  if (!argsFit(segment, ['valuesonly'], [])) return undefined;
  const text = (segment.named['valuesonly'] ?? 'false').trim().toLowerCase();
  return text === 'true' ? true : text === 'false' ? false : undefined;
}

function integers(segment: Segment, names: readonly string[]): number[] | undefined {
  if (!argsFit(segment, names)) return undefined;
  const out: number[] = [];
  for (const name of names) {
    const text = segment.named[name];
    if (text === undefined || !/^-?\d{1,8}$/.test(text.trim())) return undefined;
    out.push(Number(text));
  }
  return out;
}

/** The key after a collection: `worksheets('Sheet1')` or `worksheets/Sheet1`. */
function keyOf(segment: Segment): string | undefined {
  return segment.arg;
}

/** Where one segment leads from what the path names so far: the kind it names and the steps it adds, or a refusal. */
type Move =
  { readonly to: Kind; readonly steps: readonly Step[]; readonly usedRange?: boolean } | 'unknown' | 'arguments';

export function parseWorkbookPath(path: string): WorkbookPath {
  const segments = path.split('/').slice(1).map(parseSegment);
  const steps: Step[] = [];
  let kind = 'workbook' as Kind;
  let usedRange = false;
  for (const s of segments) {
    const move = moveFrom(kind, s, s.name.toLowerCase());
    if (move === 'arguments') return { ok: false, problem: 'arguments', segment: s.raw, parent: kind };
    if (move === 'unknown') return unknownSegment(kind, s);
    steps.push(...move.steps);
    kind = move.to;
    usedRange = move.usedRange === true;
  }
  return { ok: true, kind, steps, usedRange };
}

/** A segment the emulator does not take after `kind`: one Graph serves and the emulator does not, or none. */
function unknownSegment(kind: Kind, s: Segment): WorkbookPath {
  const listed = notImplemented(kind, s.name.toLowerCase());
  return { ok: false, problem: listed ? 'notImplemented' : 'unknown', segment: s.name, parent: kind };
}

function notImplemented(kind: Kind, lower: string): boolean {
  return NOT_IMPLEMENTED[kind]?.some((n) => n.toLowerCase() === lower) === true;
}

function moveFrom(kind: Kind, s: Segment, lower: string): Move {
  switch (kind) {
    case 'workbook':
      return fromWorkbook(s, lower);
    case 'worksheets':
    case 'tables':
    case 'names':
      return notImplemented(kind, lower) ? 'unknown' : to(ITEM_OF[kind], { t: ITEM_OF[kind], key: s.raw });
    case 'worksheet':
      return fromWorksheet(s, lower);
    case 'range':
      return fromRange(s, lower);
    case 'table':
      return fromTable(s, lower);
    case 'rows':
      return fromRows(s, lower);
    case 'row':
    case 'name':
      return lower === 'range' && !s.called ? to('range', { t: 'ownRange', which: 'range' }) : 'unknown';
    case 'columns':
      return fromColumns(s, lower);
    case 'column':
      return ownRange(s, lower);
    case 'application':
      return lower === 'calculate' && !s.called ? to('calculate', { t: 'calculate' }) : 'unknown';
    case 'functions':
      return !s.called && /^[A-Za-z][\w.]*$/.test(s.raw) ? to('function', { t: 'function', name: s.raw }) : 'unknown';
    default:
      return 'unknown';
  }
}

function to(kind: Kind, ...steps: Step[]): Move {
  return { to: kind, steps };
}

type Collection = 'worksheets' | 'tables' | 'names';

const ITEM_OF = { worksheets: 'worksheet', tables: 'table', names: 'name' } as const;

/** A collection, or the item its key names: `worksheets` or `worksheets('Sheet1')`. */
function collection(name: Collection, key: string | undefined): Move {
  if (key === undefined) return to(name, { t: name });
  return to(ITEM_OF[name], { t: name }, { t: ITEM_OF[name], key });
}

function fromWorkbook(s: Segment, lower: string): Move {
  if (lower === 'worksheets' || lower === 'tables' || lower === 'names') return collection(lower, s.arg);
  if (lower === 'application' && !s.called) return to('application', { t: 'application' });
  if (lower === 'functions' && !s.called) return to('functions');
  return 'unknown';
}

function fromWorksheet(s: Segment, lower: string): Move {
  if (lower === 'range') {
    return argsFit(s, ['address'], []) ? to('range', { t: 'range', address: s.named['address'] }) : 'arguments';
  }
  if (lower === 'usedrange') {
    const valuesOnly = valuesOnlyOf(s);
    if (valuesOnly === undefined) return 'arguments';
    const steps: Step[] = [
      { t: 'range', address: undefined },
      { t: 'usedRange', valuesOnly, sheetLevel: true },
    ];
    return { to: 'range', steps, usedRange: true };
  }
  if (lower === 'cell' && s.called) {
    const cell = cellOf(s);
    return cell === undefined ? 'arguments' : to('range', { t: 'range', address: undefined }, cell);
  }
  if (lower === 'tables' || lower === 'names') return collection(lower, keyOf(s));
  return 'unknown';
}

function fromRange(s: Segment, lower: string): Move {
  if (lower === 'usedrange') {
    const valuesOnly = valuesOnlyOf(s);
    if (valuesOnly === undefined) return 'arguments';
    return { to: 'range', steps: [{ t: 'usedRange', valuesOnly, sheetLevel: false }], usedRange: true };
  }
  if (lower === 'cell' && s.called) {
    const cell = cellOf(s);
    return cell === undefined ? 'arguments' : to('range', cell);
  }
  if (lower === 'worksheet' && !s.called) return to('worksheet', { t: 'worksheetOf' });
  const nav = Object.hasOwn(RANGE_NAV, lower) ? RANGE_NAV[lower] : undefined;
  if (nav !== undefined) {
    const args = integers(s, nav.args);
    return args === undefined ? 'arguments' : to('range', { t: 'rangeNav', name: nav.name, args });
  }
  return 'unknown';
}

/** `cell(row=..., column=...)`; undefined when the arguments do not fit. */
function cellOf(s: Segment): Step | undefined {
  const args = integers(s, ['row', 'column']);
  return args === undefined ? undefined : { t: 'cell', row: args[0] ?? 0, column: args[1] ?? 0 };
}

function fromTable(s: Segment, lower: string): Move {
  if (lower === 'rows' && !s.called) return to('rows', { t: 'rows' });
  if (lower === 'columns') {
    return s.arg === undefined
      ? to('columns', { t: 'columns' })
      : to('column', { t: 'columns' }, { t: 'column', key: s.arg });
  }
  if (lower === 'worksheet' && !s.called) return to('worksheet', { t: 'worksheetOf' });
  return ownRange(s, lower);
}

/** `range`, `dataBodyRange` or `headerRowRange` of a table or a table column. */
function ownRange(s: Segment, lower: string): Move {
  const which =
    lower === 'range'
      ? 'range'
      : lower === 'databodyrange'
        ? 'dataBodyRange'
        : lower === 'headerrowrange'
          ? 'headerRowRange'
          : undefined;
  if (which === undefined) return 'unknown';
  return argsFit(s, []) ? to('range', { t: 'ownRange', which }) : 'arguments';
}

function fromRows(s: Segment, lower: string): Move {
  if (lower === 'add' && !s.called) return to('rowsAdd', { t: 'rowsAdd' });
  if (lower === 'itemat' && s.called) {
    const index = indexOf(s);
    return index === undefined ? 'arguments' : to('row', { t: 'row', index });
  }
  if (/^\d{1,8}$/.test(s.raw)) return to('row', { t: 'row', index: Number(s.raw) });
  return 'unknown';
}

function fromColumns(s: Segment, lower: string): Move {
  if (lower === 'itemat' && s.called) {
    const index = indexOf(s);
    return index === undefined ? 'arguments' : to('column', { t: 'columnAt', index });
  }
  if (notImplemented('columns', lower)) return 'unknown';
  return to('column', { t: 'column', key: s.raw });
}

/** `itemAt(index=...)`; undefined when the arguments do not fit. */
function indexOf(s: Segment): number | undefined {
  const args = integers(s, ['index']);
  return args === undefined ? undefined : (args[0] ?? 0);
}

/** The route name faults and counters use for a parsed path and method. */
export function routeNameOf(path: WorkbookPath, method: string): RouteName {
  if (!path.ok) return 'other';
  switch (path.kind) {
    case 'worksheets':
    case 'worksheet':
      return 'worksheets';
    case 'range':
      return path.usedRange ? 'usedRange' : 'range';
    case 'rows':
      return method.toUpperCase() === 'POST' ? 'tableRowsAdd' : 'tableRows';
    case 'rowsAdd':
      return 'tableRowsAdd';
    case 'row':
      return 'tableRows';
    case 'tables':
    case 'table':
    case 'columns':
    case 'column':
      return 'tables';
    case 'names':
    case 'name':
      return 'names';
    case 'application':
    case 'calculate':
    case 'functions':
    case 'function':
      return 'application';
    default:
      return 'other';
  }
}
