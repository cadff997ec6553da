// The journal's line format, pure: one JSON object per line, `{"op":"open",...}` when a session is
// created and `{"op":"close",...}` when it ends. Reading, writing and checking records.
import { checkBoolean, describe } from '../util/validate.js';
import type { JournalCloseReason, JournalCorruption, JournalEntry, JournalRecord } from './session-store.js';

interface OpenLine {
  op: 'open';
  workbook: string;
  file?: string;
  id: string;
  persistChanges: boolean;
  createdAt: number;
  pid: number;
  owner: string;
  /** Absent in lines written by hand or by older versions: then taken as this host. */
  host?: string;
}

interface CloseLine {
  op: 'close';
  id: string;
  at: number;
  reason: JournalCloseReason;
}

const CLOSE_REASONS: readonly unknown[] = ['closed', 'recovered', 'expired'] satisfies readonly JournalCloseReason[];

/** An `open` line (without its newline) for a session and its owner. */
export function formatOpen(entry: Omit<JournalEntry, 'lastSeenAt'>): string {
  const line: OpenLine = { op: 'open', ...openFields(entry) };
  return JSON.stringify(line);
}

/** A `close` line (without its newline). */
export function formatClose(id: string, reason: JournalCloseReason, at: number): string {
  const line: CloseLine = { op: 'close', id, at, reason };
  return JSON.stringify(line);
}

/** What journal text holds. */
export interface ParsedJournal {
  /** Open records without a close, in file order. */
  open: Map<string, JournalEntry>;
  corrupt: JournalCorruption[];
  /** Non-empty lines seen. */
  lines: number;
}

/**
 * Reads journal text. A close wins over an open of the same id wherever it appears: ids are never
 * reused, and compaction may carry an open line over after its close.
 */
export function parseJournal(text: string): ParsedJournal {
  const open = new Map<string, JournalEntry>();
  const closed = new Set<string>();
  const corrupt: JournalCorruption[] = [];
  const lines = text.split('\n');
  let count = 0;
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    count++;
    const record = parseLine(line, index === lines.length - 1);
    if (typeof record === 'string') {
      corrupt.push({ line: index + 1, reason: record });
    } else if (record.op === 'close') {
      closed.add(record.id);
      open.delete(record.id);
    } else if (!closed.has(record.id) && !open.has(record.id)) {
      open.set(record.id, openFields(record));
    }
  });
  return { open, corrupt, lines: count };
}

/** One non-empty line as a record, or why it cannot be used. `last`: it has no newline after it. */
function parseLine(line: string, last: boolean): OpenLine | CloseLine | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return last ? 'truncated line (no newline at end of file)' : 'not valid JSON';
  }
  return checkLine(value) ?? (value as OpenLine | CloseLine);
}

/** The fields of an open record, in the order lines are written, and nothing else the object holds. */
function openFields(from: Omit<JournalEntry, 'lastSeenAt'>): Omit<JournalEntry, 'lastSeenAt'> {
  const { workbook, file, id, persistChanges, createdAt, pid, owner, host } = from;
  return {
    workbook,
    ...(file === undefined ? {} : { file }),
    id,
    persistChanges,
    createdAt,
    pid,
    owner,
    ...(host === undefined ? {} : { host }),
  };
}

/** Why a parsed line is not a record, or undefined when it is one. */
function checkLine(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const record = value as Record<string, unknown>;
  if (record.op === 'close') {
    return typeof record.id === 'string' && record.id !== '' ? undefined : 'close record without an `id` string';
  }
  if (record.op !== 'open') return `unknown \`op\` ${describe(record.op)}`;
  if (typeof record.id !== 'string' || record.id === '') return 'open record without an `id` string';
  if (typeof record.workbook !== 'string' || record.workbook === '') return 'open record without a `workbook` string';
  if (typeof record.persistChanges !== 'boolean') return 'open record without a boolean `persistChanges`';
  if (typeof record.createdAt !== 'number' || !Number.isFinite(record.createdAt))
    return 'open record without a numeric `createdAt`';
  // A pid <= 0 would address process groups when probed: refuse it.
  if (typeof record.pid !== 'number' || !Number.isSafeInteger(record.pid) || record.pid <= 0)
    return 'open record without a positive integer `pid`';
  if (typeof record.owner !== 'string' || !/^[\w-]{1,64}$/.test(record.owner))
    return 'open record without a valid `owner` token';
  if (record.host !== undefined && typeof record.host !== 'string') return 'open record with a non-string `host`';
  if (record.file !== undefined && (typeof record.file !== 'string' || record.file === ''))
    return 'open record with a `file` that is not a non-empty string';
  return undefined;
}

/** A session id as given to the journal, or a TypeError naming it. */
export function checkId(id: unknown): string {
  if (typeof id !== 'string' || id === '') {
    throw new TypeError(`Expected \`id\` to be a non-empty string, got ${describe(id)}`);
  }
  return id;
}

/** A close reason, or a TypeError naming it. */
export function checkCloseReason(reason: unknown): JournalCloseReason {
  if (!CLOSE_REASONS.includes(reason)) {
    throw new TypeError(`Expected \`reason\` to be one of ${CLOSE_REASONS.join(', ')}, got ${describe(reason)}`);
  }
  return reason as JournalCloseReason;
}

/** A record as given to `record()`, or a TypeError naming its bad field. */
export function checkRecord(entry: JournalRecord): void {
  if (typeof entry !== 'object' || entry === null) {
    throw new TypeError(`Expected \`entry\` to be an object, got ${describe(entry)}`);
  }
  if (typeof entry.workbook !== 'string' || entry.workbook === '') {
    throw new TypeError(`Expected \`workbook\` to be a non-empty string, got ${describe(entry.workbook)}`);
  }
  checkId(entry.id);
  if (entry.file !== undefined && (typeof entry.file !== 'string' || entry.file === '')) {
    throw new TypeError(`Expected \`file\` to be a non-empty string when given, got ${describe(entry.file)}`);
  }
  checkBoolean('persistChanges', entry.persistChanges);
  if (typeof entry.createdAt !== 'number' || !Number.isFinite(entry.createdAt)) {
    throw new TypeError(`Expected \`createdAt\` to be a finite number (epoch ms), got ${describe(entry.createdAt)}`);
  }
}
