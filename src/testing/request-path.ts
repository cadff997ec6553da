import type { RouteName } from './options.js';

/** Which drive holds an item: by id, or by a name standing for a drive (`/me/drive`, `/users/{u}/drive`, ...). */
export type DriveRef = { readonly kind: 'id'; readonly id: string } | { readonly kind: 'alias'; readonly alias: string };

/** The item on its drive: by id, or by its path from the drive's root (decoded, leading `/`). */
export type ItemRef = { readonly kind: 'id'; readonly id: string } | { readonly kind: 'path'; readonly path: string };

/** A drive-item path read: the drive, the item, and what follows it. */
export interface ParsedItem {
  /** The item as the request spelled it (still percent-encoded), for building URLs back to it. */
  readonly rawItem: string;
  /** The item in canonical form (decoded), as a key for the way it was named. */
  readonly item: string;
  readonly drive: DriveRef;
  readonly ref: ItemRef;
  /** What follows the item: `''`, or `/workbook...`. */
  readonly rest: string;
}

/** Where a request points: the drive item, and the route below its `/workbook` (none: the item itself). */
export interface WorkbookTarget {
  /** `v1.0` or `beta`. */
  readonly version: string;
  /** The item as the request spelled it (still percent-encoded), for building URLs back to it. */
  readonly rawItem: string;
  /** The item in canonical form, as a key for the way it was named. */
  readonly item: string;
  readonly drive: DriveRef;
  readonly ref: ItemRef;
  /** The path after `/workbook`, still encoded: `/createSession`, `/worksheets('Sheet1')/usedRange`, ... */
  readonly workbookPath: string;
}

/** A request for the drive item itself (`GET {item}`) or below its `/workbook`. */
export type ItemTarget = Omit<WorkbookTarget, 'workbookPath'> & { readonly workbookPath: string | undefined };

// The drives Graph names an item on, then the item by id or by path (docs: driveitem-get.md).
const ITEM_PATTERN =
  /^\/(?:(me)\/drive|users\/([^/]+)\/drive|drives\/([^/]+)|sites\/([^/]+)\/drives\/([^/]+)|sites\/([^/]+)\/drive|groups\/([^/]+)\/drive)(?:\/items\/([^/]+)|\/root:(\/[^:]+):)(?=\/|$)/;

/** decodeURIComponent that leaves a malformed escape as it is instead of throwing. */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Splits a drive-item path into its parts and the rest. `root:/a b.xlsx:` and `root:/a%20b.xlsx:`
 * give the same canonical item; which file it is, the service decides (one file has several names).
 */
export function parseItem(path: string): ParsedItem | undefined {
  const m = ITEM_PATTERN.exec(path);
  if (m === null) return undefined;
  const [whole, me, user, drive, site, siteDrive, siteOfDefault, group, id, rootPath] = m;
  const d = (s: string | undefined): string => safeDecode(s ?? '');
  let owner: string;
  let driveRef: DriveRef;
  if (me !== undefined) driveRef = { kind: 'alias', alias: (owner = '/me/drive') };
  else if (user !== undefined) driveRef = { kind: 'alias', alias: (owner = `/users/${d(user)}/drive`) };
  else if (group !== undefined) driveRef = { kind: 'alias', alias: (owner = `/groups/${d(group)}/drive`) };
  else if (siteOfDefault !== undefined) driveRef = { kind: 'alias', alias: (owner = `/sites/${d(siteOfDefault)}/drive`) };
  else if (siteDrive !== undefined) {
    owner = `/sites/${d(site)}/drives/${d(siteDrive)}`;
    driveRef = { kind: 'id', id: d(siteDrive) };
  } else {
    owner = `/drives/${d(drive)}`;
    driveRef = { kind: 'id', id: d(drive) };
  }
  const ref: ItemRef = id !== undefined ? { kind: 'id', id: d(id) } : { kind: 'path', path: d(rootPath) };
  const item = ref.kind === 'id' ? `${owner}/items/${ref.id}` : `${owner}/root:${ref.path}:`;
  return { rawItem: whole, item, drive: driveRef, ref, rest: path.slice(whole.length) };
}

/** Reads a request URL's path; undefined when it is neither `/{version}{item}` nor `/{version}{item}/workbook...`. */
export function parseItemTarget(pathname: string): ItemTarget | undefined {
  const v = /^\/(v1\.0|beta)(?=\/)/.exec(pathname);
  if (v === null) return undefined;
  const parsed = parseItem(pathname.slice(v[0].length));
  if (parsed === undefined) return undefined;
  const base = { version: v[1] ?? 'v1.0', rawItem: parsed.rawItem, item: parsed.item, drive: parsed.drive, ref: parsed.ref };
  if (parsed.rest === '' || parsed.rest === '/') return { ...base, workbookPath: undefined };
  const w = /^\/workbook(?=\/|$)/.exec(parsed.rest);
  if (w === null) return undefined;
  return { ...base, workbookPath: parsed.rest.slice(w[0].length).replace(/\/$/, '') };
}

/** Reads a request URL's path; undefined when it is not `/{version}{item}/workbook...`. */
export function parseWorkbookTarget(pathname: string): WorkbookTarget | undefined {
  const target = parseItemTarget(pathname);
  return target?.workbookPath === undefined ? undefined : { ...target, workbookPath: target.workbookPath };
}

export type Route =
  | { readonly name: 'item' }
  | { readonly name: 'createSession' | 'refreshSession' | 'closeSession' }
  | { readonly name: 'operation'; readonly operationId: string }
  | { readonly name: 'sessionInfo'; readonly key: string }
  | { readonly name: 'worksheets'; readonly sheet: string | undefined }
  | { readonly name: 'range'; readonly sheet: string; readonly address: string | undefined }
  | { readonly name: 'usedRange'; readonly sheet: string; readonly valuesOnly: boolean }
  | { readonly name: 'tableRows' | 'tableRowsAdd'; readonly sheet: string | undefined; readonly table: string }
  | { readonly name: 'other'; readonly segment: string };

interface Segment {
  readonly name: string;
  /** A single quoted argument: `worksheets('Sheet1')`. */
  readonly arg: string | undefined;
  /** Named arguments: `range(address='A1:B2')`. */
  readonly named: Readonly<Record<string, string>>;
}

function unquote(value: string): string {
  const m = /^'(.*)'$/s.exec(value.trim());
  return m === null ? value.trim() : (m[1] ?? '').replace(/''/g, "'");
}

function parseSegment(raw: string): Segment | undefined {
  const text = safeDecode(raw);
  const m = /^([A-Za-z][\w.]*)(?:\((.*)\))?$/s.exec(text);
  if (m === null) return undefined;
  const [, name = '', args] = m;
  if (args === undefined || args.trim() === '') return { name, arg: undefined, named: {} };
  const named: Record<string, string> = {};
  const pairs = /^\s*\w+\s*=/.test(args) ? args.split(/,(?=\s*\w+\s*=)/) : undefined;
  if (pairs === undefined) return { name, arg: unquote(args), named };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    named[pair.slice(0, eq).trim()] = unquote(pair.slice(eq + 1));
  }
  return { name, arg: undefined, named };
}

/** Which route a workbook path names. Names match case-insensitively, as Graph's do. */
export function parseRoute(workbookPath: string): Route {
  const raw = workbookPath.split('/').slice(1);
  const segments = raw.map(parseSegment);
  const other = (i: number): Route => ({ name: 'other', segment: safeDecode(raw[i] ?? '') });
  const at = (i: number): Segment | undefined => segments[i];
  const is = (i: number, name: string): boolean => at(i)?.name.toLowerCase() === name.toLowerCase();
  if (raw.length === 0) return { name: 'other', segment: 'workbook' };
  if (segments.length === 1 && (is(0, 'createSession') || is(0, 'refreshSession') || is(0, 'closeSession'))) {
    return { name: at(0)?.name.toLowerCase() === 'createsession' ? 'createSession' : is(0, 'refreshSession') ? 'refreshSession' : 'closeSession' };
  }
  if (is(0, 'operations')) {
    const id = at(0)?.arg ?? (segments.length === 2 ? safeDecode(raw[1] ?? '') : undefined);
    const expected = at(0)?.arg !== undefined ? 1 : 2;
    return id !== undefined && id !== '' && segments.length === expected ? { name: 'operation', operationId: id } : other(0);
  }
  if (is(0, 'sessionInfoResource') && segments.length === 1) {
    const key = at(0)?.named['key'] ?? at(0)?.arg;
    return key === undefined ? other(0) : { name: 'sessionInfo', key };
  }
  let i = 0;
  let sheet: string | undefined;
  if (is(0, 'worksheets')) {
    sheet = at(0)?.arg;
    i = 1;
    if (sheet === undefined && segments.length > 1) {
      // The key form without parentheses: worksheets/Sheet1/range(...).
      sheet = safeDecode(raw[1] ?? '');
      i = 2;
    }
    if (i >= segments.length) return { name: 'worksheets', sheet };
    if (sheet === undefined) return other(i);
    if (segments.length === i + 1 && is(i, 'range')) {
      return { name: 'range', sheet, address: at(i)?.named['address'] ?? at(i)?.arg };
    }
    if (segments.length === i + 1 && is(i, 'usedRange')) {
      return { name: 'usedRange', sheet, valuesOnly: (at(i)?.named['valuesOnly'] ?? at(i)?.arg) === 'true' };
    }
    if (!is(i, 'tables')) return other(i);
  }
  if (is(i, 'tables')) {
    let table = at(i)?.arg;
    let next = i + 1;
    if (table === undefined) {
      table = raw[i + 1] === undefined ? undefined : safeDecode(raw[i + 1] ?? '');
      next = i + 2;
    }
    if (table === undefined || !is(next, 'rows') || at(next)?.arg !== undefined) return other(next);
    if (segments.length === next + 1) return { name: 'tableRows', sheet, table };
    if (segments.length === next + 2 && is(next + 1, 'add')) return { name: 'tableRowsAdd', sheet, table };
    return other(next + 1);
  }
  return other(0);
}

export function routeName(route: Route): RouteName {
  return route.name;
}
