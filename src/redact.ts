// Graph may echo request headers in an error message; these patterns keep bearer tokens, JWTs and
// Authorization values out of anything we build from server text.
const BEARER = /\bBearer\s+[^\s"',;]+/gi;
const JWT = /\beyJ[\w-]{2,}\.[\w-]{2,}\.[\w-]*/g;
const AUTH_HEADER = /("?authorization"?\s*[:=]\s*"?)[^"\r\n,}]*/gi;

/** Removes bearer tokens and Authorization values from text that came from a server. */
export function redactSecrets(text: string): string {
  return text.replace(AUTH_HEADER, '$1[redacted]').replace(BEARER, 'Bearer [redacted]').replace(JWT, '[redacted-jwt]');
}
