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
  const action = SESSION_ACTIONS[name];
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

export function parseWorkbookPath(path: string): WorkbookPath {
  const segments = path.split('/').slice(1).map(parseSegment);
  const steps: Step[] = [];
  let kind = 'workbook' as Kind;
  let usedRange = false;
  for (let i = 0; i < segments.length;) {
    const s = segments[i] as Segment;
    const lower = s.name.toLowerCase();
    const unknown = (): WorkbookPath => {
      const listed = NOT_IMPLEMENTED[kind]?.some((n) => n.toLowerCase() === lower) === true;
      return { ok: false, problem: listed ? 'notImplemented' : 'unknown', segment: s.name, parent: kind };
    };
    const badArguments = (): WorkbookPath => ({ ok: false, problem: 'arguments', segment: s.raw, parent: kind });
    const go = (to: Kind, step: Step | undefined, used = 1): void => {
      if (step !== undefined) steps.push(step);
      kind = to;
      i += used;
    };
    usedRange = false;
    switch (kind) {
      case 'workbook':
        if (lower === 'worksheets' || lower === 'tables' || lower === 'names') {
          const key = s.arg;
          const collection = lower as 'worksheets' | 'tables' | 'names';
          steps.push({ t: collection });
          if (key !== undefined) {
            const item = collection === 'worksheets' ? 'worksheet' : collection === 'tables' ? 'table' : 'name';
            go(
              item,
              item === 'worksheet'
                ? { t: 'worksheet', key }
                : item === 'table'
                  ? { t: 'table', key }
                  : { t: 'name', key },
            );
          } else go(collection, undefined);
        } else if (lower === 'application' && !s.called) go('application', { t: 'application' });
        else if (lower === 'functions' && !s.called) go('functions', undefined);
        else return unknown();
        break;
      case 'worksheets':
      case 'tables':
      case 'names': {
        if (NOT_IMPLEMENTED[kind]?.some((n) => n.toLowerCase() === lower) === true) return unknown();
        const item = kind === 'worksheets' ? 'worksheet' : kind === 'tables' ? 'table' : 'name';
        go(
          item,
          item === 'worksheet'
            ? { t: 'worksheet', key: s.raw }
            : item === 'table'
              ? { t: 'table', key: s.raw }
              : { t: 'name', key: s.raw },
        );
        break;
      }
      case 'worksheet':
        if (lower === 'range') {
          if (!argsFit(s, ['address'], [])) return badArguments();
          go('range', { t: 'range', address: s.named['address'] });
        } else if (lower === 'usedrange') {
          const valuesOnly = valuesOnlyOf(s);
          if (valuesOnly === undefined) return badArguments();
          go('range', { t: 'range', address: undefined });
          steps.push({ t: 'usedRange', valuesOnly, sheetLevel: true });
          usedRange = true;
        } else if (lower === 'cell' && s.called) {
          const args = integers(s, ['row', 'column']);
          if (args === undefined) return badArguments();
          steps.push({ t: 'range', address: undefined });
          go('range', { t: 'cell', row: args[0] ?? 0, column: args[1] ?? 0 });
        } else if (lower === 'tables' || lower === 'names') {
          const key = keyOf(s);
          steps.push({ t: lower });
          if (key === undefined) go(lower, undefined);
          else go(lower === 'tables' ? 'table' : 'name', lower === 'tables' ? { t: 'table', key } : { t: 'name', key });
        } else return unknown();
        break;
      case 'range': {
        if (lower === 'usedrange') {
          const valuesOnly = valuesOnlyOf(s);
          if (valuesOnly === undefined) return badArguments();
          go('range', { t: 'usedRange', valuesOnly, sheetLevel: false });
          usedRange = true;
        } else if (lower === 'cell' && s.called) {
          const args = integers(s, ['row', 'column']);
          if (args === undefined) return badArguments();
          go('range', { t: 'cell', row: args[0] ?? 0, column: args[1] ?? 0 });
        } else if (lower === 'worksheet' && !s.called) go('worksheet', { t: 'worksheetOf' });
        else if (RANGE_NAV[lower] !== undefined) {
          const nav = RANGE_NAV[lower];
          const args = integers(s, nav.args);
          if (args === undefined) return badArguments();
          go('range', { t: 'rangeNav', name: nav.name, args });
        } else return unknown();
        break;
      }
      case 'table':
        if (lower === 'rows' && !s.called) go('rows', { t: 'rows' });
        else if (lower === 'columns') {
          steps.push({ t: 'columns' });
          if (s.arg !== undefined) go('column', { t: 'column', key: s.arg });
          else go('columns', undefined);
        } else if (lower === 'range' || lower === 'databodyrange' || lower === 'headerrowrange') {
          if (!argsFit(s, [])) return badArguments();
          go('range', {
            t: 'ownRange',
            which: lower === 'range' ? 'range' : lower === 'databodyrange' ? 'dataBodyRange' : 'headerRowRange',
          });
        } else if (lower === 'worksheet' && !s.called) go('worksheet', { t: 'worksheetOf' });
        else return unknown();
        break;
      case 'rows':
        if (lower === 'add' && !s.called) go('rowsAdd', { t: 'rowsAdd' });
        else if (lower === 'itemat' && s.called) {
          const args = integers(s, ['index']);
          if (args === undefined) return badArguments();
          go('row', { t: 'row', index: args[0] ?? 0 });
        } else if (/^\d{1,8}$/.test(s.raw)) go('row', { t: 'row', index: Number(s.raw) });
        else return unknown();
        break;
      case 'row':
        if (lower === 'range' && !s.called) go('range', { t: 'ownRange', which: 'range' });
        else return unknown();
        break;
      case 'columns':
        if (lower === 'itemat' && s.called) {
          const args = integers(s, ['index']);
          if (args === undefined) return badArguments();
          go('column', { t: 'columnAt', index: args[0] ?? 0 });
        } else if (NOT_IMPLEMENTED.columns?.some((n) => n.toLowerCase() === lower) === true) return unknown();
        else go('column', { t: 'column', key: s.raw });
        break;
      case 'column':
        if (lower === 'range' || lower === 'databodyrange' || lower === 'headerrowrange') {
          if (!argsFit(s, [])) return badArguments();
          go('range', {
            t: 'ownRange',
            which: lower === 'range' ? 'range' : lower === 'databodyrange' ? 'dataBodyRange' : 'headerRowRange',
          });
        } else return unknown();
        break;
      case 'name':
        if (lower === 'range' && !s.called) go('range', { t: 'ownRange', which: 'range' });
        else return unknown();
        break;
      case 'application':
        if (lower === 'calculate' && !s.called) go('calculate', { t: 'calculate' });
        else return unknown();
        break;
      case 'functions':
        if (!s.called && /^[A-Za-z][\w.]*$/.test(s.raw)) go('function', { t: 'function', name: s.raw });
        else return unknown();
        break;
      default:
        return unknown();
    }
  }
  return { ok: true, kind, steps, usedRange };
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
