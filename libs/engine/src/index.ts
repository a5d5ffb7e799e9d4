export { EngineError, ENGINE_ERROR_CODES, isEngineError } from "./engine-error.js";
export type { EngineErrorCode } from "./engine-error.js";
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
