export { EngineError, ENGINE_ERROR_CODES, isEngineError } from "./engine-error.js";
export type { EngineErrorCode } from "./engine-error.js";
export { openEngine } from "./open-engine.js";
export { FAILPOINT_NAMES } from "./failpoints.js";
export type { FailpointName } from "./failpoints.js";
export type {
  AgentEvent,
  CommitOptions,
  CommitResult,
  Engine,
  EngineLogger,
  EngineObserver,
  EngineOptions,
  EngineStats,
  EventOperation,
  JsonObject,
  JsonValue,
  OperationInput,
  Precondition,
  RecordRef,
  RecoveryReport,
  ReplayOptions,
  StateEntry,
  StateRecord,
  WatchOptions,
} from "./types.js";
