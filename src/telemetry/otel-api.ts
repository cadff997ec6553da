import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';

/** The OpenTelemetry API, as the application installed it. */
export type OtelApi = typeof Api;

/** The name spans and metrics carry as their instrumentation scope. */
export const SCOPE = 'workbook-sessions';

// Loaded on first use and kept: `null` when the application does not have it. The API is an
// optional peer dependency, so a static import would stop the package from loading without it;
// `require` keeps the load synchronous (no top-level await, which `require()` of this package
// would refuse). A second copy of the API (the application's ESM build beside this CommonJS one)
// shares the providers it registers: the API keeps them on `globalThis`.
let loaded: OtelApi | null | undefined;
// This package's version, read with the API.
let version: string | undefined;

/** The OpenTelemetry API when it is installed, else `undefined`: then telemetry does nothing. */
export function otel(): OtelApi | undefined {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    try {
      loaded = require('@opentelemetry/api') as OtelApi;
    } catch {
      loaded = null;
      return undefined;
    }
    try {
      // Beside `dist/` and `src/` alike.
      version = (require('../../package.json') as { version?: string }).version;
    } catch {
      // A bundle without it: the scope goes without a version.
    }
  }
  return loaded ?? undefined;
}

/** This package's version, for the instrumentation scope; known once {@link otel} found the API. */
export function scopeVersion(): string | undefined {
  return version;
}
