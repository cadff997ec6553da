import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The parts of `@microsoft/microsoft-graph-client` a test builds a client from. */
export interface GraphClientPackage {
  readonly Client: { initWithMiddleware(options: object): object };
  readonly RetryHandler: new (options?: object) => object;
  readonly RetryHandlerOptions: new (delay?: number, maxRetries?: number) => object;
  readonly RedirectHandler: new (options?: object) => object;
  readonly RedirectHandlerOptions: new (maxRedirects?: number) => object;
  readonly HTTPMessageHandler: new () => object;
}

export interface PackageCopy {
  readonly graph: GraphClientPackage;
  readonly dir: string;
  remove(): void;
}

/**
 * A second, separate copy of `@microsoft/microsoft-graph-client` (and what it requires) in a
 * temporary `node_modules`, as npm installs one when an application pins another version. Its
 * classes are not ours: `instanceof` and class-keyed lookups do not cross between the copies.
 */
export function installSecondCopy(): PackageCopy {
  const dir = mkdtempSync(join(tmpdir(), 'graph-client-copy-'));
  const from = join(process.cwd(), 'node_modules');
  for (const name of ['@microsoft/microsoft-graph-client', 'tslib', '@babel/runtime']) {
    cpSync(join(from, name), join(dir, 'node_modules', name), { recursive: true });
  }
  const load = createRequire(join(dir, 'index.cjs'));
  const graph = load('@microsoft/microsoft-graph-client') as GraphClientPackage;
  return { graph, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

interface Link {
  execute(context: unknown): Promise<void>;
}

/** A middleware that signs every request with a bearer token, linked the way the Graph client's own are. */
export function bearerMiddleware(token: string): object {
  class Bearer implements Link {
    nextMiddleware: Link | undefined;
    async execute(context: unknown): Promise<void> {
      const c = context as { options?: { headers?: Record<string, string> } };
      c.options ??= {};
      c.options.headers = { ...c.options.headers, Authorization: `Bearer ${token}` };
      await this.nextMiddleware?.execute(context);
    }
    setNext(next: Link): void {
      this.nextMiddleware = next;
    }
  }
  return new Bearer();
}
