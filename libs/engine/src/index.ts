export { EngineError, ENGINE_ERROR_CODES, isEngineError } from "./engine-error.ts";
export type { EngineErrorCode } from "./engine-error.ts";
export { openEngine, openSharedEngine } from "./open-engine.ts";
export { isSharedKv } from "./storage/ordered-kv.ts";
export type { KvEntry, KvIterator, KvOp, KvRange, LockedBatch, SharedKv } from "./storage/ordered-kv.ts";
export { BACKUP_CHUNK_BYTES, restoreStore } from "./backup.ts";
export type { RestoreOptions, RestoreReport, StoreBackup } from "./backup.ts";
export { gapTxnId, importEvents } from "./import-events.ts";
export type { ImportEvent, ImportOperation, ImportOptions, ImportProgress } from "./import-events.ts";
export { hasOriginalStore, openOriginalStore } from "./original-store.ts";
export type { OriginalRecord, OriginalStore } from "./original-store.ts";
export { FAILPOINT_NAMES, parseFailpoint } from "./failpoints.ts";
export { verifyStore } from "./verify-store.ts";
export type { VerifyFinding, VerifyOptions, VerifyPhase, VerifyProgress, VerifyReport } from "./verify-store.ts";
export type { FailpointName } from "./failpoints.ts";
export type {
  AgentEvent,
  AgentInfo,
  CatalogPageOptions,
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
  ListKeysPageOptions,
  NamespaceInfo,
  OperationInput,
  Page,
  PageOptions,
  Precondition,
  RecordRef,
  PurgeResult,
  RecoveryReport,
  RetentionInfo,
  RetentionPolicy,
  ReplayOptions,
  StateEntry,
  StateRecord,
  RocksLogLevel,
  RocksWriterMode,
  StorageMemory,
  StorageStatus,
  WatchOptions,
} from "./types.ts";
