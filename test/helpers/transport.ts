import type { Client } from '@microsoft/microsoft-graph-client';
import { Scheduler } from '../../src/coordination/scheduler.js';
import { GraphTransport, type TransportOptions } from '../../src/transport/graph-transport.js';

/**
 * A factory of transports over `client`, each on its own scheduler, for the calls the manager does
 * not expose: signals, deadlines, late sessions. Its time rules are fixed (500 ms backoff, 1 s polls,
 * 20 s operation timeout, 60 s request timeout, no jitter) and each option can be overridden.
 */
export function transportsOver(client: Client): (more?: Partial<TransportOptions>) => GraphTransport {
  return (more = {}) =>
    new GraphTransport({
      client,
      scheduler: new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 }),
      policy: { retries: 3, baseDelayMs: 500, maxDelayMs: 5_000, deadlineMs: 120_000 },
      pollIntervalMs: 1_000,
      operationTimeoutMs: 20_000,
      requestTimeoutMs: 60_000,
      onRetry: () => undefined,
      now: () => Date.now(),
      random: () => 0.5,
      ...more,
    });
}
