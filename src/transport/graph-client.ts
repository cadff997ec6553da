import {
  Client,
  HTTPMessageHandler,
  RedirectHandler,
  RetryHandler,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { checkToken } from '../util/ids.js';
import { checkKeys, describe } from '../util/validate.js';
import * as azureCredentials from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';

/** The Microsoft Graph host used when no `baseUrl` is given. */
export const GRAPH_BASE_URL = 'https://graph.microsoft.com';

/**
 * The part of an `@azure/identity` credential that the Graph client uses. Any credential from
 * `@azure/identity` fits (`DeviceCodeCredential`, `InteractiveBrowserCredential`, ...).
 */
export interface TokenCredentialLike {
  getToken(scopes: string | string[], options?: object): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

export interface CredentialClientOptions {
  /** An `@azure/identity` credential. Workbook sessions need delegated access (a signed-in user). */
  readonly credential: TokenCredentialLike;
  /**
   * Scopes asked of the credential.
   * @default ['https://graph.microsoft.com/.default']
   */
  readonly scopes?: readonly string[];
  /**
   * The Graph host, an `https://` URL: a national cloud's, or a Graph-compatible service's (the
   * token is then sent to that host too).
   * @default 'https://graph.microsoft.com'
   */
  readonly baseUrl?: string;
}

/**
 * Builds a Graph client that gets its tokens from an `@azure/identity` credential, through the
 * Graph client's own `TokenCredentialAuthenticationProvider`.
 */
export function createGraphClient(options: CredentialClientOptions): Client {
  checkOptions('createGraphClient', options, ['credential', 'scopes', 'baseUrl']);
  const credential = options.credential as unknown;
  if (
    typeof credential !== 'object' ||
    credential === null ||
    typeof (credential as { getToken?: unknown }).getToken !== 'function'
  ) {
    throw new TypeError(
      'Expected `credential` to be an @azure/identity credential (an object with getToken()), ' +
        `got ${describe(credential)}`,
    );
  }
  const scopes = checkScopes(options.scopes === undefined ? [`${GRAPH_BASE_URL}/.default`] : options.scopes);
  const authProvider = new azureCredentials.TokenCredentialAuthenticationProvider(
    // The provider is typed against @azure/identity, which is an optional peer of this package.
    options.credential as ConstructorParameters<typeof azureCredentials.TokenCredentialAuthenticationProvider>[0],
    { scopes },
  );
  const base = options.baseUrl === undefined ? undefined : parseBaseUrl(options.baseUrl);
  // The Graph client signs only https:// requests, and only to Graph's hosts and `customHosts`: a
  // plain-http base would get no token at all, another host only when named there.
  if (base !== undefined && base.protocol !== 'https:') {
    throw new TypeError(
      'Expected `baseUrl` to be an https:// URL (the Graph client sends the token over https only; ' +
        `for a loopback http server use createBearerClient()), got ${JSON.stringify(options.baseUrl)}`,
    );
  }
  return Client.initWithMiddleware({
    authProvider,
    defaultVersion: 'v1.0',
    ...(base === undefined ? {} : { baseUrl: base.origin, customHosts: new Set([base.hostname]) }),
  });
}

export interface BearerClientOptions {
  /** The service's base URL, for example the emulator's `url`. */
  readonly baseUrl: string;
  /** A fixed bearer token, or a function that returns one for each request. */
  readonly token: string | (() => string | Promise<string>);
}

/**
 * Builds a Graph client for a Graph-compatible service that is not one of Graph's own hosts, such as
 * the emulator on `http://127.0.0.1`. The Graph client's `AuthenticationHandler` only signs `https://`
 * requests to Graph hosts, so this client signs requests itself, and only those whose origin is
 * exactly `baseUrl`'s: the token never travels anywhere else.
 */
export function createBearerClient(options: BearerClientOptions): Client {
  checkOptions('createBearerClient', options, ['baseUrl', 'token']);
  const base = parseBaseUrl(options.baseUrl);
  const { token } = options;
  if (typeof token !== 'function' && (typeof token !== 'string' || token === '')) {
    // The value is not shown: it may be a token.
    throw new TypeError(
      'Expected `token` to be a non-empty string or a function, ' +
        `got ${typeof token === 'string' ? 'an empty string' : describe(token)}`,
    );
  }
  if (typeof token === 'string') checkToken(token);
  // A token from a function is checked on each request: one that cannot travel in a header is a
  // client error before anything is sent, not a network failure to retry.
  const getToken = typeof token === 'function' ? async () => checkToken(await token()) : () => token;
  const middleware: Middleware[] = [
    new BearerAuthMiddleware(base.origin, getToken),
    new RetryHandler(),
    new RedirectHandler(),
    new HTTPMessageHandler(),
  ];
  chain(middleware);
  return Client.initWithMiddleware({ middleware, baseUrl: base.origin, defaultVersion: 'v1.0' });
}

function chain(middleware: Middleware[]): void {
  for (let i = 0; i < middleware.length - 1; i++) {
    const next = middleware[i + 1];
    if (next !== undefined) middleware[i]?.setNext?.(next);
  }
}

class BearerAuthMiddleware implements Middleware {
  readonly #origin: string;
  readonly #getToken: () => string | Promise<string>;
  // Set by the client when it links the chain; never cleared. Public, as on the Graph client's own
  // middleware, so the chain can be checked for what follows (see client-safety.ts).
  nextMiddleware: Middleware | undefined;

  constructor(origin: string, getToken: () => string | Promise<string>) {
    this.#origin = origin;
    this.#getToken = getToken;
  }

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === 'string' ? context.request : context.request.url;
    if (sameOrigin(url, this.#origin)) {
      const token = await this.#getToken();
      context.options ??= {};
      const headers = new Headers(context.options.headers as HeadersInit | undefined);
      headers.delete('Authorization');
      // Spelled `Authorization` exactly: the RedirectHandler deletes that key (and only that one) on a
      // redirect to another host; `Headers` would have lower-cased it and the token would follow.
      context.options.headers = { ...Object.fromEntries(headers), Authorization: `Bearer ${token}` };
    }
    if (this.nextMiddleware === undefined) throw new Error('BearerAuthMiddleware has no next middleware');
    return this.nextMiddleware.execute(context);
  }

  setNext(next: Middleware): void {
    this.nextMiddleware = next;
  }
}

function checkOptions(fn: string, options: unknown, keys: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(
      `Expected ${fn}() options to be an object with ${keys.map((k) => `\`${k}\``).join(', ')}, ` +
        `got ${describe(options)}`,
    );
  }
  checkKeys(`${fn}() option`, options, keys);
}

/** Scopes as an array of non-empty strings; a single string would otherwise be spread into characters. */
function checkScopes(value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw new TypeError(
      `Expected \`scopes\` to be an array of strings, got ${describe(value)}` +
        (typeof value === 'string' ? ' (wrap a single scope in an array)' : ''),
    );
  }
  for (const scope of value as unknown[]) {
    if (typeof scope !== 'string' || scope === '')
      throw new TypeError(`Expected each of \`scopes\` to be a non-empty string, got ${describe(scope)}`);
  }
  return [...(value as string[])];
}

function sameOrigin(url: string, origin: string): boolean {
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}

/** Parses and checks a base URL: http(s), no credentials, no query or fragment. */
function parseBaseUrl(value: unknown): URL {
  if (typeof value !== 'string') {
    throw new TypeError(`Expected \`baseUrl\` to be a URL string, got ${describe(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`Expected \`baseUrl\` to be an absolute http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new TypeError(
      `Expected \`baseUrl\` to be an http(s) URL with no credentials, query or fragment, got ${JSON.stringify(value)}`,
    );
  }
  return url;
}
