/**
 * `withSession` in plain JavaScript: the same guarantee as `await using` (the session is closed
 * when the callback ends, whether it returns or throws) for code that cannot use the syntax.
 *
 *   node --import tsx examples/with-session.mjs      (or: npx tsx examples/with-session.mjs)
 *
 * This file is plain JavaScript. It imports the library's TypeScript source, which is why it runs
 * through tsx here; in your project it is `import { SessionManager } from 'workbook-sessions'` and
 * plain `node app.mjs`.
 */
import { SessionManager, isSessionClosedError } from '../src/index.js';
import { openTarget } from './support/target.js';

const target = await openTarget();
const sessions = new SessionManager({ client: target.client });
sessions.on('closed', ({ id, reason }) => console.log(`closed session ${id} (${reason})`));

try {
  // The callback's value is withSession's value.
  const names = await sessions.withSession(
    target.workbook,
    async (book) => {
      const sheets = await book.api('/worksheets').get();
      return sheets.value.map((sheet) => sheet.name);
    },
    { persistChanges: false },
  );
  console.log(`worksheets: ${names.join(', ')}`);

  // A callback that throws: the error reaches the caller, and the session is closed all the same.
  let kept;
  try {
    await sessions.withSession(
      target.workbook,
      async (book) => {
        kept = book;
        await book.api('/worksheets').get();
        throw new Error('the report could not be built');
      },
      { persistChanges: false },
    );
  } catch (error) {
    console.log(`withSession rejected: ${error.message}`);
  }
  console.log(`the session the callback held is ${kept?.state}`);

  // A handle kept past its callback is closed: calls on it fail with SessionClosedError.
  try {
    await kept?.api('/worksheets').get();
  } catch (error) {
    if (isSessionClosedError(error)) console.log(`a late call fails with SessionClosedError (reason: ${error.reason})`);
    else throw error;
  }
} finally {
  const report = await sessions.shutdown();
  console.log(`shutdown: ${report.leftOpen} session(s) left open`);
  if (target.emulator !== undefined)
    console.log(`sessions open on the emulator: ${target.emulator.service.stats().open}`);
  await target.close();
}
