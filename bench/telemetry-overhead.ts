/**
 * `npm run build && node --import tsx bench/telemetry-overhead.ts [dist folder]`
 *
 * What OpenTelemetry costs a call: microseconds per `book.api(range).get()` against the in-process
 * Graph (no HTTP, so the manager's own cost is what is measured), with no provider registered (the
 * API's no-op one: what every user without the SDK gets) and with the SDK's tracer and meter
 * providers registered (an in-memory exporter, nothing sent anywhere). Given another build's dist
 * folder (one without telemetry, say), its calls are measured too, in the same process. First, the
 * request hook alone (its span and lane metrics around a send that answers at once), no provider.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ManagerMetrics } from '../dist/telemetry/metrics.js';
import { RequestTelemetry } from '../dist/telemetry/request-telemetry.js';
import { RANGE_PATH, perCall } from './call-overhead.js';
import { inMemoryClient } from './in-memory-graph.js';
import { median } from './measure.js';

const CALLS = 20_000;
const ROUNDS = 5;
const BOOK = '/me/drive/items/01BENCHTELEMETRY0000000000000000';

type Dist = typeof import('../dist/index.js');

/** Median microseconds per call over ROUNDS rounds of CALLS calls on one session of `dist`'s manager. */
async function callCost(dist: Dist): Promise<number> {
  const { client } = inMemoryClient();
  const manager = new dist.SessionManager({ client, exitHooks: false, idleTimeoutMs: Infinity });
  const book = await manager.open(BOOK);
  await perCall(2000, () => book.api(RANGE_PATH).get());
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) rounds.push(await perCall(CALLS, () => book.api(RANGE_PATH).get()));
  await manager.shutdown();
  return median(rounds);
}

/** Nanoseconds the request hook adds to a send, with no provider registered: the median of ROUNDS rounds. */
async function hookCost(): Promise<number> {
  const telemetry = new RequestTelemetry('https://graph.microsoft.com', new ManagerMetrics(() => 0), Date.now);
  const call = { method: 'GET' as const, path: `${BOOK}/workbook${RANGE_PATH}` };
  const answer = Promise.resolve({ status: 200 });
  const send = (): Promise<{ status: number }> => answer;
  const ns = async (work: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    for (let i = 0; i < 200_000; i++) await work();
    return ((performance.now() - start) * 1e6) / 200_000;
  };
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const bare = await ns(send);
    rounds.push((await ns(() => telemetry.queued(BOOK, call, 1, 0).run(send))) - bare);
  }
  return median(rounds);
}

const ours = (await import('../dist/index.js')) as Dist;
const other = process.argv[2];
const base = other === undefined ? undefined : ((await import(pathToFileURL(resolve(other, 'index.js')).href)) as Dist);

const lines: string[] = [`request hook alone, no provider: ${(await hookCost()).toFixed(0)} ns/request`];
if (base !== undefined) lines.push(`${other}: ${(await callCost(base)).toFixed(2)} us/call`);
lines.push(`no provider registered: ${(await callCost(ours)).toFixed(2)} us/call`);

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const meterProvider = new MeterProvider();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(tracerProvider);
metrics.setGlobalMeterProvider(meterProvider);
// Spans kept by the exporter would grow the heap the whole run: dropped as they come.
const reset = setInterval(() => exporter.reset(), 100);
lines.push(`SDK registered (in-memory exporter): ${(await callCost(ours)).toFixed(2)} us/call`);
clearInterval(reset);
await tracerProvider.shutdown();
await meterProvider.shutdown();
console.log(lines.join('\n'));
