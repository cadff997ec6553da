import type { Client } from '@microsoft/microsoft-graph-client';
import { performance } from 'node:perf_hooks';
import { createBearerClient, type WorkbookSession } from '../dist/index.js';
import { startEmulatorProcess, workbookPaths } from './emulator-process.js';
import { inMemoryClient } from './in-memory-graph.js';
import { benchManager } from './manager.js';
import { median, result, type BenchResult } from './measure.js';

export interface CallConfig {
  /** Calls per round, for each side. */
  readonly calls: number;
  readonly rounds: number;
  readonly warmup: number;
}

export const RANGE_PATH = "/worksheets('Sheet1')/range(address='A1:C3')";

/** Microseconds per call of `call`, run `count` times one after another. */
export async function perCall(count: number, call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) await call();
  return ((performance.now() - start) * 1000) / count;
}

/** Ours and the bare client, alternated round by round (the order flips each round). */
export async function alternate(
  config: CallConfig,
  ours: () => Promise<unknown>,
  bare: () => Promise<unknown>,
): Promise<{ oursUs: number[]; bareUs: number[] }> {
  await perCall(config.warmup, ours);
  await perCall(config.warmup, bare);
  const oursUs: number[] = [];
  const bareUs: number[] = [];
  for (let round = 0; round < config.rounds; round++) {
    if (round % 2 === 0) {
      oursUs.push(await perCall(config.calls, ours));
      bareUs.push(await perCall(config.calls, bare));
    } else {
      bareUs.push(await perCall(config.calls, bare));
      oursUs.push(await perCall(config.calls, ours));
    }
  }
  return { oursUs, bareUs };
}

/** The same call as ours, through the bare client with the session header set by hand. */
export function bareCall(client: Client, book: WorkbookSession): () => Promise<unknown> {
  const path = `${book.workbook}/workbook${RANGE_PATH}`;
  const id = book.id;
  return () => client.api(path).header('workbook-session-id', id).get();
}

/**
 * `call-overhead`: one call through a handle versus the same call through the bare Graph client with
 * the session header set by hand, at zero latency, over HTTP to the emulator child. Also
 * `call-overhead-in-process`: the same pair against an in-process answer, which shows our added
 * cost per call without the network and the emulator around it.
 */
export async function callOverhead(config: CallConfig): Promise<BenchResult[]> {
  const workbooks = workbookPaths(1);
  const emulator = await startEmulatorProcess({ workbooks, latencyMs: 0 });
  const out: BenchResult[] = [];
  try {
    const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
    const manager = benchManager(client);
    const book = await manager.open(workbooks[0] as string);
    const { oursUs, bareUs } = await alternate(config, () => book.api(RANGE_PATH).get(), bareCall(client, book));
    await manager.shutdown();
    out.push(
      result({
        name: 'call-overhead',
        value: median(oursUs),
        unit: 'us/call',
        baseline: median(bareUs),
        ratios: oursUs.map((us, i) => us / (bareUs[i] as number)),
        better: 'lower',
        target: 1.1,
        extra: { calls: config.calls, transport: 'http', addedUs: Math.round(median(oursUs) - median(bareUs)) },
      }),
    );
  } finally {
    await emulator.close();
  }
  const { client } = inMemoryClient();
  const manager = benchManager(client);
  const book = await manager.open(workbooks[0] as string);
  const inProcessConfig = { ...config, calls: config.calls * 2, warmup: config.warmup * 2 };
  const { oursUs, bareUs } = await alternate(inProcessConfig, () => book.api(RANGE_PATH).get(), bareCall(client, book));
  await manager.shutdown();
  out.push(
    result({
      name: 'call-overhead-in-process',
      value: median(oursUs),
      unit: 'us/call',
      baseline: median(bareUs),
      ratios: oursUs.map((us, i) => us / (bareUs[i] as number)),
      better: 'lower',
      extra: {
        calls: inProcessConfig.calls,
        transport: 'in-process',
        addedUs: Math.round(median(oursUs) - median(bareUs)),
      },
    }),
  );
  return out;
}
