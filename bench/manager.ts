import type { Client } from '@microsoft/microsoft-graph-client';
import { SessionManager, type SessionManagerOptions, type WorkbookSession } from '../dist/index.js';

/**
 * A manager as the benches use it: no process hooks (the bench owns its process), no idle closes
 * (a slow set-up phase must not close sessions the measurement then finds gone), and no session
 * budget unless a bench sets one: the drains measure many sessions per workbook on purpose.
 */
export function benchManager(client: Client, options: Omit<SessionManagerOptions, 'client'> = {}): SessionManager {
  return new SessionManager({
    client,
    exitHooks: false,
    idleTimeoutMs: Infinity,
    maxSessionsPerWorkbook: Infinity,
    ...options,
  });
}

/** Opens `count` sessions spread round-robin over `workbooks`, all asked for at once. */
export function openSpread(
  manager: SessionManager,
  workbooks: readonly string[],
  count: number,
): Promise<WorkbookSession[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => manager.open(workbooks[i % workbooks.length] as string)));
}
