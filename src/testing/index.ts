export { WorkbookService } from './service.js';
export { startEmulator } from './http-server.js';
export { SAMPLE_WORKBOOK_PATH, sampleWorkbook } from './sample-workbook.js';
export { DroppedConnectionError, isDroppedConnection } from './responses.js';
export type { EmulatorOptions, RunningEmulator } from './http-server.js';
export type {
  FaultKind,
  LatencyOptions,
  RandomFaultOptions,
  RouteName,
  WorkbookSeed,
  WorkbookServiceOptions,
} from './options.js';
export type { FaultSpec } from './faults.js';
export type { EmulatorStats } from './stats.js';
export type { AppliedWrite } from './write-log.js';
export type { HandleOptions, WorkbookActivity, WorkbookFile } from './service.js';
export type { EmulatorEvent, EmulatorEventType } from './events.js';
export type { SessionSnapshot, SessionState } from './session-registry.js';
