import { GraphRequestError } from '../errors.js';
import { shortId } from '../util/ids.js';
import { printable } from '../util/redact.js';

/**
 * What spans and metrics may say about a request or a workbook: shapes, codes and shortened ids,
 * never a session id, a token or a whole item id (a telemetry backend is read by more people than
 * the logs, and keeps what it gets).
 */

// Path segments whose next segment is an id or a name: drive items and the workbook's collections.
const COLLECTIONS = new Set([
  'drives',
  'items',
  'sites',
  'users',
  'groups',
  'worksheets',
  'tables',
  'names',
  'charts',
  'rows',
  'columns',
  'comments',
  'replies',
  'pivotTables',
  'series',
  'points',
  'operations',
  'sessions',
]);
// What may follow a collection and is not one of its members.
const ACTIONS = new Set(['add', 'count', '$count', 'delta']);
// A segment that names a route rather than a thing: `workbook`, `usedRange`, `microsoft.graph.x`, `$value`.
const ROUTE_WORD = /^(?:[a-z][A-Za-z]*(?:\.[A-Za-z]+)*|\$[a-z]+)$/;
// A function-like segment: `range(address='A1')`, `worksheets('Sheet1')`, `itemAt(index=2)`.
const CALL = /^([A-Za-z][\w.]*)\((.*)\)$/s;
const NAMED_ARGUMENT = /([A-Za-z]\w*)\s*=\s*(?:'(?:[^']|'')*'|[^,)]*)/g;
// A root path (`/root:/Reports/Q1.xlsx:`) names the file by its path, slashes included.
const ROOT_PATH = /\/root:\/[^:]*:/;
// The id segments of a workbook reference.
const ID_SEGMENT = /\/(drives|items|sites|users|groups)\/([^/]+)/g;
// Workbooks shortened, as each request's lane metrics ask again (a regex pass costs microseconds);
// emptied when it reaches CACHED_WORKBOOKS, so an application with many workbooks keeps no more.
const shortened = new Map<string, string>();
const CACHED_WORKBOOKS = 1024;

/**
 * A request path as a template, one per route: ids and names replaced by `{id}`, arguments by their
 * name (`/me/drive/items/{id}/workbook/worksheets/{id}/range(address={address})`). The query is left out.
 */
export function pathTemplate(path: string): string {
  const bare = path.split('?', 1)[0] ?? '';
  const segments = bare.replace(ROOT_PATH, '/root:{path}:').split('/');
  let previous = '';
  const out = segments.map((segment, index) => {
    if (index === 0 || segment === '' || segment === 'root:{path}:') return segment;
    const call = CALL.exec(segment);
    const name = call?.[1] ?? segment;
    let templated: string;
    if (call !== null) templated = `${name}(${templateArguments(call[2] ?? '')})`;
    else if (COLLECTIONS.has(previous)) templated = ACTIONS.has(segment) ? segment : '{id}';
    else templated = ROUTE_WORD.test(segment) ? segment : '{id}';
    previous = call === null ? segment : '';
    return templated;
  });
  return out.join('/');
}

function templateArguments(text: string): string {
  if (text.trim() === '') return '';
  // A bare key (`worksheets('Sheet1')`) is an id; named arguments keep their names.
  return text.includes('=') ? text.replace(NAMED_ARGUMENT, (_, key: string) => `${key}={${key}}`) : '{id}';
}

/**
 * A workbook reference with its ids shortened (`/drives/b!AbCd…WxYz/items/01ABCD…WXYZ`), as the
 * handle's events show sessions; a root path's file path is kept (cut to 200 characters).
 */
export function shortWorkbook(workbook: string): string {
  let short = shortened.get(workbook);
  if (short === undefined) {
    short = printable(
      workbook.replace(ID_SEGMENT, (_, kind: string, id: string) => `/${kind}/${shortId(id)}`),
      200,
    );
    if (shortened.size >= CACHED_WORKBOOKS) shortened.clear();
    shortened.set(workbook, short);
  }
  return short;
}

/**
 * `error.type`, as OpenTelemetry's conventions have it: a Graph failure's status (`429`), or its
 * kind when no answer came (`network`, `client`, ...); another error's name (`AbortError`).
 */
export function errorType(error: unknown): string {
  if (error instanceof GraphRequestError) return error.status === undefined ? error.kind : String(error.status);
  if (error instanceof Error) return printable(error.name, 64);
  return '_OTHER';
}
