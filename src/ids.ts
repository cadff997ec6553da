/**
 * Shortens a session id for logs, events and reports: Graph's session ids are long opaque strings
 * that grant access to the session, so only a recognisable head and tail are shown.
 */
export function shortId(id: string): string {
  return id.length <= 12 ? id : `${id.slice(0, 6)}…${id.slice(-4)}`;
}
