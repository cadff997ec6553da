/**
 * Where the examples send their requests: the embedded emulator by default, or Microsoft Graph when
 * the environment names a tenant, an app registration and a workbook.
 *
 *   WORKBOOK_SESSIONS_TENANT_ID   the Microsoft Entra tenant (directory) id
 *   WORKBOOK_SESSIONS_CLIENT_ID   an app registration with the delegated permission Files.ReadWrite
 *                                 and "Allow public client flows" on (device code sign-in)
 *   WORKBOOK_SESSIONS_ITEM        the workbook's drive-item path, e.g. /me/drive/root:/Demo.xlsx:
 *
 * In your own code you need none of this: build a client with `createGraphClient()` (real Graph) or
 * `createBearerClient()` (the emulator) and pass it to `new SessionManager({ client })`.
 */
import type { Client } from '@microsoft/microsoft-graph-client';
import { createBearerClient, createGraphClient } from '../../src/index.js';
import { type RunningEmulator, sampleWorkbook, startEmulator } from '../../src/testing/index.js';

/** The workbook the examples use on the emulator. */
export const EXAMPLE_WORKBOOK = '/me/drive/items/01EXAMPLEBOOK';

/** A small workbook: a `Sheet1` with a few cells and a `Sales` table; the emulator's own sample. */
export const salesWorkbook = sampleWorkbook;

export interface ExampleTarget extends AsyncDisposable {
  readonly kind: 'emulator' | 'graph';
  readonly client: Client;
  /** The workbook to open. */
  readonly workbook: string;
  /** Set when the examples run against the embedded emulator. */
  readonly emulator: RunningEmulator | undefined;
  /** Stops the emulator, if one was started. */
  close(): Promise<void>;
}

/** The variables that switch the examples to Microsoft Graph, or undefined when any is missing. */
export function graphEnvironment(): { tenantId: string; clientId: string; item: string } | undefined {
  const tenantId = process.env['WORKBOOK_SESSIONS_TENANT_ID'];
  const clientId = process.env['WORKBOOK_SESSIONS_CLIENT_ID'];
  const item = process.env['WORKBOOK_SESSIONS_ITEM'];
  if (
    tenantId === undefined ||
    tenantId === '' ||
    clientId === undefined ||
    clientId === '' ||
    item === undefined ||
    item === ''
  )
    return undefined;
  return { tenantId, clientId, item };
}

/**
 * A Graph client signed in as a user through the device code flow. Graph refuses application
 * permissions for workbook sessions, so it has to be a delegated (signed-in user) credential.
 * `@azure/identity` is an optional peer of workbook-sessions, hence the dynamic import.
 */
export async function graphClient(env: { tenantId: string; clientId: string }): Promise<Client> {
  const { DeviceCodeCredential } = await import('@azure/identity');
  const credential = new DeviceCodeCredential({
    tenantId: env.tenantId,
    clientId: env.clientId,
    // To stderr, so that `--json` output on stdout stays one JSON object.
    userPromptCallback: (info) => void process.stderr.write(`${info.message}\n`),
  });
  return createGraphClient({ credential, scopes: ['https://graph.microsoft.com/Files.ReadWrite'] });
}

/** Starts the emulator with one workbook, or connects to Microsoft Graph when the environment says so. */
export async function openTarget(options: { emulatorOnly?: boolean } = {}): Promise<ExampleTarget> {
  const env = options.emulatorOnly === true ? undefined : graphEnvironment();
  if (env !== undefined) {
    const close = async (): Promise<void> => undefined;
    return {
      kind: 'graph',
      client: await graphClient(env),
      workbook: env.item,
      emulator: undefined,
      close,
      [Symbol.asyncDispose]: close,
    };
  }
  const emulator = await startEmulator({ workbooks: { [EXAMPLE_WORKBOOK]: salesWorkbook() }, latency: { fixedMs: 5 } });
  return {
    kind: 'emulator',
    client: createBearerClient({ baseUrl: emulator.url, token: emulator.token }),
    workbook: EXAMPLE_WORKBOOK,
    emulator,
    close: () => emulator.close(),
    [Symbol.asyncDispose]: () => emulator.close(),
  };
}
