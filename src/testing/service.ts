import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { describe } from '../util/validate.js';
import { type FaultDecision, type FaultSpec, FaultPlan, canonicalWorkbook, cooldownMs } from './faults.js';
import { type OperationFailure, OperationRegistry } from './operations.js';
import {
  type LatencyOptions,
  type RandomFaultOptions,
  type ResolvedOptions,
  type WorkbookSeed,
  type WorkbookServiceOptions,
  checkCodes,
  checkNumber,
  checkObject,
  resolveFaults,
  resolveLatency,
  resolveOptions,
} from './options.js';
import { parseAddress } from './address.js';
import { runBatch } from './batch.js';
import { notImplemented, unsupportedQuery } from './odata.js';
import type { RouteName } from './options.js';
import { SeededRandom } from './random.js';
import {
  type DriveRef,
  type ItemRef,
  type ItemTarget,
  type WorkbookTarget,
  parseItem,
  parseItemTarget,
} from './request-path.js';
import {
  type SessionRoute,
  type WorkbookPath,
  parseSessionRoute,
  parseWorkbookPath,
  routeNameOf,
} from './workbook-path.js';
import {
  DroppedConnectionError,
  type ReplyContext,
  codesForStatus,
  errorChain,
  graphError,
  isDroppedConnection,
  json,
  noContent,
} from './responses.js';
import { type SessionRecord, type SessionSnapshot, SessionRegistry } from './session-registry.js';
import { type EmulatorStats, StatsRecorder } from './stats.js';
import { WorkbookData } from './workbook-model.js';
import * as calls from './workbook-routes.js';
import { type AppliedWrite, WriteLog } from './write-log.js';

/** The session routes and their methods; workbook calls take theirs from workbook-routes.ts. */
const SESSION_METHODS: Readonly<Record<string, readonly string[]>> = {
  createSession: ['POST'],
  refreshSession: ['POST'],
  closeSession: ['POST'],
  operation: ['GET'],
  sessionInfo: ['GET'],
};

/** A request's route: `GET {item}`, a session route, or a workbook call with its parsed path. */
type Target =
  | { readonly item: true; readonly session?: undefined; readonly path?: undefined }
  | { readonly item?: undefined; readonly session: SessionRoute; readonly path?: undefined }
  | { readonly item?: undefined; readonly session?: undefined; readonly path: WorkbookPath };

function targetOf(workbookPath: string | undefined): Target {
  if (workbookPath === undefined) return { item: true };
  const session = parseSessionRoute(workbookPath);
  return session === undefined ? { path: parseWorkbookPath(workbookPath) } : { session };
}

function routeNameOfTarget(target: Target, method: string): RouteName {
  if (target.item === true) return 'item';
  if (target.session !== undefined) return target.session.name;
  return routeNameOf(target.path, method);
}

/** The segment Graph names for a path that is not a workbook call: the first one after the item, or the last. */
function unknownSegment(pathname: string): string {
  const rest = pathname.replace(/^\/(?:v1\.0|beta)(?=\/)/, '');
  const item = parseItem(rest);
  const segments = (item === undefined ? rest : item.rest).split('/').filter((x) => x !== '');
  return decodeURIComponent((item === undefined ? segments.at(-1) : segments[0]) ?? '').replace(/\(.*$/s, '');
}

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** Options of `WorkbookService.handle()`. */
export interface HandleOptions {
  /**
   * Aborted when whatever serves the request stops (`startEmulator`'s `close()`): a request still
   * waiting (latency, a delay fault) then takes no effect and `handle()` throws `DroppedConnectionError`.
   */
  readonly signal?: AbortSignal;
}

/** Who a workbook file is, whatever name a request gives it. */
export interface WorkbookFile {
  /** The drive-item path it was added under (canonical): the key stats and sessions name it by. */
  readonly path: string;
  /** `parentReference.driveId`. */
  readonly driveId: string;
  /** The item's `id` on its drive. */
  readonly itemId: string;
  /** Its path from the drive's root, such as `/Reports/Q1 Sales.xlsx`. */
  readonly rootPath: string;
}

interface FileEntry extends WorkbookFile {
  readonly data: WorkbookData;
  readonly createdAt: string;
}

/** What `handle()` learnt of a request before processing it. */
interface Routed {
  readonly target: ItemTarget | undefined;
  readonly routed: Target | undefined;
  readonly name: RouteName;
  /** Set for `POST /{version}/$batch`. */
  readonly batchVersion: string | undefined;
  /** The file the request names, under whatever name. */
  readonly found: FileEntry | undefined;
  /** The key the file is counted under; undefined for requests that are not workbook requests. */
  readonly workbook: string | undefined;
}

const SESSION_GONE = 'The session specified in the request does not exist or is invalid due to a transient error.';

/** How a createSession beyond `maxSessionsPerWorkbook` fails. Graph documents no answer for this: a throttling one whose third-level code says why. */
const SESSION_CAP = {
  code: 'tooManyRequests',
  innerCodes: ['tooManyRequestsUncategorized', 'MaxSessionsPerWorkbookExceeded'],
  message: 'The workbook has too many open sessions. Close a session and try again.',
} as const;

/** What handling one request did that an applied-then-failed fault must know about. */
interface Effects {
  // Set by a createSession that answered 201 with this session.
  created: SessionRecord | undefined;
}

/** The top-level code of a failed operation, from its second-level code. */
function topLevelCodeOf(innerCode: string): string {
  const code = innerCode.toLowerCase();
  if (code === 'transientfailure' || code === 'serviceunavailableuncategorized') return 'serviceUnavailable';
  if (code === 'toomanyrequestsuncategorized') return 'tooManyRequests';
  if (code === 'accessdenied' || code === 'forbiddenuncategorized') return 'forbidden';
  if (code === 'gatewaytimeoutuncategorized') return 'gatewayTimeout';
  if (code === 'accessconflict' || code === 'conflictuncategorized' || code === 'invalidsessionaccessconflict')
    return 'conflict';
  return 'internalServerError';
}

/**
 * An in-memory Excel workbook session service that answers like Microsoft Graph. Serve it over
 * HTTP with `startEmulator()` or through msw with `createEmulatorHandlers()`; both go through
 * `handle()`, so they behave the same.
 */
export class WorkbookService {
  readonly #options: ResolvedOptions;
  // Draws for jitter, random faults and the async path; advanced once per eligible request.
  readonly #rng: SeededRandom;
  // Workbook files by the canonical path they were added under; added by the constructor and addWorkbook().
  readonly #files = new Map<string, FileEntry>();
  // The same files by drive id and item id, and by drive id and lower-cased root path (names
  // compare case-insensitively on OneDrive and SharePoint); filled with #files.
  readonly #byId = new Map<string, FileEntry>();
  readonly #byPath = new Map<string, FileEntry>();
  // Drive ids of the names that stand for a drive (`/me/drive`, `/users/{u}/drive`, ...); set by
  // aliasDrive(). An alias not set names a drive of its own, with an id derived from the alias.
  readonly #driveAliases = new Map<string, string>();
  readonly #sessions: SessionRegistry;
  readonly #operations: OperationRegistry;
  readonly #faults: FaultPlan;
  readonly #stats = new StatsRecorder();
  readonly #writes = new WriteLog();
  // Per workbook, when the last announced Retry-After ends (service clock); overwritten by each new one.
  readonly #cooldownUntil = new Map<string, number>();
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
      },
    );
    this.#operations = new OperationRegistry(idRng);
    this.#faults = new FaultPlan(this.#options.faults, this.#rng);
    this.#latency = this.#options.latency;
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
    const key = canonicalWorkbook(path, 'path');
    const parsed = parseItem(path);
    if (parsed === undefined) throw new TypeError(`Expected \`path\` to be a drive-item path, got ${describe(path)}`);
    if (seed !== undefined) checkObject(seed, 'seed', ['worksheets', 'names']);
    const driveId = this.#driveId(parsed.drive);
    const itemId =
      parsed.ref.kind === 'id' ? parsed.ref.id : `01${hash(`${driveId}\n${parsed.ref.path.toLowerCase()}`)}`;
    const rootPath = parsed.ref.kind === 'path' ? parsed.ref.path : `/${itemId}.xlsx`;
    const byId = `${driveId}\n${itemId}`;
    const byPath = `${driveId}\n${rootPath.toLowerCase()}`;
    if (this.#files.has(key) || this.#byId.has(byId) || this.#byPath.has(byPath))
      throw new Error(`The workbook ${JSON.stringify(path)} already exists`);
    const entry: FileEntry = {
      path: key,
      driveId,
      itemId,
      rootPath,
      data: WorkbookData.fromSeed(path, seed),
      createdAt: new Date(this.#safeNow()).toISOString(),
    };
    this.#files.set(key, entry);
    this.#byId.set(byId, entry);
    this.#byPath.set(byPath, entry);
    return { path: key, driveId, itemId, rootPath };
  }

  /**
   * Says which drive a name stands for: `/me/drive`, `/users/{u}/drive`, `/groups/{g}/drive` or
   * `/sites/{s}/drive` is then the drive `driveId` (reached as `/drives/{driveId}` too). Call it
   * before adding workbooks through that name.
   */
  aliasDrive(alias: string, driveId: string): void {
    const parsed = typeof alias === 'string' ? parseItem(`${alias}/items/x`) : undefined;
    if (parsed === undefined || parsed.drive.kind !== 'alias' || parsed.rest !== '') {
      throw new TypeError(
        `Expected \`alias\` to be /me/drive, /users/{user}/drive, /groups/{group}/drive or /sites/{site}/drive, got ${describe(alias)}`,
      );
    }
    if (typeof driveId !== 'string' || driveId === '' || /[/\s]/.test(driveId))
      throw new TypeError(`Expected \`driveId\` to be a drive id, got ${describe(driveId)}`);
    this.#driveAliases.set(parsed.drive.alias, driveId);
  }

  /** Who the file at `path` (any name of it) is; undefined when there is none. */
  workbookFile(path: string): WorkbookFile | undefined {
    const parsed = typeof path === 'string' ? parseItem(path) : undefined;
    const entry = parsed === undefined || parsed.rest !== '' ? undefined : this.#find(parsed.drive, parsed.ref);
    return entry === undefined
      ? undefined
      : { path: entry.path, driveId: entry.driveId, itemId: entry.itemId, rootPath: entry.rootPath };
  }

  hasWorkbook(path: string): boolean {
    return this.workbookFile(path) !== undefined;
  }

  #driveId(drive: DriveRef): string {
    if (drive.kind === 'id') return drive.id;
    return (
      this.#driveAliases.get(drive.alias) ??
      `b!${createHash('sha256').update(drive.alias).digest('base64url').slice(0, 40)}`
    );
  }

  #find(drive: DriveRef, ref: ItemRef): FileEntry | undefined {
    const driveId = this.#driveId(drive);
    return ref.kind === 'id'
      ? this.#byId.get(`${driveId}\n${ref.id}`)
      : this.#byPath.get(`${driveId}\n${ref.path.toLowerCase()}`);
  }

  /** The key a workbook is counted under: its file's, when there is one; else the name's canonical form. */
  #keyOf(path: string): string {
    const parsed = parseItem(path);
    if (parsed === undefined || parsed.rest !== '') return canonicalWorkbook(path, 'workbook');
    return this.#find(parsed.drive, parsed.ref)?.path ?? parsed.item;
  }

  /** What the workbook file holds (not any non-persistent session's copy) in `address` of `sheet`. */
  readRange(path: string, sheet: string, address: string): unknown[][] {
    const data = this.#file(path);
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
    const t = this.#file(path).table(table);
    if (t === undefined)
      throw new RangeError(`The workbook ${JSON.stringify(path)} has no table ${JSON.stringify(table)}`);
    return t.rows.map((row) => [...row]);
  }

  #file(path: string): WorkbookData {
    canonicalWorkbook(path, 'path');
    const parsed = parseItem(path);
    const entry = parsed === undefined ? undefined : this.#find(parsed.drive, parsed.ref);
    if (entry === undefined) throw new RangeError(`No workbook at ${JSON.stringify(path)}`);
    return entry.data;
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
    // A fault for a file hits it under any of its names.
    const workbook =
      typeof spec === 'object' && spec !== null && typeof spec.workbook === 'string'
        ? this.#keyOrSelf(spec.workbook)
        : undefined;
    this.#faults.inject(workbook === undefined ? spec : { ...spec, workbook });
  }

  #keyOrSelf(path: string): string {
    try {
      return this.#keyOf(path);
    } catch {
      return path;
    }
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
    checkObject(options, 'options', ['workbook', 'code', 'innerCodes', 'message']);
    for (const key of ['code', 'message'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'string')
        throw new TypeError(`Expected \`${key}\` to be a string, got ${describe(options[key])}`);
    }
    this.#operations.queueFailure({
      workbook: options.workbook === undefined ? undefined : this.#keyOf(options.workbook),
      code: options.code ?? 'internalServerError',
      message: options.message ?? 'An internal server error occurred while processing the request.',
      innerCodes: options.innerCodes === undefined ? [] : checkCodes(options.innerCodes, 'innerCodes'),
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
    this.#settle(this.now());
    const s = this.#stats;
    const openByWorkbook: Record<string, number> = {};
    let open = 0;
    let openUndelivered = 0;
    for (const session of this.#sessions.all()) {
      if (session.state !== 'open') continue;
      open += 1;
      if (!session.delivered) openUndelivered += 1;
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
      cooldownRejections: s.cooldownRejections,
      sessionCapRejections: s.sessionCapRejections,
      undelivered: s.undelivered,
      openUndelivered,
      writesApplied: this.#writes.applied,
      writesRepeated: this.#writes.repeated,
    };
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
    const item = workbook === undefined ? undefined : this.#keyOf(workbook);
    return this.sessions().filter((s) => s.state === 'open' && (item === undefined || s.workbook === item)).length;
  }

  /** Every session the service has created, in order, with its state now. */
  sessions(): SessionSnapshot[] {
    this.#settle(this.now());
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
    checkObject(options, 'options', ['signal']);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
      throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${describe(options.signal)}`);
    if (options.signal !== undefined) this.#signals.set(request, options.signal);
    let workbook: string | undefined;
    let entered = false;
    try {
      const url = new URL(request.url);
      const batch = /^\/(v1\.0|beta)\/\$batch\/?$/i.exec(url.pathname);
      const target = batch === null ? parseItemTarget(url.pathname) : undefined;
      const routed: Target | undefined = target === undefined ? undefined : targetOf(target.workbookPath);
      const name: RouteName =
        batch !== null ? 'batch' : routed === undefined ? 'other' : routeNameOfTarget(routed, request.method);
      const file = target === undefined ? undefined : this.#find(target.drive, target.ref);
      // One file under several names is one workbook: counted, cooled down and faulted as one.
      // `GET {item}` is a drive request, not a workbook request: it is not counted against the workbook.
      workbook = name === 'item' ? undefined : (file?.path ?? target?.item);
      this.#stats.requests += 1;
      this.#stats.byRoute[name] += 1;
      if (workbook !== undefined && (this.#cooldownUntil.get(workbook) ?? -Infinity) > this.now())
        this.#stats.cooldownViolations += 1;
      // Counted from arrival to answer, latency included: that is what "in flight" means to a client.
      this.#stats.enter(workbook);
      entered = true;
      const latency = this.#latency;
      if (latency !== undefined) {
        const ms = latency.fixedMs + (latency.jitterMs > 0 ? this.#rng.next() * latency.jitterMs : 0);
        if (ms > 0) await this.#wait(request, ms);
      }
      // A request still waiting when its server stopped takes no effect.
      if (this.#signals.get(request)?.aborted === true) throw new DroppedConnectionError();
      return await this.#process(request, url, {
        target,
        routed,
        name,
        batchVersion: batch?.[1],
        found: file,
        workbook,
      });
    } catch (error) {
      if (isDroppedConnection(error)) throw error;
      return graphError(this.#context(request), {
        status: 500,
        code: 'internalServerError',
        innerCode: 'internalServerErrorUncategorized',
        message: 'An unspecified error has occurred.',
      });
    } finally {
      if (entered) this.#stats.leave(workbook);
    }
  }

  /** Waits `ms` on the service's timers; a drop (no effect) if the request's server stops meanwhile. */
  #wait(request: Request, ms: number): Promise<void> {
    const signal = this.#signals.get(request);
    if (signal === undefined) return sleep(ms);
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(new DroppedConnectionError());
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new DroppedConnectionError());
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
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

  /** Applies a fault's delay, then its drop; returns its error answer, if it has one. */
  async #applyFault(
    fault: FaultDecision,
    request: Request,
    workbook: string | undefined,
  ): Promise<Response | undefined> {
    this.#stats.faultsInjected += 1;
    if (fault.delayMs > 0) await this.#wait(request, fault.delayMs);
    return this.#failWith(fault, request, workbook);
  }

  /** The drop (thrown) or the error answer of a fault, if it has one; its Retry-After starts a cooldown. */
  #failWith(fault: FaultDecision, request: Request, workbook: string | undefined): Response | undefined {
    if (fault.drop) throw new DroppedConnectionError();
    const error = fault.error;
    if (error === undefined) return undefined;
    const headers: Record<string, string> = {};
    if (error.retryAfter !== undefined) {
      headers['Retry-After'] = error.retryAfter;
      const ms = cooldownMs(error.retryAfter, this.now());
      // A shorter Retry-After does not shorten a cooldown already announced.
      if (workbook !== undefined && ms > 0) {
        const until = this.now() + ms;
        this.#cooldownUntil.set(workbook, Math.max(this.#cooldownUntil.get(workbook) ?? -Infinity, until));
      }
    }
    return graphError(this.#context(request), { ...error, headers });
  }

  async #process(request: Request, url: URL, r: Routed): Promise<Response> {
    const { workbook, name } = r;
    if (!this.#authorized(request)) {
      this.#stats.unauthorized += 1;
      const empty = !/^Bearer\s+\S/i.test(request.headers.get('authorization') ?? '');
      return graphError(this.#context(request), {
        status: 401,
        code: 'InvalidAuthenticationToken',
        message: empty ? 'Access token is empty.' : 'Access token validation failure. Invalid audience.',
        headers: {
          'WWW-Authenticate':
            'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"',
        },
      });
    }
    // `workbook` is the file under whatever name the request used; undefined for `GET {item}`, a drive
    // request that gets no cooldown and no faults.
    if (this.#options.strictCooldowns && workbook !== undefined) {
      const left = (this.#cooldownUntil.get(workbook) ?? -Infinity) - this.now();
      if (left > 0) {
        // What a violation costs on Graph: the request is not served. The cooldown is not lengthened.
        this.#stats.cooldownRejections += 1;
        const codes = codesForStatus(429);
        return graphError(this.#context(request), {
          ...codes,
          status: 429,
          headers: { 'Retry-After': String(Math.ceil(left / 1000)) },
        });
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
    if (!fault.applied) {
      // Most faults come before the request has any effect: a faulted closeSession leaves the session open.
      const answer = await this.#applyFault(fault, request, workbook);
      return answer ?? this.#route(request, url, r, { created: undefined });
    }
    // Applied, then failed: the request takes effect, and its answer is lost.
    this.#stats.faultsInjected += 1;
    if (fault.delayMs > 0) await this.#wait(request, fault.delayMs);
    const effects: Effects = { created: undefined };
    const answer = await this.#route(request, url, r, effects);
    if (effects.created !== undefined) {
      effects.created.delivered = false;
      this.#stats.undelivered += 1;
    }
    return this.#failWith(fault, request, workbook) ?? answer;
  }

  async #route(request: Request, url: URL, r: Routed, effects: Effects): Promise<Response> {
    const { target, routed, found, batchVersion } = r;
    const now = this.now();
    this.#settle(now);
    const ctx = this.#context(request);
    if (batchVersion !== undefined) {
      if (request.method.toUpperCase() !== 'POST') {
        return graphError(ctx, {
          status: 405,
          code: 'methodNotAllowed',
          innerCode: 'methodNotAllowedUncategorized',
          message: `The HTTP method '${request.method}' is not allowed on $batch.`,
          headers: { Allow: 'POST' },
        });
      }
      const body = await readJson(request);
      if (!body.ok) return badJson(ctx);
      const signal = this.#signals.get(request);
      const send = (inner: Request): Promise<Response> => this.handle(inner, signal === undefined ? {} : { signal });
      return runBatch(
        ctx,
        {
          origin: url.origin,
          version: batchVersion,
          authorization: request.headers.get('authorization') ?? '',
          random: () => this.#rng.next(),
          send,
        },
        body.value,
      );
    }
    if (target === undefined || routed === undefined) {
      return graphError(ctx, {
        status: 400,
        code: 'invalidRequest',
        innerCode: 'badRequestUncategorized',
        message: `Resource not found for the segment '${unknownSegment(url.pathname)}'.`,
      });
    }
    if (found === undefined)
      return graphError(ctx, { status: 404, code: 'itemNotFound', message: 'The resource could not be found.' });
    const file = found.data;
    if (routed.item === true) {
      if (request.method.toUpperCase() !== 'GET') {
        return graphError(ctx, {
          status: 501,
          code: 'notImplemented',
          message: `The emulator does not implement ${request.method.toUpperCase()} on a drive item; only GET.`,
        });
      }
      // `$select` is served; `$expand` and the rest would be dropped from a 200, so they get 501.
      return (
        unsupportedQuery({ reply: ctx, serviceRoot: '', query: url.searchParams }) ??
        this.#driveItem(ctx, url, target, found)
      );
    }
    const workbookTarget: WorkbookTarget = { ...target, workbookPath: target.workbookPath ?? '' };
    const path = routed.path;
    if (path !== undefined && !path.ok) {
      if (path.problem === 'notImplemented')
        return notImplemented(ctx, `the segment '${path.segment}' of a ${path.parent}`);
      if (path.problem === 'arguments') {
        return graphError(ctx, {
          status: 400,
          code: 'invalidRequest',
          innerCode: 'badRequestUncategorized',
          message: `The arguments of the function call '${path.segment}' are not its parameters (named, none unknown, none missing).`,
        });
      }
      return graphError(ctx, {
        status: 400,
        code: 'invalidRequest',
        innerCode: 'badRequestUncategorized',
        message: `Resource not found for the segment '${path.segment}'.`,
      });
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
      const problem =
        calls.methodProblem(ctx, path.kind, request.method) ??
        unsupportedQuery({ reply: ctx, serviceRoot: '', query: url.searchParams });
      if (problem !== undefined) return problem;
    }
    switch (route?.name) {
      case 'createSession':
        return this.#createSession(ctx, request, url, workbookTarget, found, effects);
      case 'operation':
        return this.#pollOperation(ctx, url, workbookTarget, found, route.operationId);
      case 'sessionInfo': {
        const session = this.#sessions.byInfoKey(route.key);
        if (session === undefined || session.workbook !== found.path)
          return graphError(ctx, { status: 404, code: 'itemNotFound', message: 'The resource could not be found.' });
        if (session.state !== 'open')
          return graphError(ctx, {
            status: 404,
            code: 'itemNotFound',
            innerCode: 'invalidSessionReCreatable',
            message: SESSION_GONE,
          });
        session.lastActivity = now;
        return json(ctx, 200, {
          '@odata.context': metadata(url, workbookTarget, 'workbookSessionInfo'),
          id: session.id,
          persistChanges: session.persistChanges,
        });
      }
      default:
        break;
    }
    const sessionId = request.headers.get('workbook-session-id');
    if (
      (sessionId === null || sessionId === '') &&
      (route?.name === 'refreshSession' || route?.name === 'closeSession')
    ) {
      return graphError(ctx, {
        status: 400,
        code: 'invalidRequest',
        innerCode: 'badRequestUncategorized',
        message: `${route.name} needs the workbook-session-id header.`,
      });
    }
    let session: SessionRecord | undefined;
    if (sessionId !== null && sessionId !== '') {
      session = this.#sessions.get(sessionId);
      if (session === undefined || session.state !== 'open' || session.workbook !== found.path) {
        return graphError(ctx, {
          status: 404,
          code: 'itemNotFound',
          innerCode: 'invalidSessionReCreatable',
          message: SESSION_GONE,
        });
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
    let body: { value: unknown; text: string } | undefined;
    if (method === 'POST' || method === 'PATCH') {
      const read = await readJson(request);
      if (!read.ok) return badJson(ctx);
      body = read;
    }
    const answer = calls.answer(
      { reply: ctx, serviceRoot: `${url.origin}/${target.version}`, query: url.searchParams },
      data,
      path.steps,
      method,
      body?.value,
    );
    // Each table-row append that took effect is logged, so a test can tell a write applied twice.
    if (r.name === 'tableRowsAdd' && answer.ok) {
      this.#writes.record(
        found.path,
        r.name,
        workbookTarget.workbookPath.toLowerCase(),
        body?.text ?? '',
        request.headers.get('client-request-id'),
      );
    }
    return answer;
  }

  /**
   * `GET {item}`: the file's driveItem under whatever name the request gave it, with the
   * properties `$select` names (all of these when it names none; names it does not know are left out).
   */
  #driveItem(ctx: ReplyContext, url: URL, target: ItemTarget, file: FileEntry): Response {
    const slash = file.rootPath.lastIndexOf('/');
    const folder = file.rootPath.slice(0, slash);
    const parentId =
      folder === '' ? `01${hash(`${file.driveId}\nroot`)}` : `01${hash(`${file.driveId}\n${folder.toLowerCase()}`)}`;
    const item: Record<string, unknown> = {
      id: file.itemId,
      name: file.rootPath.slice(slash + 1),
      createdDateTime: file.createdAt,
      lastModifiedDateTime: file.createdAt,
      file: { mimeType: XLSX },
      parentReference: {
        driveId: file.driveId,
        driveType: 'business',
        id: parentId,
        path: `/drives/${file.driveId}/root:${folder}`,
      },
    };
    const select = (url.searchParams.get('$select') ?? url.searchParams.get('select') ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    const picked =
      select.length === 0
        ? item
        : Object.fromEntries(
            Object.entries(item).filter(([name]) => select.some((s) => s.toLowerCase() === name.toLowerCase())),
          );
    const entity = select.length === 0 ? 'items' : `items(${select.join(',')})`;
    const context = `${url.origin}/${target.version}/$metadata#drives('${file.driveId}')/${entity}/$entity`;
    return json(ctx, 200, { '@odata.context': context, ...picked });
  }

  /** A missing body counts as `persistChanges: false`; Graph's docs always send it. */
  async #createSession(
    ctx: ReplyContext,
    request: Request,
    url: URL,
    target: WorkbookTarget,
    found: FileEntry,
    effects: Effects,
  ): Promise<Response> {
    const body = await readJson(request);
    if (!body.ok) return badJson(ctx);
    const value = body.value ?? {};
    const unknown = calls.unknownParameter(ctx, value, ['persistChanges'], 'createSession');
    if (unknown !== undefined) return unknown;
    const persist =
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? ((value as { persistChanges?: unknown }).persistChanges ?? false)
        : undefined;
    if (typeof persist !== 'boolean') {
      return calls.invalidArgument(
        ctx,
        'The argument is invalid or missing or has an incorrect format: persistChanges must be a boolean.',
      );
    }
    if (this.#atSessionCap(found.path)) {
      this.#stats.sessionCapRejections += 1;
      return graphError(ctx, {
        ...SESSION_CAP,
        status: 429,
        innerCode: SESSION_CAP.innerCodes[0],
        deeperCodes: SESSION_CAP.innerCodes.slice(1),
      });
    }
    const rate = this.#options.asyncRate;
    if (rate > 0 && /\brespond-async\b/i.test(request.headers.get('prefer') ?? '') && this.#rng.next() < rate) {
      const op = this.#operations.start(found.path, persist, this.now(), this.#randomOperationFailure());
      return json(
        ctx,
        202,
        {},
        { Location: `${url.origin}/${target.version}${target.rawItem}/workbook/operations/${op.id}` },
      );
    }
    const session = this.#openSession(found.path, persist, found.data);
    effects.created = session;
    return json(ctx, 201, {
      '@odata.context': metadata(url, target, 'workbookSessionInfo'),
      id: session.id,
      persistChanges: persist,
    });
  }

  /** Whether the workbook already has `maxSessionsPerWorkbook` sessions open (after expiring idle ones). */
  #atSessionCap(item: string, at = this.now()): boolean {
    if (this.#options.maxSessionsPerWorkbook === Infinity) return false;
    this.#sessions.sweep(at);
    return this.#sessions.openOn(item) >= this.#options.maxSessionsPerWorkbook;
  }

  /**
   * Settles every async createSession whose duration has passed, polled or not: Graph makes the
   * session when the operation completes, so one nobody polls for still exists (undelivered) and
   * expires, as it would on Graph. Then expires idle sessions. The session's clock starts at completion.
   */
  #settle(now: number): void {
    for (const op of [...this.#operations.unsettled()]) {
      const at = op.startedAt + this.#options.asyncDurationMs;
      if (at > now) continue;
      this.#operations.settle(op);
      const file = this.#files.get(op.workbook)?.data;
      if (op.failure !== undefined || file === undefined) continue;
      if (this.#atSessionCap(op.workbook, at)) {
        this.#stats.sessionCapRejections += 1;
        op.failure = { code: SESSION_CAP.code, message: SESSION_CAP.message, innerCodes: SESSION_CAP.innerCodes };
        continue;
      }
      const session = this.#openSession(op.workbook, op.persistChanges, file, at);
      // Nobody knows its id until a poll answers `succeeded`.
      session.delivered = false;
      op.sessionId = session.id;
    }
    this.#sessions.sweep(now);
  }

  /** A failure drawn for a new operation from `asyncCreate.failRate`; draws nothing when the rate is 0. */
  #randomOperationFailure(): OperationFailure | undefined {
    const { asyncFailRate: rate, asyncFailCodes: codes } = this.#options;
    if (rate === 0) return undefined;
    const hit = this.#rng.next() < rate;
    const inner = codes[this.#rng.int(codes.length)] ?? 'transientFailure';
    if (!hit) return undefined;
    return { code: topLevelCodeOf(inner), message: 'The operation failed (injected fault).', innerCodes: [inner] };
  }

  #openSession(item: string, persist: boolean, file: WorkbookData, at = this.now()): SessionRecord {
    this.#stats.created += 1;
    // A non-persistent session edits its own copy, dropped when it ends.
    return this.#sessions.create(item, persist, persist ? file : file.clone(), at);
  }

  #pollOperation(ctx: ReplyContext, url: URL, target: WorkbookTarget, found: FileEntry, operationId: string): Response {
    const op = this.#operations.get(operationId);
    if (op === undefined || op.workbook !== found.path)
      return graphError(ctx, { status: 404, code: 'itemNotFound', message: 'The resource could not be found.' });
    if (op.status === 'notStarted' || op.status === 'running') {
      op.polls += 1;
      // #settle() has fixed the outcome once the duration passed; the first poll still sees notStarted.
      if (op.polls === 1) op.status = 'notStarted';
      else if (this.now() - op.startedAt < this.#options.asyncDurationMs) op.status = 'running';
      else if (op.sessionId === undefined) op.status = 'failed';
      else {
        op.status = 'succeeded';
        const session = this.#sessions.get(op.sessionId);
        if (session !== undefined) session.delivered = true;
      }
    }
    const body: Record<string, unknown> = {
      '@odata.context': metadata(url, target, 'workbookOperation'),
      id: op.id,
      status: op.status,
    };
    if (op.status === 'succeeded' && op.sessionId !== undefined) {
      const key = this.#sessions.get(op.sessionId)?.infoKey ?? '';
      body['resourceLocation'] =
        `${url.origin}/${target.version}${target.rawItem}/workbook/sessionInfoResource(key='${key}')`;
    }
    if (op.status === 'failed') {
      const failure = op.failure ?? {
        code: 'internalServerError',
        message: 'An unspecified error has occurred.',
        innerCodes: [],
      };
      // The workbookOperationError resource spells the nested key `innererror`.
      const inner = errorChain(failure.innerCodes, failure.message, 'innererror');
      body['error'] = {
        code: failure.code,
        message: failure.message,
        ...(inner === undefined ? {} : { innererror: inner }),
      };
    }
    return json(ctx, 200, body);
  }
}

/** `@odata.context` of an answer of `type`, on the request's own origin and version. */
function metadata(url: URL, target: WorkbookTarget, type: string): string {
  return `${url.origin}/${target.version}/$metadata#${type}`;
}

/** A stable id-like hex digest: the same name always gives the same id. */
function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32).toUpperCase();
}

/** The global setTimeout (not node:timers/promises), so vitest fake timers control emulator latency too. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readJson(request: Request): Promise<{ ok: true; value: unknown; text: string } | { ok: false }> {
  const text = await request.text();
  if (text.trim() === '') return { ok: true, value: undefined, text };
  try {
    return { ok: true, value: JSON.parse(text) as unknown, text };
  } catch {
    return { ok: false };
  }
}

function badJson(ctx: ReplyContext): Response {
  return calls.invalidArgument(ctx, 'The request body is not valid JSON.');
}
