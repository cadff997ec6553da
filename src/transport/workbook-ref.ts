import { GraphRequestError } from '../errors.js';
import { describe } from '../util/validate.js';

/**
 * A workbook reference read once: the spelling to send requests to, and a key that two spellings
 * of one reference share. Made by {@link parseWorkbookRef}.
 */
export interface WorkbookRef {
  /**
   * The reference with its percent-encoding normalised: every segment decoded, then encoded one
   * way (`/me/drive/root:/Q1%20Sales.xlsx:` for `Q1 Sales.xlsx` and `Q1%20Sales.xlsx` alike).
   */
  readonly path: string;
  /**
   * Equal for two spellings of one reference: percent-encoding normalised, `root:` paths compared
   * case-insensitively (as OneDrive and SharePoint compare names), `/sites/{s}/drives/{d}` read as
   * `/drives/{d}` (a drive id names one drive wherever it is reached from).
   */
  readonly key: string;
}

/** A file as Graph names it uniquely: `GET {item}?$select=id,parentReference`. */
export interface DriveItemId {
  readonly driveId: string;
  readonly itemId: string;
}

const HINT =
  'a drive-item path: /me/drive/items/{id}, /drives/{drive-id}/items/{id}, /sites/{site-id}/drive/items/{id}, ' +
  '/sites/{site-id}/drives/{drive-id}/items/{id}, /users/{user}/drive/items/{id}, /groups/{group}/drive/items/{id}, ' +
  'or /me/drive/root:/{path}: (any of those drives with root:/{path}:)';

// Control characters are matched on purpose: they are what these patterns refuse.
/* eslint-disable no-control-regex */
// One raw segment of a drive or item id: no separators, query, fragment, whitespace or control characters.
const SEGMENT = String.raw`[^/\\?#\s\x00-\x1f\x7f]+`;
const DRIVE = [
  '/me/drive',
  `/drives/(${SEGMENT})`,
  `/sites/(${SEGMENT})/drive`,
  `/sites/(${SEGMENT})/drives/(${SEGMENT})`,
  `/users/(${SEGMENT})/drive`,
  `/groups/(${SEGMENT})/drive`,
].join('|');
const PATTERN = new RegExp(`^(?:${DRIVE})(?:/items/(${SEGMENT})|/root:(/[^?#:\\x00-\\x1f\\x7f]+):)$`);
const CONTROL = /[\x00-\x1f\x7f]/;
/* eslint-enable no-control-regex */
// RFC 3986 pchar less ':' (the root path's delimiter): left as is, everything else is percent-encoded.
const KEPT = /[A-Za-z0-9\-._~!$&'()*+,;=@]/;

/**
 * Reads a workbook reference, or throws a `TypeError` naming the value. Refuses URLs, queries,
 * fragments, `..` (also as `%2e%2e`), empty segments, control characters (also encoded), encoded
 * separators (`%2F`, `%5C`: a server that decodes them first would read other segments), and a
 * `/workbook` suffix.
 */
export function parseWorkbookRef(value: unknown): WorkbookRef {
  if (typeof value !== 'string')
    throw new TypeError(`Expected \`workbook\` to be a drive-item path string, got ${describe(value)}`);
  const refuse = (why = ''): never => {
    throw new TypeError(`Expected \`workbook\` to be ${HINT}${why}; got ${describe(value)}`);
  };
  if (/\/workbook(\/|$)/.test(value)) refuse(', without /workbook');
  const m = PATTERN.exec(value);
  if (m === null) return refuse();
  const [, drive, site, siteOfDrive, siteDrive, user, group, id, rootPath] = m;
  const seg = (raw: string | undefined): string => encodeSegment(checkedText(raw ?? '', refuse));
  let sent: string;
  let keyed: string;
  if (drive !== undefined) sent = keyed = `/drives/${seg(drive)}`;
  else if (siteDrive !== undefined) {
    sent = `/sites/${seg(siteOfDrive)}/drives/${seg(siteDrive)}`;
    keyed = `/drives/${seg(siteDrive)}`;
  } else if (site !== undefined) sent = keyed = `/sites/${seg(site)}/drive`;
  else if (user !== undefined) sent = keyed = `/users/${seg(user)}/drive`;
  else if (group !== undefined) sent = keyed = `/groups/${seg(group)}/drive`;
  else sent = keyed = '/me/drive';
  if (id !== undefined) {
    const item = `/items/${seg(id)}`;
    return { path: sent + item, key: keyed + item };
  }
  // A raw backslash is a separator to URL parsers: its segments are checked like the others.
  const texts = (rootPath ?? '')
    .slice(1)
    .split(/[/\\]/)
    .map((s) => checkedText(s, refuse));
  const encoded = texts.map(encodeSegment).join('/');
  return {
    path: `${sent}/root:/${encoded}:`,
    key: `${keyed}/root:/${texts.map((t) => encodeSegment(t.toLowerCase())).join('/')}:`,
  };
}

/**
 * The lane key of a resolved file, `/drives/{driveId}/items/{itemId}` lower-cased: a key, not a
 * path to send to. Graph has answered one OneDrive drive's ids in either case (onedrive-api-docs
 * issue #1902); ids that differ only in case would merely share a lane, which is safe.
 */
export function fileKey(file: DriveItemId): string {
  return `/drives/${encodeSegment(file.driveId)}/items/${encodeSegment(file.itemId)}`.toLowerCase();
}

/** A segment's text (percent-decoded where the escapes are valid), or a refusal. */
function checkedText(raw: string, refuse: (why?: string) => never): string {
  const text = lenientDecode(raw);
  if (text === '') refuse(', without empty segments');
  if (text === '.' || text === '..') refuse(', without "." or ".." segments');
  if (CONTROL.test(text)) refuse(', without control characters');
  if (/[/\\]/.test(text)) refuse(', without encoded separators (%2F, %5C)');
  // A lone surrogate has no UTF-8 form, so it cannot be sent.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text))
    refuse(', without lone surrogates');
  return text;
}

/**
 * Decodes each run of valid `%XX` escapes; a `%` that starts no valid UTF-8 escape stays a `%`,
 * as URL parsers and servers leave it (`100% done.xlsx`).
 */
function lenientDecode(raw: string): string {
  return raw.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      // A run that is not valid UTF-8 as a whole: decode the escapes one at a time where each is ASCII.
      return run.replace(/%([0-9a-fA-F]{2})/g, (escape, hex: string) =>
        Number.parseInt(hex, 16) < 0x80 ? String.fromCharCode(Number.parseInt(hex, 16)) : escape,
      );
    }
  });
}

/** The one spelling of a segment's text: pchar kept, everything else (UTF-8) percent-encoded, upper-case hex. */
function encodeSegment(text: string): string {
  let out = '';
  for (const ch of text)
    out += KEPT.test(ch)
      ? ch
      : encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return out;
}

/** Reads the answer of `GET {item}?$select=id,parentReference`; undefined when it names no file. */
export function driveItemOf(body: unknown): DriveItemId | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { id, parentReference } = body as { id?: unknown; parentReference?: unknown };
  const driveId =
    typeof parentReference === 'object' && parentReference !== null
      ? (parentReference as { driveId?: unknown }).driveId
      : undefined;
  if (typeof id !== 'string' || id === '' || typeof driveId !== 'string' || driveId === '') return undefined;
  return { driveId, itemId: id };
}

/** Asks Graph which file a reference names: `GET {path}?$select=id,parentReference`, answer's body. */
export type ItemLookup = (path: string) => Promise<unknown>;

/**
 * Tells which file each workbook reference names, so that every name of one file shares one lane.
 * Each reference is looked up once per resolver (a file keeps its ids when renamed or moved), and
 * concurrent look-ups of one reference share one request.
 */
export class WorkbookResolver {
  readonly #lookup: ItemLookup;
  // Lane keys by reference key, set when a look-up succeeds; kept for the resolver's life.
  readonly #resolved = new Map<string, string>();
  // Look-ups under way by reference key; removed when each settles (a failure is not remembered).
  readonly #pending = new Map<string, Promise<string>>();
  // Reference keys by the spelling requests are sent to, so laneOf() parses each spelling once.
  readonly #keys = new Map<string, string>();

  constructor(lookup: ItemLookup) {
    this.#lookup = lookup;
  }

  /** The file's lane key (see {@link fileKey}); rejects when Graph does not name one. */
  resolve(ref: WorkbookRef): Promise<string> {
    this.#keys.set(ref.path, ref.key);
    const known = this.#resolved.get(ref.key);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.#pending.get(ref.key);
    if (pending === undefined) {
      pending = this.#lookup(ref.path).then((body) => {
        const file = driveItemOf(body);
        if (file === undefined) {
          throw new GraphRequestError({
            kind: 'malformed',
            method: 'GET',
            path: ref.path,
            detail:
              'the answer names no `id` and `parentReference.driveId`, ' +
              'so the file behind this workbook reference is unknown',
          });
        }
        const key = fileKey(file);
        this.#resolved.set(ref.key, key);
        return key;
      });
      const forget = (): void => void this.#pending.delete(ref.key);
      pending.then(forget, forget);
      this.#pending.set(ref.key, pending);
    }
    return pending;
  }

  /** The file's lane key once `path` was resolved; undefined before. */
  fileOf(path: string): string | undefined {
    const key = this.#keys.get(path);
    return key === undefined ? undefined : this.#resolved.get(key);
  }

  /**
   * Takes the file `path` names from an earlier process (its journal), so that recovery closes the
   * sessions of every name of one file in one lane. What this resolver found itself is kept.
   */
  learn(path: string, file: string): void {
    let key: string;
    try {
      key = parseWorkbookRef(path).key;
    } catch {
      return;
    }
    this.#keys.set(path, key);
    if (!this.#resolved.has(key)) this.#resolved.set(key, file);
  }

  /**
   * The lane of requests sent to `path`: its file once resolved, else the reference's key (so two
   * spellings of one reference still share a lane), else `path` itself.
   */
  laneOf(path: string): string {
    let key = this.#keys.get(path);
    if (key === undefined) {
      try {
        key = parseWorkbookRef(path).key;
      } catch {
        return path;
      }
      this.#keys.set(path, key);
    }
    return this.#resolved.get(key) ?? key;
  }
}
