import type { RouteName } from './options.js';
import { type ItemTarget, parseItem, parseItemTarget } from './request-path.js';
import {
  type SessionRoute,
  type WorkbookPath,
  parseSessionRoute,
  parseWorkbookPath,
  routeNameOf,
} from './workbook-path.js';

/**
 * Which route a request takes, from its method and path alone (no data is looked at): `$batch`,
 * `GET {item}`, a session route, a workbook call with its parsed path, or none of these.
 */

/** What follows the item: nothing (`GET {item}`), a session route, or a workbook call. */
export type Target =
  | { readonly item: true; readonly session?: undefined; readonly path?: undefined }
  | { readonly item?: undefined; readonly session: SessionRoute; readonly path?: undefined }
  | { readonly item?: undefined; readonly session?: undefined; readonly path: WorkbookPath };

export interface RequestRoute {
  /** The drive item the path names; undefined for `$batch` and for paths that name none. */
  readonly target: ItemTarget | undefined;
  /** What the request asks of the item; undefined when `target` is. */
  readonly routed: Target | undefined;
  /** The name faults and counters use. */
  readonly name: RouteName;
  /** Set for `/{version}/$batch` (any method; only POST is served). */
  readonly batchVersion: string | undefined;
}

const BATCH = /^\/(v1\.0|beta)\/\$batch\/?$/i;

export function routeRequest(method: string, pathname: string): RequestRoute {
  const batch = BATCH.exec(pathname);
  if (batch !== null) return { target: undefined, routed: undefined, name: 'batch', batchVersion: batch[1] };
  const target = parseItemTarget(pathname);
  if (target === undefined) return { target, routed: undefined, name: 'other', batchVersion: undefined };
  const routed = targetOf(target.workbookPath);
  return { target, routed, name: routeNameOfTarget(routed, method), batchVersion: undefined };
}

/** Whether `routeRequest` would find anything to serve: a `$batch` or a drive item. */
export function isServedPath(pathname: string): boolean {
  return BATCH.test(pathname) || parseItemTarget(pathname) !== undefined;
}

function targetOf(workbookPath: string | undefined): Target {
  if (workbookPath === undefined) return { item: true };
  const session = parseSessionRoute(workbookPath);
  return session === undefined ? { path: parseWorkbookPath(workbookPath) } : { session };
}

function routeNameOfTarget(target: Target, method: string): RouteName {
  if (target.item === true) return 'item';
  if (target.session !== undefined) return target.session.name;
  return routeNameOf(target.path, method);
}

/** The segment Graph names for a path that is not a workbook call: the first one after the item, or the last. */
export function unknownSegment(pathname: string): string {
  const rest = pathname.replace(/^\/(?:v1\.0|beta)(?=\/)/, '');
  const item = parseItem(rest);
  const segments = (item === undefined ? rest : item.rest).split('/').filter((x) => x !== '');
  return decodeURIComponent((item === undefined ? segments.at(-1) : segments[0]) ?? '').replace(/\(.*$/s, '');
}
