// What the manager tells: its events and stats().

import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { SessionManager } from '../../src/index.js';
import { BOOK_A, BOOK_B, overHttp } from '../helpers/graph.js';

describe('over HTTP (emulator)', () => {
  // Scenarios through the real Graph client against the emulator over HTTP on loopback.
  let env: Awaited<ReturnType<typeof overHttp>>;

  afterEach(async () => {
    await env.close();
  });

  let sessions: SessionManager;

  beforeEach(async () => {
    env = await overHttp();
    sessions = env.manager();
  });

  test('stats() counts what the manager did', async () => {
    const a = await sessions.open(BOOK_A);
    await sessions.open(BOOK_B);
    expect(sessions.stats()).toMatchObject({ open: 2, opening: 0, closing: 0 });
    await a.close();
    expect(sessions.stats()).toMatchObject({ open: 1, totals: { opened: 2, closed: 1 } });
  });
});
