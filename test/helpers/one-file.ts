import type { WorkbookFile } from '../../src/testing/index.js';
import { overHttp } from './graph.js';

/** The drive that holds the one file. */
export const DRIVE = 'b!team-drive';

/** The one file's path from its drive's root. */
export const ROOT_PATH = '/Reports/Q1 Sales.xlsx';

/** The one file's only worksheet. */
export const SHEET = "/worksheets('Sheet1')";

export type HttpEnv = Awaited<ReturnType<typeof overHttp>>;

/** The emulator over HTTP with one file on drive DRIVE, which /me/drive, a site, a user and a group all name. */
export async function emulatorWithOneFile(
  options: Parameters<typeof overHttp>[0] = {},
): Promise<{ env: HttpEnv; file: WorkbookFile }> {
  const env = await overHttp({ workbooks: {}, ...options });
  try {
    for (const alias of [
      '/me/drive',
      '/sites/contoso.sharepoint.com,1111,2222/drive',
      '/users/ada@contoso.com/drive',
      '/groups/G1/drive',
    ]) {
      env.service.aliasDrive(alias, DRIVE);
    }
    const file = env.service.addWorkbook(`/drives/${DRIVE}/root:${ROOT_PATH}:`, {
      worksheets: { Sheet1: { cells: [[0]] } },
    });
    return { env, file };
  } catch (error) {
    // The caller never gets the emulator to close.
    await env.close();
    throw error;
  }
}
