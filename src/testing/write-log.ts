import { createHash } from 'node:crypto';
import type { RouteName } from './options.js';

/** One distinct non-idempotent write the service applied, and how often. */
export interface AppliedWrite {
  readonly workbook: string;
  readonly route: RouteName;
  /** A hash of the route, its target and the request body: identical writes share it. */
  readonly key: string;
  /** How many times the service applied it. More than 1 means the same write reached the file twice. */
  readonly count: number;
  /** The `client-request-id` of each application, in order (empty strings where none was sent). */
  readonly clientRequestIds: readonly string[];
}

interface Entry {
  readonly workbook: string;
  readonly route: RouteName;
  readonly key: string;
  count: number;
  readonly clientRequestIds: string[];
}

/**
 * Non-idempotent writes (table rows add) that took effect, keyed by what they wrote. Two requests with
 * the same body on the same target count as one write applied twice, so a test that wants to prove
 * "every write reached the server at most once" gives each write a distinct body.
 */
export class WriteLog {
  // Every distinct write by key, in order of first application; cleared by reset().
  #byKey = new Map<string, Entry>();
  // Applications beyond the first, summed over keys; cleared by reset().
  repeated = 0;
  // All applications; cleared by reset().
  applied = 0;

  record(workbook: string, route: RouteName, target: string, body: string, clientRequestId: string | null): void {
    const key = createHash('sha256')
      .update(`${workbook}\n${route}\n${target}\n${canonicalBody(body)}`)
      .digest('hex')
      .slice(0, 16);
    let entry = this.#byKey.get(key);
    if (entry === undefined) {
      entry = { workbook, route, key, count: 0, clientRequestIds: [] };
      this.#byKey.set(key, entry);
    } else {
      this.repeated += 1;
    }
    entry.count += 1;
    entry.clientRequestIds.push(clientRequestId ?? '');
    this.applied += 1;
  }

  entries(): AppliedWrite[] {
    return [...this.#byKey.values()].map((e) => ({ ...e, clientRequestIds: [...e.clientRequestIds] }));
  }

  reset(): void {
    this.#byKey = new Map();
    this.repeated = 0;
    this.applied = 0;
  }
}

/** The same JSON spelled with other whitespace is the same write. */
function canonicalBody(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body));
  } catch {
    return body;
  }
}
