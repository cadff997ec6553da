import { tracedClose } from '../telemetry/spans.js';
import type { GraphTransport } from '../transport/graph-transport.js';
import { isGoneOnClose, sessionFaultOf } from './faults.js';

/**
 * Sends closeSession and says how the session ended: `closed` (Graph confirmed) or `expired` (Graph
 * no longer had it). Only `invalidSessionReCreatable` or `invalidSessionNotFound` says the session is
 * gone (another `invalidSession*` code says it cannot be acted on: the close failed); a bare 404 may come
 * from elsewhere (the item path, a proxy), so a refreshSession checks: gone too means expired; alive
 * means the close did not reach it, and it is sent once more. Rejects when the close failed: the
 * session may still be open, and is never reported closed.
 */
export function closeConfirmed(
  transport: GraphTransport,
  workbook: string,
  id: string,
  signal?: AbortSignal,
): Promise<'closed' | 'expired'> {
  return tracedClose(workbook, id, () => confirm(transport, workbook, id, signal));
}

async function confirm(
  transport: GraphTransport,
  workbook: string,
  id: string,
  signal: AbortSignal | undefined,
): Promise<'closed' | 'expired'> {
  try {
    await transport.closeSession(workbook, id, signal);
    return 'closed';
  } catch (error) {
    if (isGoneOnClose(error)) return 'expired';
    if (sessionFaultOf(error) !== 'unconfirmed') throw error;
    try {
      await transport.refreshSession(workbook, id, signal);
    } catch (probe) {
      if (isGoneOnClose(probe) || sessionFaultOf(probe) === 'unconfirmed') return 'expired';
      throw error;
    }
    // The session is alive: the 404 was not about it.
    await transport.closeSession(workbook, id, signal);
    return 'closed';
  }
}
