/**
 * Per-request options that stop a Graph client's RetryHandler from resending and its
 * RedirectHandler from following, whatever copy of `@microsoft/microsoft-graph-client` built the
 * client.
 *
 * The handlers look their per-request options up by class: RetryHandler by its own options'
 * constructor, RedirectHandler by its module's `RedirectHandlerOptions`, and both only when the
 * request's `MiddlewareControl` is an instance of their module's class. Options built from our copy
 * of the package are therefore ignored by a client from another copy (npm installs one when the
 * application pins another version), and the client would resend a POST that got 504 and follow a
 * redirect to another host with the session id. So the options are built from the classes found on
 * the client's own middleware chain, and checked against the handlers once, in memory, before the
 * manager sends anything: a client that would still retry or redirect is refused.
 */

/** A middleware as the Graph client's chain holds it; the built-in ones keep their next in `nextMiddleware`. */
interface ChainLink {
  readonly nextMiddleware?: unknown;
  readonly setNext?: unknown;
  readonly execute?: unknown;
  readonly options?: unknown;
  readonly getOptions?: unknown;
}

type OptionsClass = new (...args: unknown[]) => object;

interface Guarded {
  readonly handler: ChainLink & { getOptions(context: object): unknown };
  /** `maxRetries` for a RetryHandler, `maxRedirects` for a RedirectHandler. */
  readonly limit: 'maxRetries' | 'maxRedirects';
}

// Results per client: the chain is fixed when the client is built.
const checked = new WeakMap<object, readonly object[]>();

/**
 * The middleware options to pass with every request on `client` so that it neither retries nor
 * follows redirects. Throws a TypeError naming the problem when the client cannot be made safe.
 */
export function safeRequestOptions(client: object): readonly object[] {
  const known = checked.get(client);
  if (known !== undefined) return known;
  const guarded = findHandlers(client);
  const options: object[] = [];
  for (const { handler, limit } of guarded) {
    for (const Class of optionClasses(handler)) {
      if (options.some((o) => o.constructor === Class)) continue;
      options.push(disabled(Class, limit, handler));
    }
  }
  verify(client, guarded, options);
  checked.set(client, options);
  return options;
}

function refuse(problem: string): never {
  throw new TypeError(
    `The Graph client cannot be used safely: ${problem}. Build it with createGraphClient() or ` +
      'createBearerClient(), or with Client.initWithMiddleware() from one copy of @microsoft/microsoft-graph-client',
  );
}

function nameOf(value: unknown): string {
  const name = (value as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'an anonymous middleware';
}

/** Walks the client's chain and returns its RetryHandlers and RedirectHandlers. */
function findHandlers(client: object): Guarded[] {
  const httpClient = (client as { httpClient?: { middleware?: unknown } }).httpClient;
  let link: unknown = httpClient?.middleware;
  if (typeof link !== 'object' || link === null)
    refuse('its middleware chain cannot be found (not a Client from @microsoft/microsoft-graph-client 3)');
  const seen = new Set<unknown>();
  const guarded: Guarded[] = [];
  while (typeof link === 'object' && link !== null && !seen.has(link)) {
    seen.add(link);
    const m = link as ChainLink;
    const options = m.options as Record<string, unknown> | undefined;
    const name = nameOf(m);
    const limit =
      typeof options?.['maxRetries'] === 'number'
        ? 'maxRetries'
        : typeof options?.['maxRedirects'] === 'number'
          ? 'maxRedirects'
          : undefined;
    if (limit !== undefined && typeof m.getOptions === 'function') {
      guarded.push({ handler: m as Guarded['handler'], limit });
    } else if (/^(Retry|Redirect)Handler$/.test(name)) {
      refuse(`its ${name} does not have the shape of @microsoft/microsoft-graph-client 3's`);
    }
    // A middleware that links on but hides its next could hide a RetryHandler behind it.
    if (m.nextMiddleware === undefined && typeof m.setNext === 'function') {
      refuse(
        `the middleware after ${name} cannot be seen ` +
          "(keep it in a `nextMiddleware` property, as the Graph client's own middleware do)",
      );
    }
    link = m.nextMiddleware;
  }
  return guarded;
}

/** The option classes a handler may look its per-request options up by. */
function optionClasses(handler: Guarded['handler']): OptionsClass[] {
  const classes = new Set<OptionsClass>();
  const own = (handler.options as { constructor?: unknown }).constructor;
  if (typeof own === 'function') classes.add(own as OptionsClass);
  try {
    // Without a MiddlewareControl of its own copy, a handler falls back to a fresh instance of the
    // class its module uses for the lookup.
    const fallback = (handler.getOptions({}) as { constructor?: unknown } | undefined)?.constructor;
    if (typeof fallback === 'function') classes.add(fallback as OptionsClass);
  } catch {
    /* verify() decides whether the handler can be made safe */
  }
  return [...classes];
}

function disabled(Class: OptionsClass, limit: Guarded['limit'], handler: object): object {
  let option: object;
  try {
    // RetryHandlerOptions(delay, maxRetries), RedirectHandlerOptions(maxRedirects).
    option = limit === 'maxRetries' ? new Class(0, 0) : new Class(0);
  } catch (error) {
    return refuse(
      `its ${nameOf(handler)}'s options cannot be set to 0 (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if ((option as Record<string, unknown>)[limit] !== 0)
    refuse(`its ${nameOf(handler)}'s options do not take ${limit} = 0`);
  return option;
}

/**
 * Runs one request through the client's own request builder with a stand-in for its HTTP layer, to
 * get the `MiddlewareControl` its copy builds, then asks every handler which options it would use.
 * Nothing is sent.
 */
function verify(client: object, guarded: readonly Guarded[], options: readonly object[]): void {
  if (guarded.length === 0) return;
  const context = probeContext(client, options);
  for (const { handler, limit } of guarded) {
    let used: unknown;
    try {
      used = handler.getOptions(context);
    } catch {
      used = undefined;
    }
    if ((used as Record<string, unknown> | undefined)?.[limit] !== 0) {
      const effect =
        limit === 'maxRetries'
          ? 'it would resend requests the manager must send once'
          : 'it would follow redirects with the session id';
      refuse(
        `its ${nameOf(handler)} ignores per-request options (${effect}); its middleware seem to come ` +
          'from another copy of @microsoft/microsoft-graph-client than its Client',
      );
    }
  }
}

function probeContext(client: object, options: readonly object[]): object {
  let context: object | undefined;
  const standIn = {
    sendRequest(sent: object): Promise<object> {
      context = sent;
      return Promise.reject(new Error('probe: not sent'));
    },
  };
  try {
    const api = (client as { api?: (path: string) => unknown }).api;
    const request = api?.call(client, '/') as { middlewareOptions(o: object[]): { get(): Promise<unknown> } } & Record<
      string,
      unknown
    >;
    // The request object is ours alone: pointing it at the stand-in touches nothing of the client.
    Object.defineProperty(request, 'httpClient', { value: standIn });
    // The request builder hands the context over before its first await.
    request
      .middlewareOptions([...options])
      .get()
      .catch(() => undefined);
  } catch {
    /* refused below */
  }
  if (context === undefined)
    return refuse(
      'its requests cannot be checked before sending (not a Client from @microsoft/microsoft-graph-client 3)',
    );
  return context;
}
