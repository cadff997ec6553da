import { createHash } from 'node:crypto';
import { checkObject, describe } from '../util/validate.js';
import { canonicalWorkbook } from './faults.js';
import type { WorkbookSeed } from './options.js';
import { type DriveRef, type ItemRef, parseItem } from './request-path.js';
import { WorkbookData } from './workbook-model.js';

/** Who a workbook file is, whatever name a request gives it. */
export interface WorkbookFile {
  /** The drive-item path it was added under (canonical): the key stats and sessions name it by. */
  readonly path: string;
  /** `parentReference.driveId`. */
  readonly driveId: string;
  /** The item's `id` on its drive. */
  readonly itemId: string;
  /** Its path from the drive's root, such as `/Reports/Q1 Sales.xlsx`. */
  readonly rootPath: string;
}

export interface FileEntry extends WorkbookFile {
  readonly data: WorkbookData;
  readonly createdAt: string;
}

/**
 * The workbook files the emulator serves, reachable by every name Graph gives a file: the path it was
 * added under, its drive's id or alias with its item id, or with its root path.
 */
export class WorkbookFiles {
  // Workbook files by the canonical path they were added under; added by add().
  readonly #files = new Map<string, FileEntry>();
  // The same files by drive id and item id, and by drive id and lower-cased root path (names
  // compare case-insensitively on OneDrive and SharePoint); filled with #files.
  readonly #byId = new Map<string, FileEntry>();
  readonly #byPath = new Map<string, FileEntry>();
  // Drive ids of the names that stand for a drive (`/me/drive`, `/users/{u}/drive`, ...); set by
  // aliasDrive(). An alias not set names a drive of its own, with an id derived from the alias.
  readonly #driveAliases = new Map<string, string>();

  /** See `WorkbookService.addWorkbook()`; `createdAt` is the file's creation time. */
  add(path: string, seed: WorkbookSeed | undefined, createdAt: number): WorkbookFile {
    const key = canonicalWorkbook(path, 'path');
    const parsed = parseItem(path);
    if (parsed === undefined) throw new TypeError(`Expected \`path\` to be a drive-item path, got ${describe(path)}`);
    if (seed !== undefined) checkObject('seed', seed, ['worksheets', 'names']);
    const driveId = this.#driveId(parsed.drive);
    const itemId =
      parsed.ref.kind === 'id' ? parsed.ref.id : `01${hash(`${driveId}\n${parsed.ref.path.toLowerCase()}`)}`;
    const rootPath = parsed.ref.kind === 'path' ? parsed.ref.path : `/${itemId}.xlsx`;
    const byId = `${driveId}\n${itemId}`;
    const byPath = `${driveId}\n${rootPath.toLowerCase()}`;
    if (this.#files.has(key) || this.#byId.has(byId) || this.#byPath.has(byPath))
      throw new Error(`The workbook ${JSON.stringify(path)} already exists`);
    const entry: FileEntry = {
      path: key,
      driveId,
      itemId,
      rootPath,
      data: WorkbookData.fromSeed(path, seed),
      createdAt: new Date(createdAt).toISOString(),
    };
    this.#files.set(key, entry);
    this.#byId.set(byId, entry);
    this.#byPath.set(byPath, entry);
    return { path: key, driveId, itemId, rootPath };
  }

  /** See `WorkbookService.aliasDrive()`. */
  aliasDrive(alias: string, driveId: string): void {
    const parsed = typeof alias === 'string' ? parseItem(`${alias}/items/x`) : undefined;
    if (parsed === undefined || parsed.drive.kind !== 'alias' || parsed.rest !== '') {
      throw new TypeError(
        'Expected `alias` to be /me/drive, /users/{user}/drive, /groups/{group}/drive or ' +
          `/sites/{site}/drive, got ${describe(alias)}`,
      );
    }
    if (typeof driveId !== 'string' || driveId === '' || /[/\s]/.test(driveId))
      throw new TypeError(`Expected \`driveId\` to be a drive id, got ${describe(driveId)}`);
    this.#driveAliases.set(parsed.drive.alias, driveId);
  }

  /** Who the file at `path` (any name of it) is; undefined when there is none. */
  info(path: string): WorkbookFile | undefined {
    const parsed = typeof path === 'string' ? parseItem(path) : undefined;
    const entry = parsed === undefined || parsed.rest !== '' ? undefined : this.find(parsed.drive, parsed.ref);
    return entry === undefined
      ? undefined
      : { path: entry.path, driveId: entry.driveId, itemId: entry.itemId, rootPath: entry.rootPath };
  }

  /** The file a request names, by drive and item reference. */
  find(drive: DriveRef, ref: ItemRef): FileEntry | undefined {
    const driveId = this.#driveId(drive);
    return ref.kind === 'id'
      ? this.#byId.get(`${driveId}\n${ref.id}`)
      : this.#byPath.get(`${driveId}\n${ref.path.toLowerCase()}`);
  }

  /** The canonical paths of every file, in the order they were added. */
  paths(): string[] {
    return [...this.#files.keys()];
  }

  /** The file added under the canonical path `key`. */
  byKey(key: string): FileEntry | undefined {
    return this.#files.get(key);
  }

  /** The key a workbook is counted under: its file's, when there is one; else the name's canonical form. */
  keyOf(path: string): string {
    const parsed = parseItem(path);
    if (parsed === undefined || parsed.rest !== '') return canonicalWorkbook(path, 'workbook');
    return this.find(parsed.drive, parsed.ref)?.path ?? parsed.item;
  }

  /** `keyOf()`, or `path` itself when it is not a drive-item path (its checker then names it). */
  keyOrSelf(path: string): string {
    try {
      return this.keyOf(path);
    } catch {
      return path;
    }
  }

  /** The file's data (not any non-persistent session's copy); a RangeError when there is no file. */
  data(path: string): WorkbookData {
    canonicalWorkbook(path, 'path');
    const parsed = parseItem(path);
    const entry = parsed === undefined ? undefined : this.find(parsed.drive, parsed.ref);
    if (entry === undefined) throw new RangeError(`No workbook at ${JSON.stringify(path)}`);
    return entry.data;
  }

  #driveId(drive: DriveRef): string {
    if (drive.kind === 'id') return drive.id;
    return (
      this.#driveAliases.get(drive.alias) ??
      `b!${createHash('sha256').update(drive.alias).digest('base64url').slice(0, 40)}`
    );
  }
}

/** A stable id-like hex digest: the same name always gives the same id. */
export function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32).toUpperCase();
}
