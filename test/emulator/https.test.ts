import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/testing/index.js';

const WB = '/me/drive/items/HTTPS';
let emulator: RunningEmulator | undefined;

afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** The Graph client as the docs' snippets make it, trusting only the emulator's certificate, on this client only. */
function graphClient(e: RunningEmulator): Client {
  const dispatcher = new Agent({ connect: { ca: e.ca } });
  return Client.init({
    authProvider: (done) => done(null, e.token),
    baseUrl: e.url,
    customHosts: new Set([new URL(e.url).hostname]),
    fetchOptions: { dispatcher } as RequestInit,
  });
}

describe('startEmulator({ https: true })', () => {
  it(
    'serves https with its own certificate, and client.api(Location) ' +
      'and client.api(resourceLocation) work as given',
    async () => {
      emulator = await startEmulator({
        https: true,
        asyncCreate: { rate: 1, durationMs: 1000 },
        workbooks: { [WB]: {} },
      });
      expect(emulator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(emulator.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
      const client = graphClient(emulator);
      const accepted = (await client
        .api(`${WB}/workbook/createSession`)
        .header('Prefer', 'respond-async')
        .responseType(ResponseType.RAW)
        .post({ persistChanges: true })) as Response;
      expect(accepted.status).toBe(202);
      const location = accepted.headers.get('location') ?? '';
      expect(location.startsWith(`${emulator.url}/v1.0${WB}/workbook/operations/`)).toBe(true);
      expect(await client.api(location).get()).toMatchObject({ status: 'notStarted' });
      emulator.service.advanceTime(1000);
      const done = (await client.api(location).get()) as { status: string; resourceLocation: string };
      expect(done.status).toBe('succeeded');
      expect(done.resourceLocation.startsWith(`${emulator.url}/v1.0${WB}/workbook/sessionInfoResource(`)).toBe(true);
      const info = (await client.api(done.resourceLocation).get()) as { id: string; persistChanges: boolean };
      expect(info.persistChanges).toBe(true);
      await client.api(`${WB}/workbook/closeSession`).header('workbook-session-id', info.id).post({});
      expect(emulator.service.openSessions()).toBe(0);
    },
  );

  it('keeps TLS checks on: a fetch that does not trust the certificate fails', async () => {
    emulator = await startEmulator({ https: true, workbooks: { [WB]: {} } });
    await expect(fetch(`${emulator.url}/v1.0${WB}/workbook/worksheets`)).rejects.toThrow(TypeError);
  });

  it('refuses a non-boolean https option, naming it', async () => {
    // @ts-expect-error: not a boolean
    await expect(startEmulator({ https: 'yes' })).rejects.toThrow(
      new TypeError('Expected `https` to be a boolean, got "yes" (string)'),
    );
  });
});
