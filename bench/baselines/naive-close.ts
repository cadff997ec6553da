import type { Client } from '@microsoft/microsoft-graph-client';

export interface OpenSessionRef {
  /** The drive-item path, e.g. `/me/drive/items/01ABC`. */
  readonly workbook: string;
  readonly id: string;
}

/**
 * Closing sessions the way Graph's docs show it and users write it today: one `closeSession` after
 * another, each awaited, through the Graph client with its default middleware (RetryHandler on).
 */
export async function naiveCloseAll(client: Client, sessions: readonly OpenSessionRef[]): Promise<void> {
  for (const { workbook, id } of sessions) {
    await client.api(`${workbook}/workbook/closeSession`).header('workbook-session-id', id).post({});
  }
}

/** Opening a session the way Graph's docs show it: `createSession` with `persistChanges`. */
export async function naiveCreate(client: Client, workbook: string): Promise<OpenSessionRef> {
  const created = (await client.api(`${workbook}/workbook/createSession`).post({ persistChanges: true })) as {
    id: string;
  };
  return { workbook, id: created.id };
}
