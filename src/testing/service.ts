import { randomUUID, timingSafeEqual } from 'node:crypto';
import { describe } from '../validate.js';
import { type FaultDecision, type FaultSpec, FaultPlan, canonicalWorkbook } from './faults.js';
import { OperationRegistry } from './operations.js';
import {
  type LatencyOptions,
  type RandomFaultOptions,
  type ResolvedOptions,
  type WorkbookSeed,
  type WorkbookServiceOptions,
  checkNumber,
  checkObject,
  resolveFaults,
  resolveLatency,
  resolveOptions,
} from './options.js';
import { parseAddress } from './address.js';
import { SeededRandom } from './random.js';
import { type Route, type WorkbookTarget, parseItem, parseRoute, parseWorkbookTarget } from './request-path.js';
import { type RouteName } from './options.js';
import { runBatch } from './batch.js';
import { notImplemented, unsupportedQuery } from './odata.js';
import { type WorkbookPath, parseWorkbookPath, routeNameOf } from './workbook-path.js';
import { DroppedConnectionError, type ReplyContext, graphError, isDroppedConnection, json, noContent } from './responses.js';
import { type SessionRecord, type SessionSnapshot, SessionRegistry } from './session-registry.js';
import { type EmulatorStats, StatsRecorder } from './stats.js';
import { WorkbookData } from './workbook-model.js';
import * as calls from './workbook-routes.js';

/** The session routes and their methods; workbook calls take theirs from workbook-routes.ts. */
const SESSION_METHODS: Readonly<Record<string, readonly string[]>> = {
  createSession: ['POST'],
  refreshSession: ['POST'],
  closeSession: ['POST'],
  operation: ['GET'],
  sessionInfo: ['GET'],
};

/** A request's route: a session route, or a workbook call with its parsed path. */
type Target = { readonly session: Route; readonly path?: undefined } | { readonly session?: undefined; readonly path: WorkbookPath };

function targetOf(workbookPath: string): Target {
  const route = parseRoute(workbookPath);
  if (SESSION_METHODS[route.name] !== undefined) return { session: route };
  return { path: parseWorkbookPath(workbookPath) };
}

/** The segment Graph names for a path that is not a workbook call: the first one after the item, or the last. */
function unknownSegment(pathname: string): string {
  const rest = pathname.replace(/^\/(?:v1\.0|beta)(?=\/)/, '');
  const item = parseItem(rest);
  const segments = (item === undefined ? rest : item.rest).split('/').filter((x) => x !== '');
  return decodeURIComponent((item === undefined ? segments.at(-1) : segments[0]) ?? '').replace(/\(.*$/s, '');
}


const SESSION_GONE = 'The session specified in the request does not exist or is invalid due to a transient error.';

/**
 * An in-memory Excel workbook session service that answers like Microsoft Graph. Serve it over
 * HTTP with `startEmulator()` or through msw with `createEmulatorHandlers()`; both go through
 * `handle()`, so they behave the same.
 */
export class WorkbookService {
  readonly #options: ResolvedOptions;
  // Draws for jitter, random faults and the async path; advanced once per eligible request.
  readonly #rng: SeededRandom;
  // Workbook files by canonical drive-item path; added by the constructor and addWorkbook().
  readonly #files = new Map<string, WorkbookData>();
  readonly #sessions: SessionRegistry;
  readonly #operations: OperationRegistry;
  readonly #faults: FaultPlan;
  readonly #stats = new StatsRecorder();
  // Per workbook, when the last announced Retry-After ends (service clock); overwritten by each new one.
  readonly #cooldownUntil = new Map<string, number>();
  // Set by the constructor and setLatency().
  #latency: Required<LatencyOptions> | undefined;
  // Added to the clock by advanceTime(); only grows.
  #offsetMs = 0;

  constructor(options?: WorkbookServiceOptions) {
    this.#options = resolveOptions(options);
    this.#rng = new SeededRandom(this.#options.seed);
    // Ids come from their own stream so that creating sessions does not shift the fault sequence.
    const idRng = new SeededRandom(this.#options.seed ^ 0x5eed1d5);
    this.#sessions = new SessionRegistry(idRng, (persist) => (persist ? this.#options.persistentSessionTimeoutMs : this.#options.nonPersistentSessionTimeoutMs), (s) => {
      if (s.state === 'closed') this.#stats.closed += 1;
      else this.#stats.expired += 1;
    });
    this.#operations = new OperationRegistry(idRng);
    this.#faults = new FaultPlan(this.#options.faults, this.#rng);
    this.#latency = this.#options.latency;
    for (const [path, seed] of Object.entries(this.#options.workbooks)) this.addWorkbook(path, seed);
  }

  /** The bearer token requests must carry. */
  get token(): string {
    return this.#options.token;
  }

  /** Adds a workbook file at a drive-item path. Throws if one is already there. */
  addWorkbook(path: string, seed?: WorkbookSeed): void {
    const item = canonicalWorkbook(path, 'path');
    if (this.#files.has(item)) throw new Error(`The workbook ${JSON.stringify(path)} already exists`);
    if (seed !== undefined) checkObject(seed, 'seed', ['worksheets', 'names']);
    this.#files.set(item, WorkbookData.fromSeed(path, seed));
  }

  hasWorkbook(path: string): boolean {
    try {
      return this.#files.has(canonicalWorkbook(path, 'path'));
    } catch {
      return false;
    }
  }

  /** What the workbook file holds (not any non-persistent session's copy) in `address` of `sheet`. */
  readRange(path: string, sheet: string, address: string): unknown[][] {
    const data = this.#file(path);
    const found = calls.findSheet(data, sheet);
    const parsed = parseAddress(address);
    if (found === undefined) throw new RangeError(`The workbook ${JSON.stringify(path)} has no sheet ${JSON.stringify(sheet)}`);
    if (parsed === undefined) throw new RangeError(`Expected \`address\` to be an A1 address such as "A1:B2", got ${JSON.stringify(address)}`);
    return data.read(found, parsed.rect);
  }

  /** The data rows of a table in the workbook file. */
  tableRows(path: string, table: string): unknown[][] {
    const t = this.#file(path).table(table);
    if (t === undefined) throw new RangeError(`The workbook ${JSON.stringify(path)} has no table ${JSON.stringify(table)}`);
    return t.rows.map((row) => [...row]);
  }

  #file(path: string): WorkbookData {
    const data = this.#files.get(canonicalWorkbook(path, 'path'));
    if (data === undefined) throw new RangeError(`No workbook at ${JSON.stringify(path)}`);
    return data;
  }

  /** The service clock: `now()` from the options plus everything passed to `advanceTime()`. */
  now(): number {
    return this.#options.now() + this.#offsetMs;
  }

  /** Moves the service clock forward, so tests can expire sessions without waiting. */
  advanceTime(ms: number): void {
    this.#offsetMs += checkNumber(ms, 'ms', 0);
  }

  /** Queues a scripted fault; faults are consumed in order by the requests they match. */
  injectFault(spec: FaultSpec): void {
    this.#faults.inject(spec);
  }

  /**
   * The next async createSession operation (on `workbook`, or any) ends `failed` with this error,
   * when it would have succeeded. It waits for an operation to start; synchronous creates do not use it.
   */
  failNextOperation(options: { readonly workbook?: string; readonly code?: string; readonly message?: string } = {}): void {
    checkObject(options, 'options', ['workbook', 'code', 'message']);
    for (const key of ['code', 'message'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'string') throw new TypeError(`Expected \`${key}\` to be a string, got ${describe(options[key])}`);
    }
    this.#operations.queueFailure({
      workbook: options.workbook === undefined ? undefined : canonicalWorkbook(options.workbook, 'workbook'),
      code: options.code ?? 'internalServerError',
      message: options.message ?? 'An internal server error occurred while processing the request.',
    });
  }

  /** Replaces the random faults; `undefined` turns them off. */
  setFaults(options: RandomFaultOptions | undefined): void {
    this.#faults.setRandom(resolveFaults(options));
  }

  /** Replaces the latency; `undefined` turns it off. */
  setLatency(options: LatencyOptions | undefined): void {
    this.#latency = resolveLatency(options);
  }

  /** Makes the service forget a session, as if it had expired. Returns false if it was not open. */
  expireSession(id: string): boolean {
    const session = this.#sessions.get(id);
    if (session === undefined || session.state !== 'open') return false;
    this.#sessions.end(session, 'expired');
    return true;
  }

  stats(): EmulatorStats {
    this.#sessions.sweep(this.now());
    const s = this.#stats;
    const openByWorkbook: Record<string, number> = {};
    let open = 0;
    for (const session of this.#sessions.all()) {
      if (session.state !== 'open') continue;
      open += 1;
      openByWorkbook[session.workbook] = (openByWorkbook[session.workbook] ?? 0) + 1;
    }
    const maxInFlightByWorkbook = Object.fromEntries(s.maxByWorkbook);
    return {
      created: s.created,
      closed: s.closed,
      expired: s.expired,
      open,
      refreshed: s.refreshed,
      requests: s.requests,
      requestsByRoute: { ...s.byRoute },
      faultsInjected: s.faultsInjected,
      maxInFlightPerWorkbook: Math.max(0, ...s.maxByWorkbook.values()),
      maxInFlightByWorkbook,
      inFlight: s.inFlight,
      cooldownViolations: s.cooldownViolations,
      openByWorkbook,
      unauthorized: s.unauthorized,
    };
  }

  /** Zeroes the counters; sessions, workbooks and faults stay. */
  resetStats(): void {
    this.#stats.reset();
  }

  /** Open sessions, on one workbook or on all. */
  openSessions(workbook?: string): number {
    const item = workbook === undefined ? undefined : canonicalWorkbook(workbook, 'workbook');
    return this.sessions().filter((s) => s.state === 'open' && (item === undefined || s.workbook === item)).length;
  }

  /** Every session the service has created, in order, with its state now. */
  sessions(): SessionSnapshot[] {
    this.#sessions.sweep(this.now());
    return [...this.#sessions.all()].map(({ id, workbook, persistChanges, createdAt, lastActivity, state }) => ({ id, workbook, persistChanges, createdAt, lastActivity, state }));
  }

  /**
   * Answers one request as Graph would. Throws `DroppedConnectionError` when the fault to simulate is a
   * dropped connection; any other failure becomes a 500 in Graph's error shape.
   */
  async handle(request: Request): Promise<Response> {
    let workbook: string | undefined;
    let entered = false;
    try {
      const url = new URL(request.url);
      const batch = /^\/(v1\.0|beta)\/\$batch\/?$/i.exec(url.pathname);
      const target = batch === null ? parseWorkbookTarget(url.pathname) : undefined;
      const routed: Target | undefined = target === undefined ? undefined : targetOf(target.workbookPath);
      const name: RouteName = batch !== null ? 'batch' : routed === undefined ? 'other' : routed.session !== undefined ? routeNameOfSession(routed.session) : routeNameOf(routed.path, request.method);
      workbook = target?.item;
      this.#stats.requests += 1;
      this.#stats.byRoute[name] += 1;
      if (workbook !== undefined && (this.#cooldownUntil.get(workbook) ?? -Infinity) > this.now()) this.#stats.cooldownViolations += 1;
      // Counted from arrival to answer, latency included: that is what "in flight" means to a client.
      this.#stats.enter(workbook);
      entered = true;
      const latency = this.#latency;
      if (latency !== undefined) {
        const ms = latency.fixedMs + (latency.jitterMs > 0 ? this.#rng.next() * latency.jitterMs : 0);
        if (ms > 0) await sleep(ms);
      }
      return await this.#process(request, url, target, routed, name, batch?.[1]);
    } catch (error) {
      if (isDroppedConnection(error)) throw error;
      return graphError(this.#context(request), { status: 500, code: 'internalServerError', innerCode: 'internalServerErrorUncategorized', message: 'An unspecified error has occurred.' });
    } finally {
      if (entered) this.#stats.leave(workbook);
    }
  }

  /** The clock for answers; falls back to Date.now if a user-supplied clock throws, so errors can still be reported. */
  #safeNow(): number {
    try {
      return this.now();
    } catch {
      return Date.now();
    }
  }

  #context(request: Request): ReplyContext {
    const given = request.headers.get('client-request-id');
    return { requestId: randomUUID(), clientRequestId: given !== null && /^[\w.:{}-]{1,100}$/.test(given) ? given : undefined, now: this.#safeNow() };
  }

  #authorized(request: Request): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
    const given = Buffer.from(m?.[1] ?? '');
    const expected = Buffer.from(this.#options.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Applies a fault's delay and drop; returns its error answer, if it has one. */
  async #applyFault(fault: FaultDecision, request: Request, workbook: string | undefined): Promise<Response | undefined> {
    this.#stats.faultsInjected += 1;
    if (fault.delayMs > 0) await sleep(fault.delayMs);
    if (fault.drop) throw new DroppedConnectionError();
    const error = fault.error;
    if (error === undefined) return undefined;
    const headers: Record<string, string> = {};
    if (error.retryAfterSeconds !== undefined) {
      // Graph sends whole seconds; a fractional option is rounded up.
      const seconds = Math.ceil(error.retryAfterSeconds);
      headers['Retry-After'] = String(seconds);
      // A shorter Retry-After does not shorten a cooldown already announced.
      if (workbook !== undefined) {
        const until = this.now() + seconds * 1000;
        this.#cooldownUntil.set(workbook, Math.max(this.#cooldownUntil.get(workbook) ?? -Infinity, until));
      }
    }
    return graphError(this.#context(request), { ...error, headers });
  }

  async #process(request: Request, url: URL, target: WorkbookTarget | undefined, routed: Target | undefined, name: RouteName, batchVersion: string | undefined): Promise<Response> {
    if (!this.#authorized(request)) {
      this.#stats.unauthorized += 1;
      const empty = !/^Bearer\s+\S/i.test(request.headers.get('authorization') ?? '');
      return graphError(this.#context(request), {
        status: 401,
        code: 'InvalidAuthenticationToken',
        message: empty ? 'Access token is empty.' : 'Access token validation failure. Invalid audience.',
        headers: { 'WWW-Authenticate': 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"' },
      });
    }
    // Faults come before the request has any effect: a faulted closeSession leaves the session open.
    const fault = this.#faults.decide(target?.item, name);
    if (fault !== undefined) {
      const answer = await this.#applyFault(fault, request, target?.item);
      if (answer !== undefined) return answer;
    }
    const now = this.now();
    this.#sessions.sweep(now);
    const ctx = this.#context(request);
    if (batchVersion !== undefined) {
      if (request.method.toUpperCase() !== 'POST') return graphError(ctx, { status: 405, code: 'methodNotAllowed', innerCode: 'methodNotAllowedUncategorized', message: `The HTTP method '${request.method}' is not allowed on $batch.`, headers: { Allow: 'POST' } });
      const body = await readJson(request);
      if (!body.ok) return badJson(ctx);
      return runBatch(ctx, { origin: url.origin, version: batchVersion, authorization: request.headers.get('authorization') ?? '', random: () => this.#rng.next(), send: (r) => this.handle(r) }, body.value);
    }
    if (target === undefined || routed === undefined) {
      return graphError(ctx, { status: 400, code: 'invalidRequest', innerCode: 'badRequestUncategorized', message: `Resource not found for the segment '${unknownSegment(url.pathname)}'.` });
    }
    const file = this.#files.get(target.item);
    if (file === undefined) return graphError(ctx, { status: 404, code: 'itemNotFound', message: 'The resource could not be found.' });
    const path = routed.path;
    if (path !== undefined && !path.ok) {
      if (path.problem === 'notImplemented') return notImplemented(ctx, `the segment '${path.segment}' of a ${path.parent}`);
      return graphError(ctx, { status: 400, code: 'invalidRequest', innerCode: 'badRequestUncategorized', message: `Resource not found for the segment '${path.segment}'.` });
    }
    const route = routed.session;
    if (route !== undefined) {
      const allowed = SESSION_METHODS[route.name] ?? [];
      if (!allowed.includes(request.method.toUpperCase())) {
        return graphError(ctx, {
          status: 405,
          code: 'methodNotAllowed',
          innerCode: 'methodNotAllowedUncategorized',
          message: `The HTTP method '${request.method}' is not allowed on this resource.`,
          headers: { Allow: allowed.join(', ') },
        });
      }
    } else if (path !== undefined && path.ok) {
      const problem = calls.methodProblem(ctx, path.kind, request.method) ?? unsupportedQuery({ reply: ctx, serviceRoot: '', query: url.searchParams });
      if (problem !== undefined) return problem;
    }
    switch (route?.name) {
      case 'createSession':
        return this.#createSession(ctx, request, url, target, file);
      case 'operation':
        return this.#pollOperation(ctx, url, target, route.operationId);
      case 'sessionInfo': {
        const session = this.#sessions.byInfoKey(route.key);
        if (session === undefined || session.workbook !== target.item) return graphError(ctx, { status: 404, code: 'itemNotFound', message: 'The resource could not be found.' });
        if (session.state !== 'open') return graphError(ctx, { status: 404, code: 'itemNotFound', innerCode: 'invalidSessionReCreatable', message: SESSION_GONE });
        session.lastActivity = now;
        return json(ctx, 200, { '@odata.context': metadata(url, target, 'workbookSessionInfo'), id: session.id, persistChanges: session.persistChanges });
      }
      default:
        break;
    }
    const sessionId = request.headers.get('workbook-session-id');
    if ((sessionId === null || sessionId === '') && (route?.name === 'refreshSession' || route?.name === 'closeSession')) {
      return graphError(ctx, { status: 400, code: 'invalidRequest', innerCode: 'badRequestUncategorized', message: `${route.name} needs the workbook-session-id header.` });
    }
    let session: SessionRecord | undefined;
    if (sessionId !== null && sessionId !== '') {
      session = this.#sessions.get(sessionId);
      if (session === undefined || session.state !== 'open' || session.workbook !== target.item) {
        return graphError(ctx, { status: 404, code: 'itemNotFound', innerCode: 'invalidSessionReCreatable', message: SESSION_GONE });
      }
      session.lastActivity = now;
    }
    const data = session?.data ?? file;
    if (route?.name === 'refreshSession') {
      this.#stats.refreshed += 1;
      return noContent(ctx);
    }
    if (route?.name === 'closeSession') {
      if (session !== undefined) this.#sessions.end(session, 'closed');
      return noContent(ctx);
    }
    if (path === undefined || !path.ok) throw new Error('unhandled route');
    const method = request.method.toUpperCase();
    let body: unknown;
    if (method === 'POST' || method === 'PATCH') {
      const read = await readJson(request);
      if (!read.ok) return badJson(ctx);
      body = read.value;
    }
    return calls.answer({ reply: ctx, serviceRoot: `${url.origin}/${target.version}`, query: url.searchParams }, data, path.steps, method, body);
  }

  /** A missing body counts as `persistChanges: false`; Graph's docs always send it. */
  async #createSession(ctx: ReplyContext, request: Request, url: URL, target: WorkbookTarget, file: WorkbookData): Promise<Response> {
    const body = await readJson(request);
    if (!body.ok) return badJson(ctx);
    const value = body.value ?? {};
    const persist = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { persistChanges?: unknown }).persistChanges ?? false : undefined;
    if (typeof persist !== 'boolean') {
      return graphError(ctx, { status: 400, code: 'invalidArgument', message: 'The argument is invalid or missing or has an incorrect format: persistChanges must be a boolean.' });
    }
    const rate = this.#options.asyncRate;
    if (rate > 0 && /\brespond-async\b/i.test(request.headers.get('prefer') ?? '') && this.#rng.next() < rate) {
      const op = this.#operations.start(target.item, persist, this.now());
      return json(ctx, 202, {}, { Location: `${url.origin}/${target.version}${target.rawItem}/workbook/operations/${op.id}` });
    }
    const session = this.#openSession(target.item, persist, file);
    return json(ctx, 201, { '@odata.context': metadata(url, target, 'workbookSessionInfo'), id: session.id, persistChanges: persist });
  }

  #openSession(item: string, persist: boolean, file: WorkbookData): SessionRecord {
    this.#stats.created += 1;
    // A non-persistent session edits its own copy, dropped when it ends.
    return this.#sessions.create(item, persist, persist ? file : file.clone(), this.now());
  }

  #pollOperation(ctx: ReplyContext, url: URL, target: WorkbookTarget, operationId: string): Response {
    const op = this.#operations.get(operationId);
    if (op === undefined || op.workbook !== target.item) return graphError(ctx, { status: 404, code: 'itemNotFound', message: 'The resource could not be found.' });
    if (op.status === 'notStarted' || op.status === 'running') {
      op.polls += 1;
      const file = this.#files.get(op.workbook);
      if (op.polls === 1) op.status = 'notStarted';
      else if (this.now() - op.startedAt < this.#options.asyncDurationMs) op.status = 'running';
      else if (op.failure !== undefined || file === undefined) op.status = 'failed';
      else {
        op.sessionId = this.#openSession(op.workbook, op.persistChanges, file).id;
        op.status = 'succeeded';
      }
    }
    const body: Record<string, unknown> = { '@odata.context': metadata(url, target, 'workbookOperation'), id: op.id, status: op.status };
    if (op.status === 'succeeded' && op.sessionId !== undefined) {
      const key = this.#sessions.get(op.sessionId)?.infoKey ?? '';
      body['resourceLocation'] = `${url.origin}/${target.version}${target.rawItem}/workbook/sessionInfoResource(key='${key}')`;
    }
    if (op.status === 'failed') body['error'] = op.failure ?? { code: 'internalServerError', message: 'An unspecified error has occurred.' };
    return json(ctx, 200, body);
  }
}

/** `@odata.context` of an answer of `type`, on the request's own origin and version. */
function metadata(url: URL, target: WorkbookTarget, type: string): string {
  return `${url.origin}/${target.version}/$metadata#${type}`;
}

function routeNameOfSession(route: Route): RouteName {
  return route.name === 'createSession' || route.name === 'refreshSession' || route.name === 'closeSession' || route.name === 'operation' || route.name === 'sessionInfo' ? route.name : 'other';
}

/** The global setTimeout (not node:timers/promises), so vitest fake timers control emulator latency too. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readJson(request: Request): Promise<{ ok: true; value: unknown } | { ok: false }> {
  const text = await request.text();
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function badJson(ctx: ReplyContext): Response {
  return graphError(ctx, { status: 400, code: 'invalidArgument', message: 'The request body is not valid JSON.' });
}
