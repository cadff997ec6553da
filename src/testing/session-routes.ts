import {
  SESSION_CAP,
  badJson,
  invalidArgument,
  itemNotFound,
  methodNotAllowed,
  sessionCapReached,
  sessionGone,
  sessionHeaderMissing,
  unknownParameter,
} from './error-answers.js';
import type { OperationFailure, OperationRecord, OperationRegistry } from './operations.js';
import type { SeededRandom } from './random.js';
import { readJson } from './request-body.js';
import type { WorkbookTarget } from './request-path.js';
import type { ResolvedOptions } from './resolve-options.js';
import { type ReplyContext, errorChain, json, noContent, topLevelCodeOf } from './responses.js';
import type { SessionRecord, SessionRegistry } from './session-registry.js';
import type { StatsRecorder } from './stats.js';
import type { FileEntry, WorkbookFiles } from './workbook-files.js';
import type { WorkbookData } from './workbook-model.js';
import type { SessionRoute } from './workbook-path.js';

/**
 * The session routes (createSession, refreshSession, closeSession, the long-running create's
 * operation and its sessionInfoResource), and which session a sessionful workbook call runs in.
 */

/** What the session routes share with the service. */
export interface SessionHost {
  readonly options: ResolvedOptions;
  readonly rng: SeededRandom;
  readonly sessions: SessionRegistry;
  readonly operations: OperationRegistry;
  readonly stats: StatsRecorder;
  readonly files: WorkbookFiles;
  /** The service clock. */
  now(): number;
  /** Waits on the timers; rejects with `DroppedConnectionError` if the request's server stops meanwhile. */
  wait(request: Request, ms: number): Promise<void>;
}

/** What handling one request did that an applied-then-failed fault must know about. */
export interface Effects {
  // Set by a createSession that answered 201 with this session.
  created: SessionRecord | undefined;
}

/** One request on a session route, as the service has parsed it. */
export interface SessionRequest {
  readonly ctx: ReplyContext;
  readonly request: Request;
  readonly url: URL;
  readonly target: WorkbookTarget;
  readonly found: FileEntry;
  readonly effects: Effects;
}

/** The session routes and their methods; workbook calls take theirs from workbook-routes.ts. */
const SESSION_METHODS: Readonly<Record<SessionRoute['name'], readonly string[]>> = {
  createSession: ['POST'],
  refreshSession: ['POST'],
  closeSession: ['POST'],
  operation: ['GET'],
  sessionInfo: ['GET'],
};

export class SessionRoutes {
  readonly #host: SessionHost;

  constructor(host: SessionHost) {
    this.#host = host;
  }

  /** A 405 when the route does not take the method; undefined when it does. */
  methodProblem(ctx: ReplyContext, route: SessionRoute, method: string): Response | undefined {
    const allowed = SESSION_METHODS[route.name];
    return allowed.includes(method.toUpperCase()) ? undefined : methodNotAllowed(ctx, method, allowed);
  }

  /** Answers a session route whose method `methodProblem` accepted. */
  async answer(r: SessionRequest, route: SessionRoute, now: number): Promise<Response> {
    switch (route.name) {
      case 'createSession':
        return this.#create(r);
      case 'operation':
        return this.#poll(r, route.operationId);
      case 'sessionInfo':
        return this.#info(r, route.key, now);
      case 'refreshSession':
      case 'closeSession': {
        const id = r.request.headers.get('workbook-session-id');
        if (id === null || id === '') return sessionHeaderMissing(r.ctx, route.name);
        const session = this.sessionOf(r.ctx, r.request, r.found, now);
        if (session instanceof Response) return session;
        if (route.name === 'refreshSession') this.#host.stats.refreshed += 1;
        else if (session !== undefined) this.#host.sessions.end(session, 'closed');
        return noContent(r.ctx);
      }
    }
  }

  /**
   * The open session the request's `workbook-session-id` names on this file (its inactivity clock
   * restarted), undefined for a sessionless request, or the 404 Graph gives for a gone session.
   */
  sessionOf(ctx: ReplyContext, request: Request, found: FileEntry, now: number): SessionRecord | undefined | Response {
    const id = request.headers.get('workbook-session-id');
    if (id === null || id === '') return undefined;
    const session = this.#host.sessions.get(id);
    if (session === undefined || session.state !== 'open' || session.workbook !== found.path) return sessionGone(ctx);
    session.lastActivity = now;
    return session;
  }

  /**
   * Settles every async createSession whose duration has passed, polled or not: Graph makes the
   * session when the operation completes, so one nobody polls for still exists (undelivered) and
   * expires, as it would on Graph. Then expires idle sessions. The session's clock starts at completion.
   */
  settle(now: number): void {
    const { operations, stats, files, sessions } = this.#host;
    for (const op of [...operations.unsettled()]) {
      const at = op.startedAt + op.durationMs;
      if (at > now) continue;
      operations.settle(op);
      const file = files.byKey(op.workbook)?.data;
      if (op.failure !== undefined || file === undefined) continue;
      if (this.#atSessionCap(op.workbook, at)) {
        stats.sessionCapRejections += 1;
        op.failure = { code: SESSION_CAP.code, message: SESSION_CAP.message, innerCodes: SESSION_CAP.innerCodes };
        continue;
      }
      const session = this.#openSession(op.workbook, op.persistChanges, file, at);
      // Nobody knows its id until a poll answers `succeeded`.
      session.delivered = false;
      op.sessionId = session.id;
    }
    sessions.sweep(now);
  }

  /** A missing body counts as `persistChanges: false`; Graph's docs always send it. */
  async #create(r: SessionRequest): Promise<Response> {
    const { ctx, request, url, target, found } = r;
    const host = this.#host;
    const body = await readJson(request);
    if (!body.ok) return badJson(ctx);
    const value = body.value ?? {};
    const unknown = unknownParameter(ctx, value, ['persistChanges'], 'createSession');
    if (unknown !== undefined) return unknown;
    const persist =
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? ((value as { persistChanges?: unknown }).persistChanges ?? false)
        : undefined;
    if (typeof persist !== 'boolean') {
      return invalidArgument(
        ctx,
        'The argument is invalid or missing or has an incorrect format: persistChanges must be a boolean.',
      );
    }
    if (this.#atSessionCap(found.path)) return this.#capReached(ctx);
    const durationMs = this.#createDuration();
    const rate = host.options.asyncRate;
    if (rate > 0 && /\brespond-async\b/i.test(request.headers.get('prefer') ?? '') && host.rng.next() < rate) {
      const op = this.#startOperation(found.path, persist, durationMs);
      const location = `${url.origin}/${target.version}${target.rawItem}/workbook/operations/${op.id}`;
      return json(ctx, 202, {}, { Location: location });
    }
    if (durationMs > 0) {
      await host.wait(request, durationMs);
      // Other creates may have made sessions on the workbook meanwhile.
      if (this.#atSessionCap(found.path)) return this.#capReached(ctx);
    }
    const session = this.#openSession(found.path, persist, found.data);
    r.effects.created = session;
    return json(ctx, 201, {
      '@odata.context': metadata(url, target, 'workbookSessionInfo'),
      id: session.id,
      persistChanges: persist,
    });
  }

  /** How long this create takes: `createSessionDelayMs` plus a jitter drawn only when there is one. */
  #createDuration(): number {
    const { fixedMs, jitterMs } = this.#host.options.createSession;
    return fixedMs + (jitterMs > 0 ? this.#host.rng.next() * jitterMs : 0);
  }

  /** An operation that cannot complete before its session is made, however short `asyncCreate.durationMs`. */
  #startOperation(workbook: string, persist: boolean, createMs: number): OperationRecord {
    const host = this.#host;
    const durationMs = Math.max(host.options.asyncDurationMs, createMs);
    return host.operations.start(workbook, persist, { now: host.now(), durationMs }, this.#randomOperationFailure());
  }

  #capReached(ctx: ReplyContext): Response {
    this.#host.stats.sessionCapRejections += 1;
    return sessionCapReached(ctx);
  }

  /** Whether the workbook already has `maxSessionsPerWorkbook` sessions open (after expiring idle ones). */
  #atSessionCap(item: string, at = this.#host.now()): boolean {
    const { options, sessions } = this.#host;
    if (options.maxSessionsPerWorkbook === Infinity) return false;
    sessions.sweep(at);
    return sessions.openOn(item) >= options.maxSessionsPerWorkbook;
  }

  /** A failure drawn for a new operation from `asyncCreate.failRate`; draws nothing when the rate is 0. */
  #randomOperationFailure(): OperationFailure | undefined {
    const { options, rng } = this.#host;
    const { asyncFailRate: rate, asyncFailCodes: codes } = options;
    if (rate === 0) return undefined;
    const hit = rng.next() < rate;
    const inner = codes[rng.int(codes.length)] ?? 'transientFailure';
    if (!hit) return undefined;
    return { code: topLevelCodeOf(inner), message: 'The operation failed (injected fault).', innerCodes: [inner] };
  }

  #openSession(item: string, persist: boolean, file: WorkbookData, at = this.#host.now()): SessionRecord {
    const { sessions, stats } = this.#host;
    // A non-persistent session edits its own copy, dropped when it ends.
    const session = sessions.create(item, persist, persist ? file : file.clone(), at);
    sessions.sweep(at);
    stats.opened(item, sessions.openOn(item));
    return session;
  }

  #info(r: SessionRequest, key: string, now: number): Response {
    const session = this.#host.sessions.byInfoKey(key);
    if (session === undefined || session.workbook !== r.found.path) return itemNotFound(r.ctx);
    if (session.state !== 'open') return sessionGone(r.ctx);
    session.lastActivity = now;
    return json(r.ctx, 200, {
      '@odata.context': metadata(r.url, r.target, 'workbookSessionInfo'),
      id: session.id,
      persistChanges: session.persistChanges,
    });
  }

  #poll(r: SessionRequest, operationId: string): Response {
    const { ctx, url, target, found } = r;
    const { operations, sessions } = this.#host;
    const op = operations.get(operationId);
    if (op === undefined || op.workbook !== found.path) return itemNotFound(ctx);
    if (op.status === 'notStarted' || op.status === 'running') {
      op.polls += 1;
      // settle() has fixed the outcome once the duration passed; the first poll still sees notStarted.
      if (op.polls === 1) op.status = 'notStarted';
      else if (this.#host.now() - op.startedAt < op.durationMs) op.status = 'running';
      else if (op.sessionId === undefined) op.status = 'failed';
      else {
        op.status = 'succeeded';
        const session = sessions.get(op.sessionId);
        if (session !== undefined) session.delivered = true;
      }
    }
    const body: Record<string, unknown> = {
      '@odata.context': metadata(url, target, 'workbookOperation'),
      id: op.id,
      status: op.status,
    };
    if (op.status === 'succeeded' && op.sessionId !== undefined) {
      const key = sessions.get(op.sessionId)?.infoKey ?? '';
      body['resourceLocation'] =
        `${url.origin}/${target.version}${target.rawItem}/workbook/sessionInfoResource(key='${key}')`;
    }
    if (op.status === 'failed') body['error'] = operationError(op.failure);
    return json(ctx, 200, body);
  }
}

/** The `error` of a failed operation; the workbookOperationError resource spells the nested key `innererror`. */
function operationError(failure: OperationFailure | undefined): Record<string, unknown> {
  const { code, message, innerCodes } = failure ?? {
    code: 'internalServerError',
    message: 'An unspecified error has occurred.',
    innerCodes: [],
  };
  const inner = errorChain(innerCodes, message, 'innererror');
  return { code, message, ...(inner === undefined ? {} : { innererror: inner }) };
}

/** `@odata.context` of an answer of `type`, on the request's own origin and version. */
function metadata(url: URL, target: WorkbookTarget, type: string): string {
  return `${url.origin}/${target.version}/$metadata#${type}`;
}
