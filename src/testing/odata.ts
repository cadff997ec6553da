import { notImplemented } from './error-answers.js';
import { type ReplyContext, graphError, json } from './responses.js';

/**
 * The OData parts of an answer: `@odata.context`, `$select`, `$top`/`$skip`, and 501 for the
 * query options the emulator does not implement.
 */

export interface AnswerContext {
  readonly reply: ReplyContext;
  /** `https://127.0.0.1:PORT/v1.0`, for `@odata.context`. */
  readonly serviceRoot: string;
  readonly query: URLSearchParams;
}

const UNSUPPORTED_OPTIONS = [
  '$expand',
  '$filter',
  '$orderby',
  '$count',
  '$search',
  '$format',
  '$skiptoken',
  '$levels',
  '$compute',
  '$apply',
];

/** A 501 naming the first query option the emulator does not implement, if any. */
export function unsupportedQuery(ctx: AnswerContext): Response | undefined {
  for (const key of ctx.query.keys()) {
    if (UNSUPPORTED_OPTIONS.includes(key.toLowerCase())) return notImplemented(ctx.reply, `the query option ${key}`);
  }
  return undefined;
}

function selected(
  ctx: AnswerContext,
  type: string,
  entity: Record<string, unknown>,
): Record<string, unknown> | Response {
  const select = ctx.query.get('$select');
  if (select === null || select.trim() === '') return entity;
  const out: Record<string, unknown> = {};
  const keys = Object.keys(entity);
  for (const raw of select.split(',')) {
    const name = raw.trim();
    const key = keys.find((k) => k.toLowerCase() === name.toLowerCase());
    if (key === undefined) {
      return graphError(ctx.reply, {
        status: 400,
        code: 'BadRequest',
        message: `Could not find a property named '${name}' on type 'microsoft.graph.${type}'.`,
      });
    }
    out[key] = entity[key];
  }
  return out;
}

/** One entity, with `@odata.context` and `$select` applied. */
export function entity(
  ctx: AnswerContext,
  status: number,
  type: string,
  body: Record<string, unknown>,
  headers?: Record<string, string>,
): Response {
  const picked = selected(ctx, type, body);
  if (picked instanceof Response) return picked;
  return json(ctx.reply, status, { '@odata.context': `${ctx.serviceRoot}/$metadata#${type}`, ...picked }, headers);
}

function count(ctx: AnswerContext, name: '$top' | '$skip'): number | undefined | Response {
  const text = ctx.query.get(name);
  if (text === null) return undefined;
  if (!/^\d{1,9}$/.test(text.trim()))
    return graphError(ctx.reply, {
      status: 400,
      code: 'BadRequest',
      message: `Invalid value '${text}' for query option ${name}.`,
    });
  return Number(text);
}

/** A collection, with `$top`, `$skip` and `$select` applied to its items. */
export function collection(ctx: AnswerContext, type: string, items: readonly Record<string, unknown>[]): Response {
  const top = count(ctx, '$top');
  if (top instanceof Response) return top;
  const skip = count(ctx, '$skip');
  if (skip instanceof Response) return skip;
  const page = items.slice(skip ?? 0, top === undefined ? undefined : (skip ?? 0) + top);
  const value: Record<string, unknown>[] = [];
  for (const item of page) {
    const picked = selected(ctx, type, item);
    if (picked instanceof Response) return picked;
    value.push(picked);
  }
  return json(ctx.reply, 200, { '@odata.context': `${ctx.serviceRoot}/$metadata#Collection(${type})`, value });
}
