import { HttpResponse, type RequestHandler, http } from 'msw';
import { parseBaseUrl } from '../graph-client.js';
import { parseWorkbookTarget } from './request-path.js';
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
 * msw handlers over a `WorkbookService`: every workbook request under `baseUrl` goes through
 * `service.handle()`, as over HTTP. Requests that are not workbook calls fall through to other
 * handlers. A dropped connection becomes `HttpResponse.error()`.
 */
export function createEmulatorHandlers(service: WorkbookService, options: EmulatorHandlerOptions = {}): RequestHandler[] {
  const origin = parseBaseUrl(options.baseUrl ?? 'https://graph.microsoft.com').origin;
  return [
    http.all(`${origin}/*`, async ({ request }) => {
      if (parseWorkbookTarget(new URL(request.url).pathname) === undefined) return undefined;
      try {
        return await service.handle(request);
      } catch (error) {
        if (isDroppedConnection(error)) return HttpResponse.error();
        throw error;
      }
    }),
  ];
}
