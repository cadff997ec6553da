/**
 * Quick start: open a workbook session in an `await using` scope; it is closed when the scope ends,
 * even when the code inside throws.
 *
 *   npx tsx examples/quick-start.ts
 *
 * Runs against an embedded emulator, or against Microsoft Graph when WORKBOOK_SESSIONS_TENANT_ID,
 * WORKBOOK_SESSIONS_CLIENT_ID and WORKBOOK_SESSIONS_ITEM are set (see examples/support/target.ts).
 * In your project, import from 'workbook-sessions' instead of '../src/index.js'.
 *
 * `await using` is native from Node 24; on Node 20 and 22, tsx (esbuild) and TypeScript lower it.
 */
import type { WorkbookRange, WorkbookWorksheet } from '@microsoft/microsoft-graph-types';
import { SessionManager } from '../src/index.js';
import { openTarget } from './support/target.js';

// Disposed last: the emulator (if one was started) stops after the manager has closed its sessions.
await using target = await openTarget();

// `await using` on the manager: when the module's top level ends, every session it still holds is closed.
await using sessions = new SessionManager({ client: target.client });
sessions.on('opened', ({ id, workbook }) => console.log(`opened session ${id} on ${workbook}`));
sessions.on('closed', ({ id, reason }) => console.log(`closed session ${id} (${reason})`));

{
  // persistChanges: false works on a private copy that Graph drops when the session ends, so this
  // example leaves a real workbook as it was. Use `true` (the default) to save your changes.
  await using book = await sessions.open(target.workbook, { persistChanges: false });

  const sheets = await book.api('/worksheets').get<{ value: WorkbookWorksheet[] }>();
  const first = sheets.value[0]?.name ?? 'Sheet1';
  console.log(`worksheets: ${sheets.value.map((s) => s.name).join(', ')}`);

  await book.api(`/worksheets('${first}')/range(address='E1:F1')`).patch({ values: [['written by', 'quick-start']] });
  const range = await book.api(`/worksheets('${first}')/range(address='E1:F1')`).get<WorkbookRange>();
  console.log(`E1:F1 in the session: ${JSON.stringify(range.values)}`);
} // <- closeSession is sent here

console.log(`sessions open now: ${sessions.stats().open}`);
if (target.emulator !== undefined)
  console.log(`sessions open on the emulator: ${target.emulator.service.stats().open}`);
