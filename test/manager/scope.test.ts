// A session's scope: `await using`, withSession() and close() end it, and a closed handle sends nothing.

import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SessionClosedError, type WorkbookSession } from '../../src/index.js';
import { BOOK_A, BOOK_B, BOOK_C, overHttp, fakeTimeGraph } from '../helpers/graph.js';

describe('over HTTP (emulator)', () => {
  // Scenarios through the real Graph client against the emulator over HTTP on loopback.
  let env: Awaited<ReturnType<typeof overHttp>>;

  afterEach(async () => {
    await env.close();
  });

  describe('scope exit', () => {
    beforeEach(async () => {
      env = await overHttp();
    });

    test('`await using` closes the session when the block ends normally', async () => {
      const sessions = env.manager();
      let id = '';
      {
        await using book = await sessions.open(BOOK_A);
        id = book.id;
        const used = await book.api("/worksheets('Sheet1')/usedRange").get<{ values: unknown[][] }>();
        expect(used.values).toEqual([
          [1, 2],
          [3, 4],
        ]);
        expect(env.service.stats().open).toBe(1);
      }
      expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
      expect(env.service.sessions().find((s) => s.id === id)?.state).toBe('closed');
    });

    test('`await using` closes the session when the block throws, and the error is the body’s', async () => {
      const sessions = env.manager();
      let handle: WorkbookSession | undefined;
      const run = async (): Promise<void> => {
        await using book = await sessions.open(BOOK_A);
        handle = book;
        await book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [[42]] });
        throw new Error('body failed');
      };
      await expect(run()).rejects.toThrow('body failed');
      expect(handle?.state).toBe('closed');
      expect(handle?.closeReason).toBe('disposed');
      expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
      // A persistent session writes to the file.
      expect(env.service.readRange(BOOK_A, 'Sheet1', 'A1')).toEqual([[42]]);
    });

    test('withSession closes on success and on throw, and returns the callback’s value', async () => {
      const sessions = env.manager();
      const names = await sessions.withSession(BOOK_B, async (book) => {
        const sheets = await book.api('/worksheets').get<{ value: Array<{ name: string }> }>();
        return sheets.value.map((s) => s.name);
      });
      expect(names).toEqual(['Sheet1']);
      await expect(
        sessions.withSession(BOOK_B, () => {
          throw new RangeError('nope');
        }),
      ).rejects.toThrow(RangeError);
      expect(env.service.stats()).toMatchObject({ created: 2, closed: 2, open: 0 });
    });

    test('a call on a closed handle fails with SessionClosedError naming the reason, and sends nothing', async () => {
      const sessions = env.manager();
      const book = await sessions.open(BOOK_A);
      await book.close();
      const before = env.service.stats().requests;
      const error = await book
        .api('/worksheets')
        .get()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionClosedError);
      expect((error as SessionClosedError).reason).toBe('disposed');
      expect((error as SessionClosedError).message).toMatch(/is closed \(reason: disposed\)/);
      expect(env.service.stats().requests).toBe(before);
    });

    test('close() is idempotent and safe to call concurrently: one closeSession request', async () => {
      const sessions = env.manager();
      const book = await sessions.open(BOOK_A);
      const [a, b] = [book.close(), book[Symbol.asyncDispose]()];
      expect(a).toBe(b);
      await Promise.all([a, b, book.close()]);
      await book.close();
      expect(env.service.stats().requestsByRoute.closeSession).toBe(1);
    });

    test('a non-persistent session works on its own copy, which vanishes when it closes', async () => {
      const sessions = env.manager();
      await sessions.withSession(
        BOOK_C,
        async (book) => {
          expect(book.persistChanges).toBe(false);
          await book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [[99]] });
          const seen = await book.api("/worksheets('Sheet1')/range(address='A1')").get<{ values: unknown[][] }>();
          expect(seen.values).toEqual([[99]]);
        },
        { persistChanges: false },
      );
      expect(env.service.readRange(BOOK_C, 'Sheet1', 'A1')).toEqual([[1]]);
    });
  });
});

describe('on fake timers (emulator behind msw)', () => {
  // Time-based behaviour, in process through msw, on vitest's fake clock.
  const { graph, manager } = fakeTimeGraph();

  describe('await using semantics', () => {
    test('when the body throws and close fails too, the body’s error is kept as `suppressed`', async () => {
      const sessions = manager({ retries: 0 });
      const events: string[] = [];
      sessions.on('closeFailed', (e) => events.push(`closeFailed:${e.reason}`));
      // A close refused for good (a 403 is not resent; a 500 would be, until the deadline).
      graph.service().injectFault({ route: 'closeSession', count: 1, status: 403, code: 'accessDenied' });
      const bodyError = new Error('body failed');
      const error = (await sessions
        .withSession(BOOK_A, () => {
          throw bodyError;
        })
        .catch((e: unknown) => e)) as Error & { error: unknown; suppressed: unknown };
      expect(error.name).toBe('SuppressedError');
      expect(error.suppressed).toBe(bodyError);
      expect((error.error as Error).name).toBe('GraphRequestError');
      expect(events).toEqual(['closeFailed:disposed']);
      // Nothing is forgotten: the shutdown tries again and succeeds.
      const report = await sessions.shutdown();
      expect(report).toMatchObject({ closed: 1, failed: 0, leftOpen: 0 });
      expect(graph.service().stats().open).toBe(0);
    });

    test('the same through native `await using` (lowered here): SuppressedError carries both', async () => {
      const sessions = manager({ retries: 0 });
      // A close refused for good (a 403 is not resent; a 500 would be, until the deadline).
      graph.service().injectFault({ route: 'closeSession', count: 1, status: 403, code: 'accessDenied' });
      const run = async (): Promise<void> => {
        await using _book = await sessions.open(BOOK_A);
        throw new Error('body failed');
      };
      const error = (await run().catch((e: unknown) => e)) as Error & { suppressed: Error; error: Error };
      expect(error.name).toBe('SuppressedError');
      expect(error.suppressed.message).toBe('body failed');
      expect(error.error.name).toBe('GraphRequestError');
    });
  });
});
