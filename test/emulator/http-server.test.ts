import { connect } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WorkbookService, startEmulator } from '../../src/testing/index.js';

const WB = '/me/drive/items/A';

/** Writes raw bytes to the server and collects what comes back until it closes the socket. */
async function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.write(bytes);
  await once(socket, 'close');
  return data;
}

describe('startEmulator', () => {
  it('serves an existing service, and close() is idempotent and ends keep-alive connections', async () => {
    const service = new WorkbookService({ workbooks: { [WB]: {} } });
    const emu = await startEmulator({ service });
    expect(emu.service).toBe(service);
    expect(emu.token).toBe(service.token);
    expect(emu.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { hostname, port } = new URL(emu.url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    socket.write(
      `GET /v1.0${WB}/workbook/worksheets HTTP/1.1\r\nHost: x\r\n` +
        `Authorization: Bearer ${service.token}\r\nConnection: keep-alive\r\n\r\n`,
    );
    await once(socket, 'data');
    const closed = once(socket, 'close');
    const first = emu.close();
    expect(emu.close()).toBe(first);
    await first;
    await closed;
    expect(socket.destroyed).toBe(true);
  });

  it(
    'close() with a request still waiting out its latency: the request takes no effect, ' +
      'and close() resolves once nothing is in flight; the port is free again',
    async () => {
      const emu = await startEmulator({ workbooks: { [WB]: {} }, latency: { fixedMs: 600_000 } });
      const answer = fetch(`${emu.url}/v1.0${WB}/workbook/createSession`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${emu.token}`, 'Content-Type': 'application/json' },
        body: '{"persistChanges":true}',
      }).then(
        (res) => res.status,
        () => 'dropped',
      );
      await expect.poll(() => emu.service.stats().inFlight).toBe(1);
      await emu.close();
      expect(emu.service.stats()).toMatchObject({ inFlight: 0, created: 0, open: 0 });
      expect(await answer).toBe('dropped');
      const again = await startEmulator({ workbooks: { [WB]: {} }, port: Number(new URL(emu.url).port) });
      expect(again.url).toBe(emu.url);
      await again.close();
    },
  );

  it('serves 20 requests waiting out their latency at once without a MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    // Long enough that all 20 are inside at once even on a loaded machine.
    const emu = await startEmulator({ workbooks: { [WB]: {} }, latency: { fixedMs: 1500 } });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${emu.url}/v1.0${WB}/workbook/worksheets`, { headers: { Authorization: `Bearer ${emu.token}` } }).then(
            (res) => res.status,
          ),
        ),
      );
      expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
      expect(emu.service.stats().maxInFlightPerWorkbook).toBe(20);
      // Warnings are emitted on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await emu.close();
    }
  });

  it('supports Symbol.asyncDispose', async () => {
    const emu = await startEmulator();
    await emu[Symbol.asyncDispose]();
    await expect(fetch(`${emu.url}/v1.0/me`)).rejects.toThrow();
  });

  it('refuses bad options', async () => {
    await expect(startEmulator({ port: 70_000 })).rejects.toThrow(
      new RangeError('Expected `port` to be an integer from 0 to 65535, got `70000` (number)'),
    );
    await expect(startEmulator({ service: new WorkbookService(), seed: 3 })).rejects.toThrow(
      new TypeError('Give either `service` or service options (seed), not both'),
    );
  });

  it('answers garbage with 400 and keeps serving', async () => {
    const emu = await startEmulator({ workbooks: { [WB]: {} } });
    try {
      expect(await rawExchange(emu.url, 'this is not http\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
      const weird = await rawExchange(
        emu.url,
        `GET /v1.0${WB}/workbook/worksheets HTTP/1.1\r\nHost: [bad host\r\n` +
          `Authorization: Bearer ${emu.token}\r\nConnection: close\r\n\r\n`,
      );
      expect(weird).toMatch(/^HTTP\/1\.1 200 /);
      const res = await fetch(`${emu.url}/v1.0${WB}/workbook/worksheets`, {
        headers: { Authorization: `Bearer ${emu.token}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await emu.close();
    }
  });
});
