/** Which drive holds an item: by id, or by a name standing for a drive (`/me/drive`, `/users/{u}/drive`, ...). */
export type DriveRef =
  { readonly kind: 'id'; readonly id: string } | { readonly kind: 'alias'; readonly alias: string };

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
const DRIVE_PATTERN = [
  '(me)\\/drive',
  'users\\/([^/]+)\\/drive',
  'drives\\/([^/]+)',
  'sites\\/([^/]+)\\/drives\\/([^/]+)',
  'sites\\/([^/]+)\\/drive',
  'groups\\/([^/]+)\\/drive',
].join('|');
const ITEM_PATTERN = new RegExp(`^\\/(?:${DRIVE_PATTERN})(?:\\/items\\/([^/]+)|\\/root:(\\/[^:]+):)(?=\\/|$)`);

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
  else if (siteOfDefault !== undefined)
    driveRef = { kind: 'alias', alias: (owner = `/sites/${d(siteOfDefault)}/drive`) };
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
  const base = {
    version: v[1] ?? 'v1.0',
    rawItem: parsed.rawItem,
    item: parsed.item,
    drive: parsed.drive,
    ref: parsed.ref,
  };
  if (parsed.rest === '' || parsed.rest === '/') return { ...base, workbookPath: undefined };
  const w = /^\/workbook(?=\/|$)/.exec(parsed.rest);
  if (w === null) return undefined;
  return { ...base, workbookPath: parsed.rest.slice(w[0].length).replace(/\/$/, '') };
}
