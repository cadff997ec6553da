import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { redisServerFound } from '../helpers/redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const NAMES = [
  'round-trip',
  'shutdown-drain',
  'shutdown-vs-naive',
  'throttled-drain',
  'call-overhead',
  'call-overhead-in-process',
  'open-close-throughput',
  'journal-record-remove',
  'journal-open-close',
  'journal-call-overhead',
  'shared-vs-per-request',
  'budget-wait',
  // Without redis-server (outside CI) the bench skips these four with a note.
  ...(redisServerFound || process.env.CI === 'true'
    ? ['fleet-call-cost', 'fleet-drain', 'fleet-handoff', 'fleet-kill-reap']
    : []),
  'memory-per-session',
  'call-cost-vs-tracked',
];

function runBench(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/run.ts', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// Checks the shape of `npm run bench -- --json` on a tiny configuration; it asserts no time.
describe('npm run bench', () => {
  it(
    '--quick --tiny --json prints one JSON line per benchmark, each with finite ' + 'value, baseline and ratio',
    async () => {
      expect(existsSync(`${root}dist/index.js`), 'the bench runs the built package: run `npm run build` first').toBe(
        true,
      );
      const { code, stdout, stderr } = await runBench(['--quick', '--tiny', '--json']);
      expect(code, stderr).toBe(0);
      const lines = stdout
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const names = lines.map((l) => l['name']);
      expect(names).toEqual(NAMES);
      for (const line of lines) {
        expect(typeof line['unit'], String(line['name'])).toBe('string');
        for (const key of ['value', 'baseline', 'ratio', 'cores']) {
          expect(Number.isFinite(line[key]), `${String(line['name'])}.${key} = ${String(line[key])}`).toBe(true);
        }
        expect(['lower', 'higher']).toContain(line['better']);
      }
      // The drain closed every session, one request at a time per workbook. (The throttled drain is
      // not checked here: its random 429s may, rarely, outlast a close's retries.)
      expect(lines.find((l) => l['name'] === 'shutdown-drain')).toMatchObject({
        leftOpen: 0,
        serverOpen: 0,
        maxInFlightPerWorkbook: 1,
      });
      // One session per workbook when shared, one per unit otherwise; never more open than the budget.
      expect(lines.find((l) => l['name'] === 'shared-vs-per-request')).toMatchObject({
        sharedCreated: 2,
        perRequestCreated: 16,
        serverOpen: 0,
        maxInFlightPerWorkbook: 1,
      });
      const budget = lines.find((l) => l['name'] === 'budget-wait');
      expect(budget).toMatchObject({ created: 8, serverOpen: 0 });
      expect(budget?.['maxOpen']).toBeLessThanOrEqual(3);
      // The fleet: one request at a time per workbook across the worker processes, every session
      // closed, and every session of the SIGKILLed worker closed by a survivor.
      if (names.includes('fleet-drain')) {
        expect(lines.find((l) => l['name'] === 'fleet-drain')).toMatchObject({
          failures: 0,
          serverOpen: 0,
          maxInFlightPerWorkbook: 1,
        });
        expect(lines.find((l) => l['name'] === 'fleet-kill-reap')).toMatchObject({ orphansLeft: 0 });
      }
    },
    120_000,
  );
});
