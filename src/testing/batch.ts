import { type ReplyContext, graphError, json } from './responses.js';

/**
 * JSON batching (concepts/json-batching.md): up to 20 requests, each sent through the service's
 * own `handle()` with its own headers, so sessions, faults, lanes and cooldowns apply to each.
 * Requests whose dependencies are done run together, started in a seeded random order; a request
 * whose dependency failed answers 424.
 */

export const MAX_BATCH_REQUESTS = 20;

/** A base64 or base64url value, padded or not. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export interface BatchHost {
  /** The outer request's origin and version: inner URLs are relative to them. */
  readonly origin: string;
  readonly version: string;
  /** The outer request's Authorization header, which the inner requests share. */
  readonly authorization: string;
  readonly random: () => number;
  readonly send: (request: Request) => Promise<Response>;
}

interface BatchItem {
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly dependsOn: readonly string[];
}

interface BatchAnswer {
  readonly id: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Checked before any request runs, so a bad header refuses the whole batch rather than failing it half-applied. */
function validHeaders(headers: Record<string, string>): boolean {
  try {
    new Headers(headers);
    return true;
  } catch {
    return false;
  }
}

function badBatch(ctx: ReplyContext, message: string): Response {
  return graphError(ctx, { status: 400, code: 'BadRequest', message });
}

function parse(ctx: ReplyContext, body: unknown): BatchItem[] | Response {
  const requests = (body as { requests?: unknown } | null | undefined)?.requests;
  if (!Array.isArray(requests) || requests.length === 0)
    return badBatch(ctx, 'Invalid batch payload format: `requests` must be a non-empty array.');
  if (requests.length > MAX_BATCH_REQUESTS)
    return badBatch(ctx, `Number of batch operation requests exceeds ${MAX_BATCH_REQUESTS}.`);
  const items: BatchItem[] = [];
  for (const raw of requests as unknown[]) {
    const item = parseItem(ctx, raw, items);
    if (item instanceof Response) return item;
    items.push(item);
  }
  return unknownDependency(ctx, items) ?? items;
}

/** One request of the batch, checked against the ones before it (`seen`) for a repeated id. */
function parseItem(ctx: ReplyContext, raw: unknown, seen: readonly BatchItem[]): BatchItem | Response {
  if (typeof raw !== 'object' || raw === null) return badBatch(ctx, 'Every batch request must be an object.');
  const r = raw as Record<string, unknown>;
  if (typeof r['id'] !== 'string' || r['id'] === '') return badBatch(ctx, 'Every batch request needs a string `id`.');
  const id = r['id'];
  // Ids are not case-sensitive (json-batching.md): `a` and `A` are the same request.
  if (seen.some((i) => sameId(i.id, id))) return badBatch(ctx, `Batch request id ${JSON.stringify(id)} appears twice.`);
  if (typeof r['method'] !== 'string' || !/^(GET|POST|PATCH|PUT|DELETE)$/i.test(r['method']))
    return badBatch(ctx, `Batch request ${JSON.stringify(id)} needs a \`method\`.`);
  if (typeof r['url'] !== 'string' || /^[a-z][a-z0-9+.-]*:/i.test(r['url']))
    return badBatch(ctx, `Batch request ${JSON.stringify(id)} needs a relative \`url\`.`);
  if (/(?:^|\/)\$batch\/?(?:\?|$)/i.test(r['url']))
    return badBatch(ctx, `Batch request ${JSON.stringify(id)} is itself a $batch; batches do not nest.`);
  const headers = r['headers'] ?? {};
  if (
    typeof headers !== 'object' ||
    headers === null ||
    Object.values(headers).some((v) => typeof v !== 'string') ||
    !validHeaders(headers as Record<string, string>)
  ) {
    return badBatch(
      ctx,
      `The \`headers\` of batch request ${JSON.stringify(id)} must be an object of valid header names and values.`,
    );
  }
  const dependsOn = r['dependsOn'] ?? [];
  if (!Array.isArray(dependsOn) || dependsOn.some((d) => typeof d !== 'string'))
    return badBatch(ctx, `The \`dependsOn\` of batch request ${JSON.stringify(id)} must be an array of ids.`);
  if (r['body'] !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
    return badBatch(ctx, `Batch request ${JSON.stringify(id)} has a body but no Content-Type header.`);
  }
  return {
    id,
    method: r['method'].toUpperCase(),
    url: r['url'],
    headers: headers as Record<string, string>,
    body: r['body'],
    dependsOn: dependsOn as string[],
  };
}

/** A dependency on no request of the batch, or on the request itself. */
function unknownDependency(ctx: ReplyContext, items: readonly BatchItem[]): Response | undefined {
  for (const item of items) {
    for (const d of item.dependsOn)
      if (!items.some((i) => sameId(i.id, d)) || sameId(d, item.id))
        return badBatch(
          ctx,
          `Batch request ${JSON.stringify(item.id)} depends on an unknown request ${JSON.stringify(d)}.`,
        );
  }
  return undefined;
}

/**
 * Graph's batch answers spell headers as `Content-Type` and `Retry-After` (json-batching.md), and
 * the Graph client's BatchResponseContent looks for exactly `Content-Type`; its ids stay lower case.
 */
function headerCase(name: string): string {
  if (name === 'request-id' || name === 'client-request-id') return name;
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => dash + ch.toUpperCase());
}

async function toAnswer(id: string, response: Response): Promise<BatchAnswer> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'content-length') headers[headerCase(name)] = value;
  });
  const text = await response.text();
  if (text === '') return { id, status: response.status, headers };
  const type = response.headers.get('content-type') ?? '';
  // Graph gives a JSON body as JSON and any other body base64-encoded.
  const body = /json/i.test(type) ? (JSON.parse(text) as unknown) : Buffer.from(text).toString('base64');
  return { id, status: response.status, headers, body };
}

/** A 424 with its Content-Type, so clients read its body as JSON as they do every other answer's. */
function failedDependency(id: string, message: string): BatchAnswer {
  return {
    id,
    status: 424,
    headers: { 'Content-Type': 'application/json' },
    body: { error: { code: 'failedDependency', message } },
  };
}

export async function runBatch(ctx: ReplyContext, host: BatchHost, payload: unknown): Promise<Response> {
  const items = parse(ctx, payload);
  if (items instanceof Response) return items;
  // Answers by lower-cased id, as dependsOn names them in any case.
  const done = new Map<string, BatchAnswer>();
  const answers: BatchAnswer[] = [];
  let pending = [...items];
  while (pending.length > 0) {
    const ready = pending.filter((i) => i.dependsOn.every((d) => done.has(d.toLowerCase())));
    if (ready.length === 0) {
      // A cycle: Graph refuses it; answer each remaining request with 424 rather than hang.
      for (const item of pending)
        answers.push(failedDependency(item.id, 'The dependencies of this request form a cycle.'));
      break;
    }
    pending = pending.filter((i) => !ready.includes(i));
    const wave = await Promise.all(shuffled(ready, host.random).map((item) => runItem(host, item, done)));
    for (const answer of wave) done.set(answer.id.toLowerCase(), answer);
    answers.push(...wave);
  }
  return json(ctx, 200, { responses: answers });
}

/** Seeded shuffle: independent requests run in no fixed order. */
function shuffled(items: readonly BatchItem[], random: () => number): BatchItem[] {
  return items
    .map((item) => ({ item, key: random() }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.item);
}

/** One request whose dependencies are done: 424 if one of them failed, else sent through the service. */
async function runItem(host: BatchHost, item: BatchItem, done: ReadonlyMap<string, BatchAnswer>): Promise<BatchAnswer> {
  if (item.dependsOn.some((d) => (done.get(d.toLowerCase())?.status ?? 500) >= 400)) {
    return failedDependency(item.id, 'A request this one depends on failed.');
  }
  const request = innerRequest(host, item);
  if (!(request instanceof Request)) return request;
  return toAnswer(item.id, await host.send(request));
}

/** The request as the service gets it, with the outer request's origin and Authorization; or a 400. */
function innerRequest(host: BatchHost, item: BatchItem): Request | BatchAnswer {
  const headers = new Headers(item.headers);
  if (host.authorization !== '') headers.set('authorization', host.authorization);
  const path = item.url.startsWith('/') ? item.url : `/${item.url}`;
  // The Graph client's BatchRequestContent keeps the version in each url (`/v1.0/me/...`).
  const url = /^\/(?:v1\.0|beta)\//i.test(path) ? `${host.origin}${path}` : `${host.origin}/${host.version}${path}`;
  const init: RequestInit = { method: item.method, headers };
  if (item.body !== undefined && item.method !== 'GET') {
    // A string body is a base64 value (json-batching.md; the Graph client sends non-JSON bodies so),
    // never JSON text: a JSON.stringify'd body fails on Graph, so it must fail here too.
    if (typeof item.body !== 'string') init.body = JSON.stringify(item.body);
    else if (BASE64.test(item.body)) init.body = new Uint8Array(Buffer.from(item.body, 'base64'));
    else
      return {
        id: item.id,
        status: 400,
        headers: { 'Content-Type': 'application/json' },
        body: {
          error: {
            code: 'BadRequest',
            message:
              `The body of batch request ${JSON.stringify(item.id)} is a string but not base64; ` +
              'give a JSON body as an object.',
          },
        },
      };
  }
  return new Request(url, init);
}
