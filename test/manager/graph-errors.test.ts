// Graph's error bodies as the transport reads them into GraphRequestError: codes by level, one short line.

import { describe, expect, test } from 'vitest';
import { graphErrorResponse, workbookRoute, answeringServer, failure } from '../helpers/bad-server.js';

describe('over HTTP (a server that answers anything)', () => {
  // The transport against a real HTTP server that answers exactly what Graph may answer, through the
  // real Graph client: error chains, second-level rules, session faults, failed operations,
  // Location and resourceLocation as given, redaction, request timeouts.

  const BOOK = '/me/drive/items/A';

  const BOUND = { timeout: 10_000 };

  const env = answeringServer({ retries: 3 });
  const manager = env.manager;

  describe('error bodies read as Graph writes them', () => {
    test('GraphRequestError.codes keeps a three-level chain, innererror spelt in lower case', BOUND, async () => {
      const book = await manager().open(BOOK);
      env.server.setOverride((request) =>
        workbookRoute(request.url) === 'worksheets'
          ? graphErrorResponse(400, {
              code: 'gatewayTimeout',
              message: 'outer',
              innererror: {
                code: 'gatewayTimeoutUncategorized',
                innerError: { code: 'MaxRequestDurationExceeded', message: 'deep' },
              },
            })
          : undefined,
      );
      const error = await failure(book.api('/worksheets').get());
      expect(error).toMatchObject({
        codes: ['gatewayTimeout', 'gatewayTimeoutUncategorized', 'MaxRequestDurationExceeded'],
        graphCode: 'gatewayTimeout',
        innerCode: 'gatewayTimeoutUncategorized',
      });
      expect((error as Error).message).toBe(
        `GET ${BOOK}/workbook/worksheets failed: 400 ` +
          'gatewayTimeout/gatewayTimeoutUncategorized/MaxRequestDurationExceeded: outer',
      );
      await book.close();
    });
  });

  describe('error bodies read by level, whatever the server puts there', () => {
    test(
      'GraphRequestError.innerCode is the second level even when the top level ' +
        'has no code: a session Graph says is gone is recreated, not faulted',
      BOUND,
      async () => {
        const m = manager({ retries: 0 });
        const book = await m.open(BOOK);
        const first = book.id;
        let sent = 0;
        env.server.setOverride((request) =>
          request.method === 'PATCH' && sent++ === 0
            ? graphErrorResponse(503, {
                message: 'no top-level code',
                innerError: { code: 'invalidSessionReCreatable', innerError: { code: 'deeper' } },
              })
            : undefined,
        );
        // As `gone` (not applied), a write is replayed in a new session; as `faulted`, it would fail with
        // outcomeUnknown.
        await book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [[9]] });
        expect(book.id).not.toBe(first);
        expect(sent).toBe(2);
        env.server.setOverride((request) =>
          workbookRoute(request.url) === 'worksheets'
            ? graphErrorResponse(400, { code: '', innerError: { code: 'invalidArgument' } })
            : undefined,
        );
        const error = await failure(book.api('/worksheets').get());
        expect(error).toMatchObject({ codes: ['invalidArgument'], graphCode: undefined, innerCode: 'invalidArgument' });
        await book.close();
      },
    );

    test('GraphRequestError shows a huge or multi-line code and message on one short line', BOUND, async () => {
      const book = await manager().open(BOOK);
      env.server.setOverride((request) =>
        workbookRoute(request.url) === 'worksheets'
          ? graphErrorResponse(400, {
              code: `${'x'.repeat(100_000)}\nforged log line`,
              message: `m\u001b[31m${'y'.repeat(100_000)}`,
              innerError: { code: 'invalidArgument' },
            })
          : undefined,
      );
      const error = (await failure(book.api('/worksheets').get())) as Error & { codes: string[]; graphCode: string };
      expect(error).toMatchObject({ innerCode: 'invalidArgument' });
      expect(error.message.length).toBeLessThan(1000);
      expect(['\n', '\u001b'].filter((c) => error.message.includes(c))).toEqual([]);
      expect(error.graphCode.length).toBeLessThanOrEqual(100);
      expect(error.codes.every((c) => !c.includes('\n'))).toBe(true);
      await book.close();
    });

    test(
      'SessionManager.open() reads a created session whose JSON comes labelled text/plain, so it is used and closed',
      BOUND,
      async () => {
        env.server.setOverride(async (request) => {
          if (workbookRoute(request.url) !== 'createSession') return undefined;
          const created = await env.server.service.handle(
            new Request(`${env.server.url}/v1.0${BOOK}/workbook/createSession`, {
              method: 'POST',
              headers: { authorization: `Bearer ${env.server.token}`, 'content-type': 'application/json' },
              body: '{"persistChanges":true}',
            }),
          );
          return new Response(await created.text(), { status: 201, headers: { 'content-type': 'text/plain' } });
        });
        const book = await manager().open(BOOK);
        expect(env.server.service.stats().open).toBe(1);
        await book.close();
        expect(env.server.service.stats().open).toBe(0);
      },
    );
  });
});
