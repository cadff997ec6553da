import { randomUUID, timingSafeEqual } from 'node:crypto';
import { abortableDelay } from '../util/abort.js';
import { checkInRange, checkObject, checkSignal, describe } from '../util/validate.js';
import { runBatch } from './batch.js';
import { parseAddress } from './address.js';
import { Cooldowns } from './cooldowns.js';
import { driveItemAnswer } from './drive-item.js';
import {
  badFunctionArguments,
  badJson,
  cooldownRefused,
  internalError,
  itemMethodNotImplemented,
  itemNotFound,
  methodNotAllowed,
  notImplemented,
  segmentNotFound,
  unauthorized,
} from './error-answers.js';
import { type EmulatorEvent, type EventInput, EventLog } from './events.js';
import { type FaultDecision, type FaultSpec, FaultPlan } from './faults.js';
import { unsupportedQuery } from './odata.js';
import { OperationRegistry } from './operations.js';
import type { LatencyOptions, RandomFaultOptions, RouteName, WorkbookSeed, WorkbookServiceOptions } from './options.js';
import { SeededRandom } from './random.js';
import { readJson } from './request-body.js';
import type { WorkbookTarget } from './request-path.js';
import { type RequestRoute, routeRequest, unknownSegment } from './request-route.js';
import { type ResolvedOptions, checkCodes, resolveFaults, resolveLatency, resolveOptions } from './resolve-options.js';
import { DroppedConnectionError, type ReplyContext, graphError, isDroppedConnection } from './responses.js';
import { type SessionSnapshot, SessionRegistry } from './session-registry.js';
import { type Effects, type SessionRequest, SessionRoutes } from './session-routes.js';
import { type EmulatorStats, StatsRecorder } from './stats.js';
import { type FileEntry, type WorkbookFile, WorkbookFiles } from './workbook-files.js';
import type { WorkbookPath } from './workbook-path.js';
import * as calls from './workbook-routes.js';
import { type AppliedWrite, WriteLog } from './write-log.js';

export type { WorkbookFile } from './workbook-files.js';

/** Options of `WorkbookService.handle()`. */
export interface HandleOptions {
  /**
   * Aborted when whatever serves the request stops (`startEmulator`'s `close()`): a request still
   * waiting (latency, a delay fault) then takes no effect and `handle()` throws `DroppedConnectionError`.
   */
  readonly signal?: AbortSignal;
}

/** One workbook as it is now, for a live view (`WorkbookService.activity()`). */
export interface WorkbookActivity {
  /** Its key, as `openByWorkbook` and `sessions()` name it. */
  readonly workbook: string;
  /** Sessions open on it now. */
  readonly openSessions: number;
  /** Requests to it inside the service now. */
  readonly inFlight: number;
  /** How long the `Retry-After` cooldown the emulator announced for it still runs; 0 when none runs. */
  readonly cooldownMs: number;
}

/** What `handle()` learnt of a request before processing it. */
interface Routed extends RequestRoute {
  /** The file the request names, under whatever name. */
  readonly found: FileEntry | undefined;
  /** The key the file is counted under; undefined for requests that are not workbook requests. */
  readonly workbook: string | undefined;
}

/**
 * An in-memory Excel workbook session service that answers like Microsoft Graph. Serve it over
 * HTTP with `startEmulator()` or through msw with `createEmulatorHandlers()`; both go through
 * `handle()`, so they behave the same. The routes themselves live in `session-routes.ts` and
 * `workbook-routes.ts`; this class holds the state and takes each request through auth,
 * cooldowns, faults and latency to them.
 */
export class WorkbookService {
  readonly #options: ResolvedOptions;
  // Draws for jitter, random faults and the async path; advanced once per eligible request.
  readonly #rng: SeededRandom;
  readonly #files = new WorkbookFiles();
  readonly #sessions: SessionRegistry;
  readonly #sessionRoutes: SessionRoutes;
  readonly #operations: OperationRegistry;
  readonly #faults: FaultPlan;
  readonly #stats = new StatsRecorder();
  readonly #writes = new WriteLog();
  readonly #cooldowns = new Cooldowns();
  readonly #events = new EventLog();
  // Set by the constructor and setLatency().
  #latency: Required<LatencyOptions> | undefined;
  // Added to the clock by advanceTime(); only grows.
  #offsetMs = 0;
  // The stop signal handle() was given for a request (and its $batch inner requests), read by #wait().
  readonly #signals = new WeakMap<Request, AbortSignal>();

  constructor(options?: WorkbookServiceOptions) {
    this.#options = resolveOptions(options);
    this.#rng = new SeededRandom(this.#options.seed);
    // Ids come from their own stream so that creating sessions does not shift the fault sequence.
    const idRng = new SeededRandom(this.#options.seed ^ 0x5eed1d5);
    this.#sessions = new SessionRegistry(
      idRng,
      (persist) => (persist ? this.#options.persistentSessionTimeoutMs : this.#options.nonPersistentSessionTimeoutMs),
      (s) => {
        if (s.state === 'closed') this.#stats.closed += 1;
        else this.#stats.expired += 1;
        this.#endEvent(s);
      },
      (s) => {
        const at = s.createdAt;
        this.#events.record(at, { type: 'create', workbook: s.workbook, session: s.id });
      },
    );
    this.#operations = new OperationRegistry(idRng);
    this.#faults = new FaultPlan(this.#options.faults, this.#rng);
    this.#latency = this.#options.latency;
    this.#sessionRoutes = new SessionRoutes({
      options: this.#options,
      rng: this.#rng,
      sessions: this.#sessions,
      operations: this.#operations,
      stats: this.#stats,
      files: this.#files,
      now: () => this.now(),
      wait: (request, ms) => this.#wait(request, ms),
    });
    for (const [path, seed] of Object.entries(this.#options.workbooks)) this.addWorkbook(path, seed);
  }

  /** The bearer token requests must carry. */
  get token(): string {
    return this.#options.token;
  }

  /**
   * Adds a workbook file at a drive-item path, in any form Graph accepts (`/me/drive/items/{id}`,
   * `/drives/{d}/root:/{path}:`, `/sites/{s}/drives/{d}/items/{id}`, ...), and tells who the file is:
   * it can then be reached by any other name of it (its drive's id or alias, by item id or by root
   * path). A file added by id gets the name `{id}.xlsx` at the drive's root; one added by path gets
   * an item id derived from its drive and path. Throws if a file is already there.
   */
  addWorkbook(path: string, seed?: WorkbookSeed): WorkbookFile {
    return this.#files.add(path, seed, this.#safeNow());
  }

  /**
   * Says which drive a name stands for: `/me/drive`, `/users/{u}/drive`, `/groups/{g}/drive` or
   * `/sites/{s}/drive` is then the drive `driveId` (reached as `/drives/{driveId}` too). Call it
   * before adding workbooks through that name.
   */
  aliasDrive(alias: string, driveId: string): void {
    this.#files.aliasDrive(alias, driveId);
  }

  /** Who the file at `path` (any name of it) is; undefined when there is none. */
  workbookFile(path: string): WorkbookFile | undefined {
    return this.#files.info(path);
  }

  hasWorkbook(path: string): boolean {
    return this.workbookFile(path) !== undefined;
  }

  /** What the workbook file holds (not any non-persistent session's copy) in `address` of `sheet`. */
  readRange(path: string, sheet: string, address: string): unknown[][] {
    const data = this.#files.data(path);
    const found = calls.findSheet(data, sheet);
    const parsed = parseAddress(address);
    if (found === undefined)
      throw new RangeError(`The workbook ${JSON.stringify(path)} has no sheet ${JSON.stringify(sheet)}`);
    if (parsed === undefined)
      throw new RangeError(`Expected \`address\` to be an A1 address such as "A1:B2", got ${JSON.stringify(address)}`);
    return data.read(found, parsed.rect);
  }

  /** The data rows of a table in the workbook file. */
  tableRows(path: string, table: string): unknown[][] {
    const t = this.#files.data(path).table(table);
    if (t === undefined)
      throw new RangeError(`The workbook ${JSON.stringify(path)} has no table ${JSON.stringify(table)}`);
    return t.rows.map((row) => [...row]);
  }

  /** The service clock: `now()` from the options plus everything passed to `advanceTime()`. */
  now(): number {
    return this.#options.now() + this.#offsetMs;
  }

  /** Moves the service clock forward, so tests can expire sessions without waiting. */
  advanceTime(ms: number): void {
    this.#offsetMs += checkInRange('ms', ms, { min: 0 });
  }

  /** Queues a scripted fault; faults are consumed in order by the requests they match. */
  injectFault(spec: FaultSpec): void {
    // A fault for a file hits it under any of its names.
    const workbook =
      typeof spec === 'object' && spec !== null && typeof spec.workbook === 'string'
        ? this.#files.keyOrSelf(spec.workbook)
        : undefined;
    this.#faults.inject(workbook === undefined ? spec : { ...spec, workbook });
  }

  /**
   * The next async createSession operation (on `workbook`, or any) ends `failed` with this error,
   * when it would have succeeded. It waits for an operation to start; synchronous creates do not use it.
   */
  failNextOperation(
    options: {
      readonly workbook?: string;
      readonly code?: string;
      readonly innerCodes?: readonly string[];
      readonly message?: string;
    } = {},
  ): void {
    checkObject('options', options, ['workbook', 'code', 'innerCodes', 'message']);
    for (const key of ['code', 'message'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'string')
        throw new TypeError(`Expected \`${key}\` to be a string, got ${describe(options[key])}`);
    }
    this.#operations.queueFailure({
      workbook: options.workbook === undefined ? undefined : this.#files.keyOf(options.workbook),
      code: options.code ?? 'internalServerError',
      message: options.message ?? 'An internal server error occurred while processing the request.',
      innerCodes: options.innerCodes === undefined ? [] : checkCodes('innerCodes', options.innerCodes),
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
    this.#sessionRoutes.settle(this.now());
    return this.#stats.snapshot(this.#sessions.all(), this.#writes);
  }

  /**
   * The timeline: sessions created, closed and expired, requests answered, faults applied and cooldowns
   * announced, oldest first, with a `seq` above `after`. Only the last 1000 entries are kept.
   */
  events(after = 0): EmulatorEvent[] {
    checkInRange('after', after, { min: 0, integer: true });
    this.#sessionRoutes.settle(this.now());
    return this.#events.after(after);
  }

  /** Every workbook with its open sessions, requests in flight and cooldown now, in the order they were added. */
  activity(): WorkbookActivity[] {
    const now = this.now();
    this.#sessionRoutes.settle(now);
    const open = new Map<string, number>();
    for (const s of this.#sessions.all()) if (s.state === 'open') open.set(s.workbook, (open.get(s.workbook) ?? 0) + 1);
    const cooldowns = this.#cooldowns.running(now);
    const inFlight = this.#stats.inFlightByWorkbook;
    // A workbook named by requests or faults but never added shows too while anything runs on it.
    const keys = new Set([...this.#files.paths(), ...open.keys(), ...inFlight.keys(), ...cooldowns.keys()]);
    return [...keys].map((workbook) => ({
      workbook,
      openSessions: open.get(workbook) ?? 0,
      inFlight: inFlight.get(workbook) ?? 0,
      cooldownMs: cooldowns.get(workbook) ?? 0,
    }));
  }

  /** Zeroes the counters; sessions, workbooks and faults stay. */
  resetStats(): void {
    this.#stats.reset();
    this.#writes.reset();
  }

  /**
   * Every distinct non-idempotent write (table rows add) applied since the last `resetStats()`, with how
   * often. A `count` above 1 means one write reached the file more than once.
   */
  appliedWrites(): AppliedWrite[] {
    return this.#writes.entries();
  }

  /** Open sessions, on one workbook or on all. */
  openSessions(workbook?: string): number {
    const item = workbook === undefined ? undefined : this.#files.keyOf(workbook);
    return this.sessions().filter((s) => s.state === 'open' && (item === undefined || s.workbook === item)).length;
  }

  /** Every session the service has created, in order, with its state now. */
  sessions(): SessionSnapshot[] {
    this.#sessionRoutes.settle(this.now());
    return [...this.#sessions.all()].map(({ id, workbook, persistChanges, createdAt, lastActivity, state }) => ({
      id,
      workbook,
      persistChanges,
      createdAt,
      lastActivity,
      state,
    }));
  }

  /**
   * Answers one request as Graph would. Throws `DroppedConnectionError` when the fault to simulate is a
   * dropped connection; any other failure becomes a 500 in Graph's error shape.
   */
  async handle(request: Request, options: HandleOptions = {}): Promise<Response> {
    checkObject('options', options, ['signal']);
    const signal = checkSignal('signal', options.signal);
    if (signal !== undefined) this.#signals.set(request, signal);
    let workbook: string | undefined;
    let entered = false;
    let route: RequestRoute | undefined;
    // The answer, for the timeline; stays undefined for a dropped connection.
    let answer: Response | undefined;
    try {
      const url = new URL(request.url);
      route = routeRequest(request.method, url.pathname);
      const found = route.target === undefined ? undefined : this.#files.find(route.target.drive, route.target.ref);
      // One file under several names is one workbook: counted, cooled down and faulted as one.
      // `GET {item}` is a drive request, not a workbook request: it is not counted against the workbook.
      workbook = route.name === 'item' ? undefined : (found?.path ?? route.target?.item);
      this.#stats.requests += 1;
      this.#stats.byRoute[route.name] += 1;
      if (workbook !== undefined && this.#cooldowns.leftMs(workbook, this.now()) > 0)
        this.#stats.cooldownViolations += 1;
      // Counted from arrival to answer, latency included: that is what "in flight" means to a client.
      this.#stats.enter(workbook);
      entered = true;
      await this.#latencyOf(request);
      // A request still waiting when its server stopped takes no effect.
      if (this.#signals.get(request)?.aborted === true) throw new DroppedConnectionError();
      answer = await this.#process(request, url, { ...route, found, workbook });
      return answer;
    } catch (error) {
      if (isDroppedConnection(error)) throw error;
      answer = internalError(this.#context(request));
      return answer;
    } finally {
      if (entered) this.#stats.leave(workbook);
      if (route !== undefined) {
        this.#events.record(this.#safeNow(), {
          type: 'call',
          ...(workbook === undefined ? {} : { workbook }),
          route: route.name,
          method: request.method.toUpperCase(),
          ...(answer === undefined ? {} : { status: answer.status }),
        });
      }
    }
  }

  /** A closed or expired session on the timeline; a lazily noticed expiry is dated when it happened. */
  #endEvent(s: SessionSnapshot): void {
    const now = this.#safeNow();
    const timeoutMs = s.persistChanges
      ? this.#options.persistentSessionTimeoutMs
      : this.#options.nonPersistentSessionTimeoutMs;
    const at = s.state === 'closed' ? now : Math.min(now, s.lastActivity + timeoutMs);
    const event: EventInput = { type: s.state === 'closed' ? 'close' : 'expire', workbook: s.workbook, session: s.id };
    this.#events.record(at, event);
  }

  /** The latency every request waits: `fixedMs` plus a jitter drawn only when there is one. */
  async #latencyOf(request: Request): Promise<void> {
    const latency = this.#latency;
    if (latency === undefined) return;
    const ms = latency.fixedMs + (latency.jitterMs > 0 ? this.#rng.next() * latency.jitterMs : 0);
    if (ms > 0) await this.#wait(request, ms);
  }

  /**
   * Waits `ms` on the global timers (so vitest fake timers control the emulator too); a drop (no
   * effect) if the request's server stops meanwhile.
   */
  #wait(request: Request, ms: number): Promise<void> {
    return abortableDelay(ms, this.#signals.get(request)).catch(() => {
      throw new DroppedConnectionError();
    });
  }

  /** The clock for answers; falls back to Date.now if a user-supplied clock throws, so errors can still be told. */
  #safeNow(): number {
    try {
      return this.now();
    } catch {
      return Date.now();
    }
  }

  #context(request: Request): ReplyContext {
    const given = request.headers.get('client-request-id');
    return {
      requestId: randomUUID(),
      clientRequestId: given !== null && /^[\w.:{}-]{1,100}$/.test(given) ? given : undefined,
      now: this.#safeNow(),
    };
  }

  #authorized(request: Request): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
    const given = Buffer.from(m?.[1] ?? '');
    const expected = Buffer.from(this.#options.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Auth, then a strict cooldown, then the fault for the request (if any) around routing it. */
  async #process(request: Request, url: URL, r: Routed): Promise<Response> {
    const { workbook, name } = r;
    if (!this.#authorized(request)) {
      this.#stats.unauthorized += 1;
      const empty = !/^Bearer\s+\S/i.test(request.headers.get('authorization') ?? '');
      return unauthorized(this.#context(request), empty);
    }
    // `workbook` is the file under whatever name the request used; undefined for `GET {item}`, a drive
    // request that gets no cooldown and no faults.
    if (this.#options.strictCooldowns && workbook !== undefined) {
      const left = this.#cooldowns.leftMs(workbook, this.now());
      if (left > 0) {
        // What a violation costs on Graph: the request is not served. The cooldown is not lengthened.
        this.#stats.cooldownRejections += 1;
        return cooldownRefused(this.#context(request), left);
      }
    }
    const sessionId = request.headers.get('workbook-session-id');
    // Faults are keyed by the file, `GET {item}` included (only faults naming its route reach it).
    const fault = this.#faults.decide(
      name === 'item' ? r.found?.path : workbook,
      name,
      sessionId !== null && sessionId !== '',
    );
    if (fault === undefined) return this.#route(request, url, r, { created: undefined });
    this.#stats.faultsInjected += 1;
    this.#events.record(this.#safeNow(), {
      type: 'fault',
      ...(workbook === undefined ? {} : { workbook }),
      route: name,
      detail: faultDetail(fault),
    });
    if (fault.delayMs > 0) await this.#wait(request, fault.delayMs);
    if (!fault.applied) {
      // Most faults come before the request has any effect: a faulted closeSession leaves the session open.
      return this.#failWith(fault, request, workbook) ?? this.#route(request, url, r, { created: undefined });
    }
    // Applied, then failed: the request takes effect, and its answer is lost.
    const effects: Effects = { created: undefined };
    const answer = await this.#route(request, url, r, effects);
    if (effects.created !== undefined) {
      effects.created.delivered = false;
      this.#stats.undelivered += 1;
    }
    return this.#failWith(fault, request, workbook) ?? answer;
  }

  /** The drop (thrown) or the error answer of a fault, if it has one; its Retry-After starts a cooldown. */
  #failWith(fault: FaultDecision, request: Request, workbook: string | undefined): Response | undefined {
    if (fault.drop) throw new DroppedConnectionError();
    const error = fault.error;
    if (error === undefined) return undefined;
    const headers: Record<string, string> = {};
    if (error.retryAfter !== undefined) {
      headers['Retry-After'] = error.retryAfter;
      const ms = this.#cooldowns.announce(workbook, error.retryAfter, this.now());
      if (ms > 0 && workbook !== undefined)
        this.#events.record(this.now(), { type: 'cooldown', workbook, ms, detail: error.retryAfter });
    }
    return graphError(this.#context(request), { ...error, headers });
  }

  /** `$batch`, `GET {item}`, a session route or a workbook call, each checked as Graph checks it. */
  async #route(request: Request, url: URL, r: Routed, effects: Effects): Promise<Response> {
    const { target, routed, found, batchVersion } = r;
    const now = this.now();
    this.#sessionRoutes.settle(now);
    const ctx = this.#context(request);
    if (batchVersion !== undefined) return this.#batch(ctx, request, url, batchVersion);
    if (target === undefined || routed === undefined) return segmentNotFound(ctx, unknownSegment(url.pathname));
    if (found === undefined) return itemNotFound(ctx);
    const method = request.method.toUpperCase();
    if (routed.item === true) {
      if (method !== 'GET') return itemMethodNotImplemented(ctx, method);
      // `$select` is served; `$expand` and the rest would be dropped from a 200, so they get 501.
      return (
        unsupportedQuery({ reply: ctx, serviceRoot: '', query: url.searchParams }) ??
        driveItemAnswer(ctx, url, target, found)
      );
    }
    const workbookTarget: WorkbookTarget = { ...target, workbookPath: target.workbookPath ?? '' };
    if (routed.session !== undefined) {
      const s: SessionRequest = { ctx, request, url, target: workbookTarget, found, effects };
      return (
        this.#sessionRoutes.methodProblem(ctx, routed.session, request.method) ??
        (await this.#sessionRoutes.answer(s, routed.session, now))
      );
    }
    return this.#workbookCall(
      ctx,
      request,
      url,
      { target: workbookTarget, found, path: routed.path, name: r.name },
      now,
    );
  }

  async #batch(ctx: ReplyContext, request: Request, url: URL, version: string): Promise<Response> {
    if (request.method.toUpperCase() !== 'POST') return methodNotAllowed(ctx, request.method, ['POST'], '$batch');
    const body = await readJson(request);
    if (!body.ok) return badJson(ctx);
    const signal = this.#signals.get(request);
    const send = (inner: Request): Promise<Response> => this.handle(inner, signal === undefined ? {} : { signal });
    const host = {
      origin: url.origin,
      version,
      authorization: request.headers.get('authorization') ?? '',
      random: () => this.#rng.next(),
      send,
    };
    return runBatch(ctx, host, body.value);
  }

  /** A workbook call: its path and method checked, then answered on the session's data or the file's. */
  async #workbookCall(
    ctx: ReplyContext,
    request: Request,
    url: URL,
    call: { readonly target: WorkbookTarget; readonly found: FileEntry; readonly path: WorkbookPath; name: RouteName },
    now: number,
  ): Promise<Response> {
    const { target, found, path } = call;
    if (!path.ok) {
      if (path.problem === 'notImplemented')
        return notImplemented(ctx, `the segment '${path.segment}' of a ${path.parent}`);
      if (path.problem === 'arguments') return badFunctionArguments(ctx, path.segment);
      return segmentNotFound(ctx, path.segment);
    }
    const problem =
      calls.methodProblem(ctx, path.kind, request.method) ??
      unsupportedQuery({ reply: ctx, serviceRoot: '', query: url.searchParams });
    if (problem !== undefined) return problem;
    const session = this.#sessionRoutes.sessionOf(ctx, request, found, now);
    if (session instanceof Response) return session;
    const method = request.method.toUpperCase();
    let body: { value: unknown; text: string } | undefined;
    if (method === 'POST' || method === 'PATCH') {
      const read = await readJson(request);
      if (!read.ok) return badJson(ctx);
      body = read;
    }
    const answer = calls.answer(
      { reply: ctx, serviceRoot: `${url.origin}/${target.version}`, query: url.searchParams },
      session?.data ?? found.data,
      path.steps,
      method,
      body?.value,
    );
    // Each table-row append that took effect is logged, so a test can tell a write applied twice.
    if (call.name === 'tableRowsAdd' && answer.ok) {
      this.#writes.record(
        found.path,
        call.name,
        target.workbookPath.toLowerCase(),
        body?.text ?? '',
        request.headers.get('client-request-id'),
      );
    }
    return answer;
  }
}

/** A fault as the timeline tells it: `429`, `drop`, `delay 1000 ms, then 503`, `504 after applying`. */
function faultDetail(fault: FaultDecision): string {
  const outcome = fault.drop ? 'drop' : fault.error === undefined ? 'answered' : String(fault.error.status);
  const what = fault.applied ? `${outcome} after applying` : outcome;
  return fault.delayMs > 0 ? `delay ${fault.delayMs} ms, then ${what}` : what;
}
