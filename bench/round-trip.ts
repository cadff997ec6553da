import type { Client } from '@microsoft/microsoft-graph-client';
import { median } from './measure.js';
import { performance } from 'node:perf_hooks';

/**
 * The measured round trip of one workbook request (a GET of a range, no session) through the bare
 * Graph client, at whatever latency the emulator has now: the real floor under the nominal ideal.
 */
export async function measureRoundTrip(client: Client, workbook: string, samples = 20): Promise<number> {
  const path = `${workbook}/workbook/worksheets('Sheet1')/range(address='A1:C3')`;
  for (let i = 0; i < 5; i++) await client.api(path).get();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await client.api(path).get();
    times.push(performance.now() - start);
  }
  return median(times);
}
