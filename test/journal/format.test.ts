// The journal's line format, pure: no file is touched.
import { describe, expect, it } from 'vitest';
import {
  checkCloseReason,
  checkId,
  checkRecord,
  formatClose,
  formatOpen,
  parseJournal,
} from '../../src/journal/format.js';
import { closeLine, openLine } from '../fixtures/journal-spawn.js';

const entry = {
  workbook: '/me/drive/items/A',
  file: '/drives/d1/items/i1',
  id: 'session-0123456789',
  persistChanges: true,
  createdAt: 1_800_000_000_000,
  pid: 4242,
  owner: 'owner-token',
  host: 'host-a',
};

describe('the journal line format', () => {
  it('parseJournal() lets a close win over an open of the same id wherever it appears', () => {
    const text = [
      closeLine('late-open-0123456789'),
      openLine({ id: 'late-open-0123456789' }),
      openLine({ id: 'dup-0123456789' }),
      openLine({ id: 'dup-0123456789' }),
    ].join('\n');
    const parsed = parseJournal(`${text}\n`);
    expect([...parsed.open.keys()]).toEqual(['dup-0123456789']);
    expect(parsed.lines).toBe(4);
  });

  it('formatOpen() and formatClose() write one JSON line each that parseJournal() reads back', () => {
    const open = formatOpen(entry);
    expect(open).not.toContain('\n');
    expect(JSON.parse(open)).toEqual({ op: 'open', ...entry });
    expect(Object.keys(JSON.parse(open) as object)).toEqual([
      'op',
      'workbook',
      'file',
      'id',
      'persistChanges',
      'createdAt',
      'pid',
      'owner',
      'host',
    ]);
    expect(JSON.parse(formatClose(entry.id, 'recovered', 5))).toEqual({
      op: 'close',
      id: entry.id,
      at: 5,
      reason: 'recovered',
    });

    expect([...parseJournal(`${open}\n`).open.values()]).toEqual([entry]);
    const closed = parseJournal(`${open}\n${formatClose(entry.id, 'closed', 6)}\n`);
    expect(closed.open.size).toBe(0);
    expect(closed.lines).toBe(2);
  });

  it('formatOpen() leaves out `file` and `host` when absent, and never writes `lastSeenAt`', () => {
    const { file: _file, host: _host, ...bare } = entry;
    expect(JSON.parse(formatOpen(bare))).toEqual({ op: 'open', ...bare });
    expect(formatOpen({ ...entry, lastSeenAt: 7 } as never)).not.toContain('lastSeenAt');
    expect([...parseJournal(`${formatOpen(bare)}\n`).open.values()]).toEqual([bare]);
  });

  it('parseJournal() names each line it cannot use, by its 1-based number, and skips blank lines', () => {
    const good = openLine({ id: 'good-0123456789' });
    const bad = (fields: Record<string, unknown>) =>
      JSON.stringify({ ...(JSON.parse(good) as object), id: 'bad-0123456789', ...fields });
    const lines = [
      good,
      '',
      '[1]',
      JSON.stringify({ op: 'close' }),
      bad({ id: '' }),
      bad({ workbook: 5 }),
      bad({ persistChanges: 'yes' }),
      bad({ createdAt: 'now' }),
      bad({ pid: 0 }),
      bad({ pid: 1.5 }),
      bad({ owner: 'has space' }),
      bad({ host: 7 }),
      bad({ file: '' }),
      '{"op":"open","id":"torn',
    ];
    const parsed = parseJournal(lines.join('\n'));
    expect([...parsed.open.keys()]).toEqual(['good-0123456789']);
    expect(parsed.lines).toBe(13);
    expect(parsed.corrupt).toEqual([
      { line: 3, reason: 'not a JSON object' },
      { line: 4, reason: 'close record without an `id` string' },
      { line: 5, reason: 'open record without an `id` string' },
      { line: 6, reason: 'open record without a `workbook` string' },
      { line: 7, reason: 'open record without a boolean `persistChanges`' },
      { line: 8, reason: 'open record without a numeric `createdAt`' },
      { line: 9, reason: 'open record without a positive integer `pid`' },
      { line: 10, reason: 'open record without a positive integer `pid`' },
      { line: 11, reason: 'open record without a valid `owner` token' },
      { line: 12, reason: 'open record with a non-string `host`' },
      { line: 13, reason: 'open record with a `file` that is not a non-empty string' },
      { line: 14, reason: 'truncated line (no newline at end of file)' },
    ]);
    // The same torn text followed by a newline is a bad line, not a truncated one.
    expect(parseJournal('{"op":"open","id":"torn\n').corrupt).toEqual([{ line: 1, reason: 'not valid JSON' }]);
  });

  it('parseJournal() of a close before any open, and of empty text, holds nothing open', () => {
    expect(parseJournal(`${closeLine('never-opened-0123456789')}\n`).open.size).toBe(0);
    expect(parseJournal('')).toEqual({ open: new Map(), corrupt: [], lines: 0 });
  });

  it('checkRecord(), checkId() and checkCloseReason() refuse bad values with a TypeError naming them', () => {
    const record = { workbook: entry.workbook, id: entry.id, persistChanges: true, createdAt: 1 };
    expect(() => checkRecord(record)).not.toThrow();
    expect(() => checkRecord(null as never)).toThrow(new TypeError('Expected `entry` to be an object, got `null`'));
    expect(() => checkRecord({ ...record, workbook: '' })).toThrow(
      new TypeError('Expected `workbook` to be a non-empty string, got "" (string)'),
    );
    expect(() => checkRecord({ ...record, file: '' })).toThrow(
      new TypeError('Expected `file` to be a non-empty string when given, got "" (string)'),
    );
    expect(() => checkRecord({ ...record, persistChanges: 1 as never })).toThrow(
      new TypeError('Expected `persistChanges` to be a boolean, got `1` (number)'),
    );
    expect(() => checkRecord({ ...record, createdAt: Infinity })).toThrow(
      new TypeError('Expected `createdAt` to be a finite number (epoch ms), got `Infinity` (number)'),
    );
    expect(checkId('S-1')).toBe('S-1');
    expect(() => checkId('')).toThrow(new TypeError('Expected `id` to be a non-empty string, got "" (string)'));
    expect(checkCloseReason('expired')).toBe('expired');
    expect(() => checkCloseReason('gone')).toThrow(
      new TypeError('Expected `reason` to be one of closed, recovered, expired, got "gone" (string)'),
    );
  });
});
