import type { Logger } from './options.js';

export type Log = (level: keyof Logger, message: string, data?: Record<string, unknown>) => void;

/** The manager's one way to write a log line: prefixed, and never throwing (a logger that throws must not break it). */
export function logTo(logger: Logger | undefined): Log {
  return (level, message, data) => {
    try {
      logger?.[level]?.(`workbook-sessions: ${message}`, data);
    } catch {
      /* a logger that throws must not break the manager */
    }
  };
}
