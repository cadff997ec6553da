import { describe, expect, it } from 'vitest';
import { WorkbookService } from '../../src/testing/index.js';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);
const TOKEN = 'test-token';
const WB = '/me/drive/items/W';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

function service(extra: ConstructorParameters<typeof WorkbookService>[0] = {}): WorkbookService {
  return new WorkbookService({
    token: TOKEN,
    now: () => T0,
    workbooks: { [WB]: { worksheets: { Sheet1: { cells: [[1, 2]] } } } },
    ...extra,
  });
}

interface Answer {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: { id?: string; values?: unknown; error?: { code: string } };
}

async function batch(
  svc: WorkbookService,
  requests: unknown[],
): Promise<{ status: number; answers: Answer[]; body: { error?: { message: string } } }> {
  const res = await svc.handle(
    new Request('https://graph.microsoft.com/v1.0/$batch', {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, ...JSON_HEADERS },
      body: JSON.stringify({ requests }),
    }),
  );
  const body = (await res.json()) as { responses?: Answer[]; error?: { message: string } };
  return { status: res.status, answers: body.responses ?? [], body };
}

const byId = (answers: Answer[], id: string): Answer | undefined => answers.find((a) => a.id === id);

describe('WorkbookService $batch', () => {
  it(
    'runs a dependsOn chain in order: createSession, a sessionful ' + 'write, closeSession, each with its own headers',
    async () => {
      const svc = service();
      const first = await batch(svc, [
        {
          id: '1',
          method: 'POST',
          url: `${WB}/workbook/createSession`,
          headers: JSON_HEADERS,
          body: { persistChanges: true },
        },
      ]);
      expect(first.status).toBe(200);
      const session = byId(first.answers, '1')?.body?.id ?? '';
      expect(byId(first.answers, '1')).toMatchObject({
        status: 201,
        headers: { 'Content-Type': expect.stringContaining('application/json') },
      });
      const { answers } = await batch(svc, [
        {
          id: 'w',
          method: 'PATCH',
          url: `${WB}/workbook/worksheets('Sheet1')/range(address='A1')`,
          headers: { ...JSON_HEADERS, 'workbook-session-id': session },
          body: { values: [[9]] },
        },
        {
          id: 'r',
          method: 'GET',
          url: `${WB}/workbook/worksheets('Sheet1')/range(address='A1')`,
          headers: { 'workbook-session-id': session },
          dependsOn: ['w'],
        },
        {
          id: 'c',
          method: 'POST',
          url: `${WB}/workbook/closeSession`,
          headers: { 'workbook-session-id': session },
          dependsOn: ['r'],
        },
      ]);
      expect(answers.map((a) => a.id)).toEqual(['w', 'r', 'c']);
      expect(byId(answers, 'r')).toMatchObject({ status: 200, body: { values: [[9]] } });
      expect(byId(answers, 'c')?.status).toBe(204);
      expect(byId(answers, 'c')?.body).toBeUndefined();
      expect(svc.openSessions()).toBe(0);
      expect(svc.stats().requestsByRoute).toMatchObject({ batch: 2, createSession: 1, range: 2, closeSession: 1 });
    },
  );

  it(
    'answers 424 for the dependents of a failed request, and gives a ' +
      'fault on one inner request its own Retry-After',
    async () => {
      const svc = service();
      svc.injectFault({ route: 'range', status: 429, retryAfterSeconds: 3 });
      const { answers } = await batch(svc, [
        { id: 'a', method: 'GET', url: `${WB}/workbook/worksheets('Sheet1')/range(address='A1')` },
        { id: 'b', method: 'GET', url: `${WB}/workbook/worksheets`, dependsOn: ['a'] },
        { id: 'c', method: 'GET', url: `${WB}/workbook/worksheets`, dependsOn: ['b'] },
      ]);
      expect(byId(answers, 'a')).toMatchObject({
        status: 429,
        headers: { 'Retry-After': '3' },
        body: { error: { code: 'tooManyRequests' } },
      });
      expect(byId(answers, 'b')?.status).toBe(424);
      expect(byId(answers, 'c')?.status).toBe(424);
      expect(svc.stats()).toMatchObject({ faultsInjected: 1, requestsByRoute: { range: 1, worksheets: 0 } });
    },
  );

  it(
    'counts each inner request against the workbook: in flight ' + 'together, and against a cooldown a 429 started',
    async () => {
      const svc = service({ latency: { fixedMs: 20 } });
      const three = Array.from({ length: 3 }, (_, i) => ({
        id: String(i),
        method: 'GET',
        url: `${WB}/workbook/worksheets`,
      }));
      await batch(svc, three);
      expect(svc.stats()).toMatchObject({ maxInFlightByWorkbook: { [WB]: 3 }, cooldownViolations: 0 });
      svc.injectFault({ route: 'worksheets', status: 429, retryAfterSeconds: 30 });
      await batch(svc, [three[0]]);
      await batch(svc, three);
      expect(svc.stats().cooldownViolations).toBe(3);
    },
  );

  it('runs independent requests in a seeded random order, the same for the same seed', async () => {
    const requests = Array.from({ length: 6 }, (_, i) => ({
      id: String(i),
      method: 'GET',
      url: `${WB}/workbook/worksheets`,
    }));
    const orderFor = async (seed: number): Promise<string> =>
      (await batch(service({ seed }), requests)).answers.map((a) => a.id).join('');
    const orders = await Promise.all([1, 2, 3, 4].map(orderFor));
    expect(new Set(orders).size).toBeGreaterThan(1);
    expect(await orderFor(2)).toBe(orders[1]);
  });

  it(
    'refuses more than 20 requests, a dependency on an unknown id, a ' +
      'nested $batch, and a body without Content-Type',
    async () => {
      const svc = service();
      const many = await batch(
        svc,
        Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: 'GET', url: `${WB}/workbook/worksheets` })),
      );
      expect(many.status).toBe(400);
      expect(many.body.error?.message).toBe('Number of batch operation requests exceeds 20.');
      expect(
        (await batch(svc, [{ id: '1', method: 'GET', url: `${WB}/workbook/worksheets`, dependsOn: ['9'] }])).status,
      ).toBe(400);
      expect(
        (await batch(svc, [{ id: '1', method: 'POST', url: '/$batch', headers: JSON_HEADERS, body: { requests: [] } }]))
          .status,
      ).toBe(400);
      expect(
        (
          await batch(svc, [
            { id: '1', method: 'POST', url: `${WB}/workbook/createSession`, body: { persistChanges: true } },
          ])
        ).status,
      ).toBe(400);
      expect(svc.stats().created).toBe(0);
    },
  );

  it(
    'compares request ids without case, as Graph does: a duplicate in another ' +
      'case is refused, a dependsOn in another case is honoured',
    async () => {
      const svc = service();
      const twice = await batch(svc, [
        { id: 'a', method: 'GET', url: `${WB}/workbook/worksheets` },
        { id: 'A', method: 'GET', url: `${WB}/workbook/worksheets` },
      ]);
      expect(twice.status).toBe(400);
      const chained = await batch(svc, [
        { id: 'first', method: 'GET', url: `${WB}/workbook/worksheets('Nope')` },
        { id: 'second', method: 'GET', url: `${WB}/workbook/worksheets`, dependsOn: ['FIRST'] },
      ]);
      expect(chained.status).toBe(200);
      expect(byId(chained.answers, 'first')?.status).toBe(404);
      expect(byId(chained.answers, 'second')?.status).toBe(424);
    },
  );

  it(
    'reads a string body as base64, as Graph does: a ' + 'JSON.stringify-ed body is not applied, a base64 one is',
    async () => {
      const svc = service();
      const headers = JSON_HEADERS;
      const text = await batch(svc, [
        {
          id: '1',
          method: 'PATCH',
          url: `${WB}/workbook/worksheets('Sheet1')/range(address='A1')`,
          headers,
          body: JSON.stringify({ values: [[7]] }),
        },
      ]);
      expect(byId(text.answers, '1')?.status).toBe(400);
      expect(svc.readRange(WB, 'Sheet1', 'A1')).toEqual([[1]]);
      const encoded = Buffer.from(JSON.stringify({ values: [[8]] })).toString('base64');
      const b64 = await batch(svc, [
        {
          id: '1',
          method: 'PATCH',
          url: `${WB}/workbook/worksheets('Sheet1')/range(address='A1')`,
          headers,
          body: encoded,
        },
      ]);
      expect(byId(b64.answers, '1')?.status).toBe(200);
      expect(svc.readRange(WB, 'Sheet1', 'A1')).toEqual([[8]]);
    },
  );

  it(
    'refuses a batch with an invalid header name before running any of ' +
      'it: no 500 with a session created whose id nobody got',
    async () => {
      const svc = service();
      const reply = await batch(svc, [
        {
          id: '1',
          method: 'POST',
          url: `${WB}/workbook/createSession`,
          headers: JSON_HEADERS,
          body: { persistChanges: true },
        },
        { id: '2', method: 'GET', url: `${WB}/workbook/worksheets`, headers: { 'bad header': 'x' } },
      ]);
      expect(reply.status).toBe(400);
      expect(reply.body.error?.message).toContain('"2"');
      expect(svc.stats().created).toBe(0);
    },
  );

  it('an outer fault on the batch route answers the whole batch and runs none of it', async () => {
    const svc = service();
    svc.injectFault({ route: 'batch', status: 503 });
    const reply = await batch(svc, [
      {
        id: '1',
        method: 'POST',
        url: `${WB}/workbook/createSession`,
        headers: JSON_HEADERS,
        body: { persistChanges: true },
      },
    ]);
    expect(reply.status).toBe(503);
    expect(svc.stats().created).toBe(0);
  });
});
