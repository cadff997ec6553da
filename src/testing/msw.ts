import { HttpResponse, type RequestHandler, http } from 'msw';
import { describe } from '../util/validate.js';
import { isServedPath } from './request-route.js';
import { isDroppedConnection } from './responses.js';
import type { WorkbookService } from './service.js';

export interface EmulatorHandlerOptions {
  /**
   * The origin the handlers answer for.
   * @default 'https://graph.microsoft.com'
   */
  readonly baseUrl?: string;
}

/**
 * msw handlers over a `WorkbookService`: every workbook request (and `GET {item}`) under `baseUrl` goes through
 * `service.handle()`, as over HTTP, and so does `$batch`. Requests that are not workbook calls fall through to other
 * handlers. A dropped connection becomes `HttpResponse.error()`.
 */
export function createEmulatorHandlers(
  service: WorkbookService,
  options: EmulatorHandlerOptions = {},
): RequestHandler[] {
  const origin = parseOrigin(options.baseUrl ?? 'https://graph.microsoft.com');
  return [
    http.all(`${origin}/*`, async ({ request }) => {
      const path = new URL(request.url).pathname;
      if (!isServedPath(path)) return undefined;
      try {
        return await service.handle(request);
      } catch (error) {
        if (isDroppedConnection(error)) return HttpResponse.error();
        throw error;
      }
    }),
  ];
}

/** Kept apart from the Graph client module so this subpath loads with msw alone. */
function parseOrigin(value: unknown): string {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new TypeError(`Expected \`baseUrl\` to be an absolute http(s) URL, got ${describe(value)}`);
  }
  return url.origin;
}
