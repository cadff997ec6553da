export { SessionManager } from './session-manager.js';
export type {
  Logger,
  OpenOptions,
  SessionEventInfo,
  SessionEvents,
  SessionManagerOptions,
  SessionStats,
  ShutdownOptions,
} from './session-manager.js';
export { WorkbookSession } from './workbook-session.js';
export type { CallOptions, WorkbookRequest } from './workbook-session.js';
export type { RetryEvent } from './workbook-api.js';
export type { CloseReason, SessionState, ShutdownReport, ShutdownSessionOutcome } from './types.js';
export {
  GraphRequestError,
  ManagerShutDownError,
  SessionClosedError,
  SessionExpiredError,
  isGraphRequestError,
  isManagerShutDownError,
  isSessionClosedError,
  isSessionExpiredError,
} from './errors.js';
export type { GraphFailureKind } from './errors.js';
export { createBearerClient, createGraphClient, GRAPH_BASE_URL } from './graph-client.js';
export type { BearerClientOptions, CredentialClientOptions, TokenCredentialLike } from './graph-client.js';
export { SessionJournal } from './journal.js';
export type { JournalEntry } from './journal.js';
export type { RecoverOptions, RecoveryReport, RecoveredSession } from './recovery.js';
export { decideRetry, parseRetryAfter } from './retry.js';
export type { RetryDecision, RetryPolicy } from './retry.js';
export { shortId } from './ids.js';
export { isSessionFault, isSessionRecreatable, sessionFaultOf } from './session-faults.js';
export type { SessionFault } from './session-faults.js';
