import { Client, RetryHandler, type Context, type Middleware } from '@microsoft/microsoft-graph-client';

/**
 * The last middleware of a Graph client chain that answers workbook requests in this process
 * instead of sending them: createSession (201 with a Graph-shaped id), closeSession and
 * refreshSession (204), any other workbook call (200 with a small range), and `GET {item}` (the
 * file's id and drive). For the benches that
 * need 100,000 open sessions, where what is measured is the manager's own cost, not HTTP's.
 */
export class InMemoryGraph implements Middleware {
  // Numbers the session ids; only grows.
  #serial = 0;
  /** Sessions created and not closed. */
  open = 0;

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === 'string' ? context.request : context.request.url;
    if (!url.includes('/workbook/')) {
      // GET {item}: the manager asks once per workbook which file it is.
      const item = new URL(url).pathname.split('/').pop() ?? '';
      context.response = jsonResponse(200, { id: item, parentReference: { driveId: 'b!bench' } });
      return;
    }
    const path = url.slice(url.indexOf('/workbook/') + '/workbook'.length).split('?')[0] ?? '';
    if (path === '/createSession') {
      this.open++;
      const serial = ++this.#serial;
      // As long and as opaque as Graph's (and the emulator's) ids.
      const id = `cluster=EMU1&session=${serial}.EMU1234.A567.1.V24.${String(serial).padStart(28, 'x')}%2FAbCdEfGhIj==`;
      context.response = jsonResponse(201, { id, persistChanges: true });
    } else if (path === '/closeSession') {
      this.open--;
      context.response = new Response(null, { status: 204 });
    } else if (path === '/refreshSession') {
      context.response = new Response(null, { status: 204 });
    } else {
      context.response = jsonResponse(200, {
        address: 'Sheet1!A1:C3',
        values: [
          ['region', 'fruit', 'count'],
          ['east', 'apple', 3],
          ['west', 'pear', 5],
        ],
      });
    }
  }
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** A Graph client whose chain is the default RetryHandler and then {@link InMemoryGraph}. */
export function inMemoryClient(): { client: Client; graph: InMemoryGraph } {
  const graph = new InMemoryGraph();
  const client = Client.initWithMiddleware({ middleware: [new RetryHandler(), graph], defaultVersion: 'v1.0' });
  return { client, graph };
}
