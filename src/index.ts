export { SessionManager } from './manager/session-manager.js';
export type {
  AcquireOptions,
  FleetOptions,
  Logger,
  OpenOptions,
  SessionEventInfo,
  SessionEvents,
  SessionManagerOptions,
  SessionStats,
  ShutdownOptions,
} from './manager/session-manager.js';
export { WorkbookSession } from './session/workbook-session.js';
export type { CallOptions, WorkbookRequest } from './session/workbook-session.js';
export type { RetryEvent } from './transport/graph-transport.js';
export type { CloseReason, SessionState, ShutdownReport, ShutdownSessionOutcome } from './types.js';
export {
  FleetUnavailableError,
  GraphRequestError,
  ManagerShutDownError,
  SessionBudgetTimeoutError,
  SessionClosedError,
  SessionExpiredError,
  isFleetUnavailableError,
  isGraphRequestError,
  isManagerShutDownError,
  isSessionBudgetTimeoutError,
  isSessionClosedError,
  isSessionExpiredError,
} from './errors.js';
export type { GraphFailureKind } from './errors.js';
export { createBearerClient, createGraphClient, GRAPH_BASE_URL } from './transport/graph-client.js';
export type { BearerClientOptions, CredentialClientOptions, TokenCredentialLike } from './transport/graph-client.js';
export { SessionJournal } from './journal/journal.js';
export type { JournalEntry, SessionStore } from './journal/session-store.js';
export { RedisSessionStore, type RedisSessionStoreOptions } from './journal/redis-store.js';
export type { RecoverOptions, RecoveryReport, RecoveredSession } from './journal/recovery.js';
export { decideRetry, parseRetryAfter } from './transport/retry.js';
export type { RetryDecision, RetryPolicy } from './transport/retry.js';
export { shortId } from './util/ids.js';
export { isSessionFault, isSessionRecreatable, sessionFaultOf } from './session/faults.js';
export type { SessionFault } from './session/faults.js';
