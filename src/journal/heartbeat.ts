import { promises as fs } from 'node:fs';

/**
 * Touches `file` (sets its modification time to now) every `intervalMs` until the returned function
 * is called. Other processes read that time as "its holder was alive then": owner markers and the
 * lock file both keep theirs fresh this way. The timer is unref'd, so a heartbeat never holds the
 * process; a touch that fails (the file is gone) is ignored, the next one tries again.
 */
export function startHeartbeat(file: string, intervalMs: number): () => void {
  const timer = setInterval(() => {
    const now = new Date();
    fs.utimes(file, now, now).catch(() => undefined);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
